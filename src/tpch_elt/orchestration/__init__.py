"""What the Airflow DAG needs that is not wiring: names, the manifest's graph, task hooks, task bodies.

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
