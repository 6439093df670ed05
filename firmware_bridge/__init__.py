"""Tianshan."""
