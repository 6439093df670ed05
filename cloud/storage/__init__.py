"""Storage: SQL records (SQLAlchemy) and time series (InfluxDB)."""
