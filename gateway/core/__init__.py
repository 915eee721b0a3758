"""Runtime types shared by every gateway layer."""
