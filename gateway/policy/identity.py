"""The pure policy engine: decisions as data over frozen inputs, no I/O.

Identity decisions live here; create/join/token/guard/retention decisions
are added beside them as further pure functions over the same frozen policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from gateway.policy.domains import domain_allowed, email_domain
from gateway.policy.model import IdentityProvider, Policy, Role

RefusalReason = Literal[
    "issuer_not_allowed",
    "no_email",
    "email_invalid",
    "email_not_verified",
    "consumer_domain",
    "domain_not_allowed",
    "tenant_not_allowed",
    "no_subject",
]

REFUSAL_REASONS: tuple[RefusalReason, ...] = get_args(RefusalReason)

_ROLE_ORDER: tuple[Role, ...] = ("teacher", "staff", "pupil")

# Who may moderate a meeting on either platform; pupils and guests never do (G2).
MODERATOR_ROLES: frozenset[Role] = frozenset({"teacher", "staff"})


@dataclass(frozen=True, slots=True)
class Identity:
    """A school account: (iss, sub) is the identity (OIDC Core; never the e-mail)."""

    issuer: str
    subject: str
    idp: str
    role: Role
    email: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class AccountDecision:
    allowed: bool
    reason: RefusalReason | None = None
    identity: Identity | None = None


def _refuse(reason: RefusalReason) -> AccountDecision:
    return AccountDecision(allowed=False, reason=reason)


def _claim_values(claims: Mapping[str, Any], name: str) -> set[str]:
    value = claims.get(name)
    if isinstance(value, str):
        return {value.lower()}
    if isinstance(value, list | tuple):
        return {v.lower() for v in value if isinstance(v, str)}
    return set()


def decide_role(idp: IdentityProvider, claims: Mapping[str, Any]) -> Role:
    """Role from the configured claims; least privilege when nothing matches.

    When several roles match, the teacher/staff mapping must be explicit in the
    IdP's claims; a pupil never gains a role the mapping does not grant.
    """
    values: set[str] = set()
    for claim in idp.role_claims:
        values |= _claim_values(claims, claim)
    mapping: dict[Role, tuple[str, ...]] = {
        "teacher": idp.roles.teacher, "staff": idp.roles.staff, "pupil": idp.roles.pupil,
    }
    matched = [r for r in _ROLE_ORDER if values & {m.lower() for m in mapping[r]}]
    if "pupil" in matched:
        # A pupil marker wins over anything else: least privilege (G2).
        return "pupil"
    return matched[0] if matched else idp.default_role


def decide_account(policy: Policy, idp: IdentityProvider,
                   claims: Mapping[str, Any]) -> AccountDecision:
    """Is this validated ID token a school account, and in which role (G1, G2)?"""
    if claims.get("iss") != idp.issuer:
        return _refuse("issuer_not_allowed")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return _refuse("no_subject")
    if idp.tenant_claim and idp.allowed_tenants:
        tenant = claims.get(idp.tenant_claim)
        if not isinstance(tenant, str) or tenant.lower() not in {
            t.lower() for t in idp.allowed_tenants
        }:
            return _refuse("tenant_not_allowed")
    email_claim = claims.get("email")
    email_decision = _decide_email(policy, idp, claims, email_claim)
    if email_decision is not None:
        return email_decision
    name = claims.get("name")
    identity = Identity(
        issuer=idp.issuer,
        subject=subject,
        idp=idp.name,
        role=decide_role(idp, claims),
        email=email_claim.lower() if isinstance(email_claim, str) else None,
        name=name if isinstance(name, str) else None,
    )
    return AccountDecision(allowed=True, identity=identity)


def _decide_email(policy: Policy, idp: IdentityProvider, claims: Mapping[str, Any],
                  email_claim: object) -> AccountDecision | None:
    if email_claim is None:
        # A tenant-only rule may admit accounts without e-mail; a domain rule may not.
        return _refuse("no_email") if idp.allowed_email_domains else None
    domain = email_domain(email_claim)
    if domain is None:
        return _refuse("email_invalid")
    if not idp.email_authoritative and claims.get("email_verified") is not True:
        return _refuse("email_not_verified")
    if domain_allowed(domain, policy.identity.consumer_domains):
        return _refuse("consumer_domain")  # G1: even when the IdP vouches for it
    if idp.allowed_email_domains and not domain_allowed(domain, idp.allowed_email_domains):
        return _refuse("domain_not_allowed")
    return None
