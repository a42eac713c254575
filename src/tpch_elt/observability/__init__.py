"""Observability: every dbt run recorded, measured, checked for anomalies, alerted on."""
