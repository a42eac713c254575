"""Transform: dbt, run one way (the runner), planned and built, and documented."""
