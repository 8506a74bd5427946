"""`privacy-gateway report`: the processing description for a DPIA (G22),
generated from the active policy, in Markdown, in the third person.

Built as sections (a heading and its lines), each from one small function, so
a rule added to the policy adds a line to the section it belongs to (a meeting
type's rules are in `meeting_type_rules`). Every number carries its unit.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.policy.model import MEETING_TYPES, Policy
from gateway.policy.notice import build_notice
from gateway.policy.report_texts import TEXTS

Section = tuple[str, list[str]]


def transcribable(policy: Policy, meeting_type: str) -> bool:
    """The same condition the platforms enforce (G15): opt-in mode and a type that allows it."""
    return (policy.transcription.mode == "opt_in"
            and policy.meeting_types[meeting_type].transcription_allowed)  # type: ignore[index]


def _items(text: str, **values: object) -> list[str]:
    return [f"- {item}" for item in text.format(**values).split("|")]


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}"


def scope(policy: Policy, t: dict[str, str]) -> Section:
    notice = build_notice(policy, "en")
    return t["scope_head"], [t["scope"].format(
        school=policy.gateway.school_name,
        platforms=", ".join(notice.platforms) or t["no_platform"],
        version=policy.gateway.policy_version)]


def data_categories(policy: Policy, t: dict[str, str]) -> Section:
    return t["data_head"], _items(t["data"], hours=_hours(policy.gateway.session_ttl_seconds))


def purposes(policy: Policy, t: dict[str, str]) -> Section:
    columns = t["columns"].split("|")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for name, p in policy.purposes.items():
        lines.append(f"| {name} | {p.retention_days} {t['days']} | "
                     f"{t['yes'] if p.pupils_visible else t['no']} | {', '.join(p.may_start)} "
                     f"| {t['yes'] if p.distribute else t['no']} "
                     f"| {', '.join(getattr(policy.playback.watch, name))} |")
    lines += ["", t["undeclared"].format(days=policy.retention.undeclared_retention_days),
              "", t["watch_note"]]
    return t["purposes_head"], lines


def meeting_type_rules(policy: Policy, name: str, t: dict[str, str]) -> list[str]:
    """The rules of one meeting type, in the order shown; a new rule is one more item."""
    mt = policy.meeting_types[name]  # type: ignore[index]
    return [t["recording_allowed"] if mt.recording_allowed else t["recording_never"],
            t["transcription_optin"] if transcribable(policy, name)
            else t["transcription_never"],
            f"{t['default_purpose']} {mt.default_purpose or t['no_default']}"]


def meeting_types(policy: Policy, t: dict[str, str]) -> Section:
    return t["types_head"], [f"- {name}: {', '.join(meeting_type_rules(policy, name, t))}"
                             for name in MEETING_TYPES]


def objections(policy: Policy, t: dict[str, str]) -> Section:
    return t["objections_head"], _items(
        t["objections"], officers=len(policy.retention.privacy_officer_emails))


def deletion(policy: Policy, t: dict[str, str]) -> Section:
    retention = policy.retention
    return t["deletion_head"], _items(
        t["deletion"], interval=retention.sweep_interval_seconds,
        interval_min=f"{retention.sweep_interval_seconds / 60:g}",
        grace=retention.failure_grace_seconds, grace_h=_hours(retention.failure_grace_seconds))


def audit(policy: Policy, t: dict[str, str]) -> Section:
    return t["audit_head"], _items(t["audit"], days=policy.retention.audit_retention_days)


def transcription(policy: Policy, t: dict[str, str]) -> Section:
    return t["transcription_head"], [t[f"transcription_{policy.transcription.mode}"]]


def sessions(policy: Policy, t: dict[str, str]) -> Section:
    return t["sessions_head"], [t["sessions"].format(
        hours=_hours(policy.gateway.session_ttl_seconds))]


def basis_and_recipients(policy: Policy, t: dict[str, str], lang: str) -> list[Section]:
    notice = build_notice(policy, lang)
    return [(t["basis_head"], [notice.legal_basis]),
            (t["recipients_head"], [notice.recipients])]


SECTIONS: tuple[Callable[[Policy, dict[str, str]], Section], ...] = (
    scope, data_categories, purposes, meeting_types, objections, deletion, audit,
    transcription, sessions)


def render_report(policy: Policy, lang: str | None = None) -> str:
    """The description in `lang`, or the policy's default language."""
    lang = lang if lang in ("nl", "en") else policy.gateway.default_language
    t = TEXTS[lang]
    notice = build_notice(policy, lang)
    lines = [f"# {t['title']}: {policy.gateway.school_name} "
             f"(policy {policy.gateway.policy_version})", "",
             f"- {t['controller']}: {notice.controller}", f"- {t['contact']}: {notice.contact}"]
    sections = [section(policy, t) for section in SECTIONS]
    # What a recording needs per meeting type (purpose required, G11), in `lang`.
    types_index = SECTIONS.index(meeting_types)
    heading, body = sections[types_index]
    sections[types_index] = (heading, [*body, *[f"- {rule}" for rule in notice.recording_rules]])
    sections += basis_and_recipients(policy, t, lang)
    sections.append((t["safeguards_head"], _items(t["safeguards"])))
    for heading, body in sections:
        lines += ["", f"## {heading}", "", *body]
    return "\n".join(lines) + "\n"
