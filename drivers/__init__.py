"""Field protocol drivers: a leaf library that imports nothing of the gateway."""
