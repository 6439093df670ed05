"""Alerts: the engine, the site map, live push, notifications."""
