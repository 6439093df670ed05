"""Tianshan: the command line, the local demo, and launchers for the real servers."""
