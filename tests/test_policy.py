"""Account rules as tables (G1, G2; style_security.md B.1a e-mail tricks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.policy.domains import domain_allowed, email_domain
from gateway.policy.identity import decide_account, decide_role
from gateway.policy.model import IdentityProvider, Policy
from tests.support import make_settings

ISSUER = "https://idp.school.example"


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return make_settings(tmp_path).policy


def idp(**changes: Any) -> IdentityProvider:
    base: dict[str, Any] = {
        "name": "school", "issuer": ISSUER, "client_id": "gw",
        "allowed_email_domains": ("school.nl", ".leerling.school.nl"),
        "roles": {"teacher": ("teachers",), "pupil": ("pupils", "student"),
                  "staff": ("staff",)}}
    base.update(changes)
    return IdentityProvider.model_validate(base)


def claims(email: object = "a@school.nl", **extra: Any) -> dict[str, Any]:
    return {"iss": ISSUER, "sub": "s-1", "email": email, "email_verified": True, **extra}


EMAILS: list[tuple[str, object, str | None]] = [
    ("plain", "a@school.nl", None),
    ("uppercase-domain", "a@SCHOOL.NL", None),                    # zulip#23234
    ("dot-entry-is-subdomains-only", "p@leerling.school.nl", "domain_not_allowed"),
    ("listed-subdomain", "p@x.leerling.school.nl", None),
    ("two-at-signs", "attacker@evil.com@school.nl", "email_invalid"),
    ("suffix-not-equality", "foo@evilschool.nl", "domain_not_allowed"),
    ("extra-prefix", "x@evilhackleerling.school.nl", "domain_not_allowed"),
    ("unlisted-subdomain", "a@sub.school.nl", "domain_not_allowed"),
    ("domain-as-prefix", "user@school.nl.evil.com", "domain_not_allowed"),
    ("cyrillic-lookalike", "a@sch\u043e\u043el.nl", "domain_not_allowed"),
    ("fullwidth", "a@ｓｃｈｏｏｌ.nl", None),                     # NFKC folds to school.nl
    ("punycode-lookalike", "a@xn--schl-9wea.nl", "domain_not_allowed"),
    ("trailing-dot", "a@school.nl.", "email_invalid"),
    ("whitespace", "a@school.nl ", "email_invalid"),
    ("inner-whitespace", "a b@school.nl", "email_invalid"),
    ("quoted-local-with-at", '"a@evil.com"@school.nl', "email_invalid"),
    ("no-local-part", "@school.nl", "email_invalid"),
    ("not-a-string", ["a@school.nl"], "email_invalid"),
    ("consumer-gmail", "lotte@gmail.com", "consumer_domain"),
    ("consumer-uppercase", "lotte@GMAIL.COM", "consumer_domain"),
    ("consumer-hotmail-nl", "lotte@hotmail.nl", "consumer_domain"),
]


@pytest.mark.parametrize(("case", "email", "reason"), EMAILS, ids=[e[0] for e in EMAILS])
def test_email_rules(policy: Policy, case: str, email: object, reason: str | None) -> None:
    decision = decide_account(policy, idp(), claims(email))
    assert decision.reason == reason
    assert decision.allowed is (reason is None)


def test_consumer_domain_refused_even_if_listed_by_the_idp(policy: Policy) -> None:
    """G1: a consumer domain stays refused even when an admin lists it."""
    decision = decide_account(policy, idp(allowed_email_domains=("gmail.com",)),
                              claims("x@gmail.com"))
    assert decision.reason == "consumer_domain"


@pytest.mark.parametrize(("verified", "authoritative", "reason"), [
    (True, False, None), (False, False, "email_not_verified"),
    (None, False, "email_not_verified"), ("true", False, "email_not_verified"),
    (False, True, None), (None, True, None),
])
def test_email_verified_required_unless_authoritative(policy: Policy, verified: object,
                                                      authoritative: bool,
                                                      reason: str | None) -> None:
    c = claims()
    c["email_verified"] = verified
    decision = decide_account(policy, idp(email_authoritative=authoritative), c)
    assert decision.reason == reason


@pytest.mark.parametrize(("tid", "reason"), [
    ("tenant-a", None), ("TENANT-A", None), ("tenant-b", "tenant_not_allowed"),
    (None, "tenant_not_allowed"), (["tenant-a"], "tenant_not_allowed"),
])
def test_tenant_rule(policy: Policy, tid: object, reason: str | None) -> None:
    provider = idp(tenant_claim="tid", allowed_tenants=("tenant-a",))
    decision = decide_account(policy, provider, claims(tid=tid))
    assert decision.reason == reason


def test_tenant_only_rule_admits_accounts_without_email(policy: Policy) -> None:
    provider = idp(allowed_email_domains=(), tenant_claim="tid", allowed_tenants=("t",))
    decision = decide_account(policy, provider, claims(email=None, tid="t"))
    assert decision.allowed


@pytest.mark.parametrize(("claim_values", "role"), [
    ({"groups": ["teachers"]}, "teacher"),
    ({"roles": ["Staff"]}, "staff"),
    ({"eduPersonAffiliation": "student"}, "pupil"),
    ({"groups": ["teachers", "pupils"]}, "pupil"),   # least privilege wins
    ({"groups": ["admins"]}, "pupil"),                # nothing matches: default
    ({"groups": "teachers"}, "teacher"),
    ({"groups": [1, None]}, "pupil"),
    ({}, "pupil"),
])
def test_role_from_claims_least_privilege(claim_values: dict[str, Any], role: str) -> None:
    assert decide_role(idp(), claim_values) == role


def test_identity_is_issuer_and_subject(policy: Policy) -> None:
    decision = decide_account(policy, idp(), claims(groups=["teachers"], name="T"))
    assert decision.identity is not None
    assert (decision.identity.issuer, decision.identity.subject) == (ISSUER, "s-1")
    assert decision.identity.role == "teacher"


@pytest.mark.parametrize(("changed", "reason"), [
    ({"iss": "https://other.example"}, "issuer_not_allowed"),
    ({"sub": ""}, "no_subject"), ({"sub": None}, "no_subject"),
    ({"email": None}, "no_email"),
])
def test_other_refusals(policy: Policy, changed: dict[str, Any], reason: str) -> None:
    assert decide_account(policy, idp(), {**claims(), **changed}).reason == reason


def test_domain_helpers() -> None:
    assert email_domain("A@Example.ORG") == "example.org"
    assert domain_allowed("a.b.example.org", (".example.org",))
    assert not domain_allowed("example.org", (".example.org",))
