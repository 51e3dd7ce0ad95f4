"""Storage layer: the DuckDB database, its migrations and the step-DAG writer."""
