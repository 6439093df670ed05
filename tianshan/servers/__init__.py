"""Real servers the project starts itself: Mosquitto, influxd, PostgreSQL."""
