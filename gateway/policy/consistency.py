"""Checks across keys: each value may be fine alone and wrong with another.

Every message names both keys and says what to change, so `check-config` and
`serve` stop with one plain line instead of failing later (a dev IdP issuer that
does not match `public_url` used to surface as a traceback at start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.policy.model import Policy

DEV_IDP_PATH = "/dev-idp"  # gateway.devidp.PREFIX; not imported: devidp pulls in the web stack


def check_consistency(policy: Policy) -> None:
    """Raise ValueError naming both keys of the first inconsistency found."""
    for check in (_dev_idp_issuer, _officer_can_log_in, _default_purpose_startable,
                  _approval_audience, _unique_blocks):
        problem = check(policy)
        if problem:
            raise ValueError(problem)


def _dev_idp_issuer(policy: Policy) -> str | None:
    if not policy.dev_idp.enabled:
        return None
    expected = policy.gateway.public_url + DEV_IDP_PATH
    if any(p.issuer.rstrip("/") == expected for p in policy.identity.providers):
        return None
    found = ", ".join(f"identity.providers[{i}].issuer is {p.issuer!r}"
                      for i, p in enumerate(policy.identity.providers)) or "no provider is listed"
    return (f"dev_idp.enabled = true needs an identity provider whose issuer is "
            f"gateway.public_url + {DEV_IDP_PATH!r} = {expected!r}, but {found}: change "
            "gateway.public_url or the provider's issuer so they match")


def _officer_can_log_in(policy: Policy) -> str | None:
    """An officer address no provider admits can never reach the officer pages (G12)."""
    providers = policy.identity.providers
    if not providers or any(p.allowed_tenants for p in providers):
        return None  # a tenant rule admits by tenant, whatever the address says
    for email in policy.retention.privacy_officer_emails:
        domain = email.rpartition("@")[2]
        if domain in policy.identity.consumer_domains:
            return (f"retention.privacy_officer_emails: {email} is a private mail address "
                    "(identity.consumer_domains), which never logs in (G1)")
        if not any(_domain_allowed(domain, p.allowed_email_domains) for p in providers):
            return (f"retention.privacy_officer_emails: {email} is not admitted by any "
                    "identity.providers[*].allowed_email_domains, so the officer cannot log "
                    "in: add its domain there or use a school address")
    return None


def _domain_allowed(domain: str, allowed: tuple[str, ...]) -> bool:
    return any(domain == rule or (rule.startswith(".") and domain.endswith(rule))
               for rule in allowed)


def _default_purpose_startable(policy: Policy) -> str | None:
    """A default purpose nobody who may record may start stops every recording (G11)."""
    for name, mtype in policy.meeting_types.items():
        purpose = mtype.default_purpose
        if not mtype.recording_allowed or not mtype.record_roles or purpose is None:
            continue
        if not set(mtype.record_roles) & set(policy.purposes[purpose].may_start):
            return (f"meeting_types.{name}.default_purpose is {purpose!r}, but none of "
                    f"meeting_types.{name}.record_roles ({', '.join(mtype.record_roles)}) is "
                    f"in purposes.{purpose}.may_start: add a role to one of them or choose "
                    "another default purpose")
    return None


def _approval_audience(policy: Policy) -> str | None:
    for name, purpose in policy.purposes.items():
        audience = getattr(policy.playback.watch, name)
        if "approval" in audience and not purpose.needs_approval_reference:
            return (f"playback.watch.{name} includes 'approval', but "
                    f"purposes.{name}.needs_approval_reference is false: there is no approval "
                    "to follow; name the audience (moderators, officer) instead")
    return None


def _unique_blocks(policy: Policy) -> str | None:
    """Two blocks with one name: meetings would be pinned or secrets looked up by either."""
    for section, names in (("bbb.servers", [s.name for s in policy.bbb.servers]),
                           ("bbb.frontends", [f.name for f in policy.bbb.frontends]),
                           ("jitsi.room_rules", [r.prefix for r in policy.jitsi.room_rules])):
        for i, name in enumerate(names):
            if name in names[:i]:
                first = names.index(name)
                key = "prefix" if section == "jitsi.room_rules" else "name"
                return (f"{section}[{first}].{key} and {section}[{i}].{key} are both "
                        f"{name!r}: give each block its own {key}")
    return None
