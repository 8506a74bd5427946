"""`privacy-gateway report`: the processing description for a DPIA (G22),
generated from the active policy, in Markdown."""

from __future__ import annotations

from gateway.notice import build_notice
from gateway.settings import MEETING_TYPES, Policy

_HEAD = {
    "en": ("Processing description", "Controller", "Contact", "Platforms", "Data categories",
           "Purposes and retention", "Purpose", "Retention (days)", "Pupils seen/heard",
           "May start", "Undeclared recordings", "Legal basis", "Recipients", "Safeguards",
           "Meeting types", "Transcription", "Sessions", "Audit log",
           "Shown after the meeting (G14)", "Who may watch it (G14)"),
    "nl": ("Beschrijving van de verwerking", "Verwerkingsverantwoordelijke", "Contact",
           "Platforms", "Categorieën persoonsgegevens", "Doelen en bewaartermijnen", "Doel",
           "Bewaartermijn (dagen)", "Leerlingen in beeld/geluid", "Mag starten",
           "Opnames zonder doel", "Grondslag", "Ontvangers", "Waarborgen", "Soorten bijeenkomst",
           "Transcriptie", "Sessies", "Auditlog", "Na afloop te bekijken (G14)",
           "Wie mag kijken (G14)"),
}


_WATCH_NOTE = {
    "en": "school = any school account given a link; moderators = the teachers who "
          "moderated that meeting; officer = the privacy officer; approval = as the officer's "
          "approval says. A held or objected recording: the officer only. Watching is counted "
          "per purpose, never per person; grants of feedback and exam evidence are audited "
          "with pseudonyms (G20).",
    "nl": "school = elk schoolaccount met een link; moderators = de leraren die de "
          "bijeenkomst leidden; officer = de privacy-officer; approval = zoals de goedkeuring "
          "van de officer zegt. Een vastgehouden opname of een opname met bezwaar: alleen de "
          "officer. Kijken wordt per doel geteld, nooit per persoon; toegang tot feedback- en "
          "examenopnames staat met pseudoniemen in het auditlog (G20).",
}


def transcribable(policy: Policy, meeting_type: str) -> bool:
    """The same condition the platforms enforce (G15): opt-in mode and a type that allows it."""
    return (policy.transcription.mode == "opt_in"
            and policy.meeting_types[meeting_type].transcription_allowed)  # type: ignore[index]


def render_report(policy: Policy, lang: str) -> str:
    h = _HEAD["nl" if lang == "nl" else "en"]
    notice = build_notice(policy, lang)
    lines = [
        f"# {h[0]} — {policy.gateway.school_name} (policy {policy.gateway.policy_version})", "",
        f"- {h[1]}: {notice.controller}", f"- {h[2]}: {notice.contact}",
        f"- {h[3]}: {', '.join(notice.platforms) or '-'}", "", f"## {h[4]}", "",
        *[f"- {item}" for item in notice.data_categories], "", f"## {h[5]}", "",
        f"| {h[6]} | {h[7]} | {h[8]} | {h[9]} | {h[18]} | {h[19]} |",
        "|---|---|---|---|---|---|",
    ]
    for p in notice.purposes:
        lines.append(f"| {p.purpose} | {p.retention_days} | {'yes' if p.pupils_visible else 'no'}"
                     f" | {', '.join(p.who_may_start)} | {'yes' if p.distributed else 'no'}"
                     f" | {', '.join(p.watch)} |")
    lines += ["", f"- {h[10]}: {notice.undeclared_retention_days}", "",
              f"## {h[11]}", "", notice.legal_basis, "", f"## {h[12]}", "", notice.recipients,
              "", f"## {h[14]}", ""]
    for name in MEETING_TYPES:
        mt = policy.meeting_types[name]
        lines.append(f"- {name}: recording {'allowed' if mt.recording_allowed else 'never'}, "
                     f"transcription {'opt-in' if transcribable(policy, name) else 'never'}, "
                     f"default purpose {mt.default_purpose or '-'}")
    lines += ["", f"## {h[15]}", "", notice.transcription, "", f"## {h[16]}", "",
              f"- {notice.session_hours:g} h", f"- {h[17]}: {notice.audit_retention_days} d", "",
              f"## {h[13]}", "", *[f"- {item}" for item in notice.safeguards], "",
              f"- {h[19]}: {_WATCH_NOTE['nl' if lang == 'nl' else 'en']}"]
    return "\n".join(lines)
