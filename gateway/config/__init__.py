"""Loading the policy file: TOML, environment variables and secret files."""
