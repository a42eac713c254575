"""What the Airflow DAGs need that is not wiring: names, the pipelines, the manifest's graph, task hooks, task bodies.

Importable without Airflow (only the DAG file imports Airflow and Cosmos),
so every decision here is unit-tested. This module itself imports nothing:
`airflow/stack.py` reads the names below with the system Python too.
"""

DAG_ID = "dbt_pipeline"
# One slot: DuckDB allows one writing process (the `prod` target).
WAREHOUSE_POOL = "duckdb_warehouse"
PLAN_TASK_ID = "plan_build"
# The XCom key the plan task keeps the build plan under (its return value
# is the branch it chose).
PLAN_XCOM_KEY = "plan"
# An incremental run's one dbt task: the CLI's incremental `dbt build`.
INCREMENT_TASK_ID = "increment"
# The first task of the per-model path (full refresh, the daily sweep).
SWEEP_TASK_ID = "source_tests"
FRESHNESS_TASK_ID = "source_freshness"
# The manually triggered DAG that promotes an environment to prod once a
# person approved its diff (airflow/dags/promote_environment.py).
PROMOTE_DAG_ID = "promote_environment"
# The reference_reload pipeline's first task (airflow/pipelines.yml: reload).
RELOAD_TASK_ID = "reload"
# The asset an arrival batch's landing is announced on (REST API, `python
# airflow/stack.py batch-landed`); pipelines list it under `assets:`.
BATCH_LANDED_ASSET = "tpch_elt_batch_landed"
