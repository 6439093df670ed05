"""Ingest: MQTT → validation → InfluxDB and SQL → acknowledgement."""
