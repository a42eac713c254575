"""What the test tiers share: the real CLI, builds made once per run, Airflow and browser helpers."""
