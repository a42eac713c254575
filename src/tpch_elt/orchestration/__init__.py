"""What the Airflow DAG needs that is not wiring: names, the manifest's graph, task hooks, task bodies.

Importable without Airflow (only the DAG file imports Airflow and Cosmos),
so every decision here is unit-tested. This module itself imports nothing:
`airflow/stack.py` reads the names below with the system Python too.
"""

DAG_ID = "dbt_pipeline"
# One slot: DuckDB allows one writing process (the `dev` target).
WAREHOUSE_POOL = "duckdb_warehouse"
PLAN_TASK_ID = "plan_build"
