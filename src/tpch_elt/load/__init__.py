"""Load into `raw`: schema checks, data rules and quarantine, the full load, batch ingestion, Snowflake."""
