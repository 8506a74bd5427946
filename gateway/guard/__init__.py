"""The platform-neutral side of the recording guard (G8-G13); the rules are in
gateway.policy.guard, the platform halves in the adapters."""
