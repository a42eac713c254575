"""tpch-elt: a reference ELT pipeline on TPC-H (Python E/L, dbt T, Airflow)."""

__version__ = "0.1.0"
