"""E-mail domain checks for the account rules (G1; style_security.md B.1a).

The decision rests on the domain after the single `@`, normalised (NFKC,
lowercase, IDNA) and compared for exact equality with the configured list.
Subdomains match only where the list says `.domain` or `*.domain`.
"""

from __future__ import annotations

import unicodedata

import idna

_MAX_EMAIL = 254


def normalise_domain(domain: str) -> str | None:
    """The ASCII (IDNA) lowercase form of a domain, or None when it is not one."""
    if not domain or domain != domain.strip() or domain.endswith("."):
        return None
    folded = unicodedata.normalize("NFKC", domain).lower()
    try:
        ascii_form = idna.encode(folded, uts46=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    if "." not in ascii_form or len(ascii_form) > 253:
        return None
    return ascii_form


def email_domain(email: object) -> str | None:
    """The normalised domain of an address with exactly one `@`, else None."""
    if not isinstance(email, str) or len(email) > _MAX_EMAIL:
        return None
    if email.count("@") != 1 or any(c.isspace() for c in email) or '"' in email:
        return None
    local, domain = email.split("@")
    if not local:
        return None
    return normalise_domain(domain)


def domain_allowed(domain: str, allowed: tuple[str, ...]) -> bool:
    """Exact match; `.school.nl` entries also admit subdomains of school.nl."""
    for entry in allowed:
        if entry.startswith("."):
            if domain.endswith(entry):
                return True
        elif domain == entry:
            return True
    return False
