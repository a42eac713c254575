"""The DuckDB warehouse: connections and transactions, the writer lock, SQL quoting, durable writes."""
