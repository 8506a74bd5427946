"""The audit log (G20, G22): the store's stream (log.py) and the durable journal."""
