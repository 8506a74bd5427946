"""School-account login (G1, G2): OIDC, ID tokens, JWKS, sessions, the development IdP."""
