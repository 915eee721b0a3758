"""The command line's helpers (`uvelka demo`, `simulate`, `healthcheck`); the entry point
itself is `gateway/__main__.py`."""
