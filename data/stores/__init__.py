"""Stores of load and weather time series: the Parquet lake (embedded default) and PostgreSQL."""
