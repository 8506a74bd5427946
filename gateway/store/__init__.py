"""The state store: the interface and memory store (base.py), Redis (redis_store.py),
and the aggregates that document their own key layout (registry.py, ...)."""
