"""Meeting privacy gateway for schools: the service, policy engine and CLI."""
