"""The human names of purposes, meeting types, platforms and recording states, in both
languages (G18).

The policy names them by id (`lecture`, `confidential`); people read these names
instead, on every page, in the privacy notice and in the report. One table, so
the same purpose is never called two things in two places.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.policy.basics import MEETING_TYPES, PURPOSES

PURPOSE_NAMES: Mapping[str, Mapping[str, str]] = {
    "lecture": {"nl": "Uitleg om later terug te kijken", "en": "Lesson to watch later"},
    "feedback": {"nl": "Feedback in de les", "en": "Feedback in the lesson"},
    "exam_evidence": {"nl": "Bewijs bij een examen", "en": "Exam evidence"},
    "approved_exception": {"nl": "Uitzondering, goedgekeurd door de privacy-officer",
                           "en": "Exception approved by the privacy officer"},
}

MEETING_TYPE_NAMES: Mapping[str, Mapping[str, str]] = {
    "lesson": {"nl": "Les", "en": "Lesson"},
    "meeting": {"nl": "Overleg (personeel)", "en": "Staff meeting"},
    "confidential": {"nl": "Vertrouwelijk gesprek", "en": "Confidential talk"},
}

# The platforms by the name people know them by (ids: gateway.metrics.PLATFORMS).
PLATFORM_NAMES: Mapping[str, Mapping[str, str]] = {
    "bbb": {"nl": "BigBlueButton", "en": "BigBlueButton"},
    "jitsi": {"nl": "Jitsi", "en": "Jitsi"},
}

# Where a recording stands (gateway.policy.retention.RecordingState), and the purpose
# of a recording that declared none ("undeclared" in the registry and the metrics).
RECORDING_STATE_NAMES: Mapping[str, Mapping[str, str]] = {
    "retained": {"nl": "Bewaard", "en": "Kept"},
    "held": {"nl": "Vastgezet", "en": "On hold"},
    "due": {"nl": "Te wissen", "en": "Due for deletion"},
}
UNDECLARED_NAME: Mapping[str, str] = {"nl": "Geen doel opgegeven", "en": "No purpose declared"}

assert set(PURPOSE_NAMES) == set(PURPOSES) and set(MEETING_TYPE_NAMES) == set(MEETING_TYPES)


def _lang(lang: str) -> str:
    return "nl" if lang == "nl" else "en"


def purpose_name(purpose: str, lang: str) -> str:
    names = PURPOSE_NAMES.get(purpose) or (UNDECLARED_NAME if purpose == "undeclared" else None)
    return names[_lang(lang)] if names else purpose


def platform_name(platform: str, lang: str) -> str:
    names = PLATFORM_NAMES.get(platform)
    return names[_lang(lang)] if names else platform


def recording_state_name(state: str, lang: str) -> str:
    names = RECORDING_STATE_NAMES.get(state)
    return names[_lang(lang)] if names else state


def meeting_type_name(meeting_type: str, lang: str) -> str:
    names = MEETING_TYPE_NAMES.get(meeting_type)
    return names[_lang(lang)] if names else meeting_type


def catalog() -> dict[str, dict[str, str]]:
    """The names as page texts: `purpose.<id>`, `meeting_type.<id>`, `platform.<id>`
    and `recording_state.<id>`."""
    out = {f"purpose.{k}": dict(v) for k, v in PURPOSE_NAMES.items()}
    out["purpose.none"] = {"nl": "geen", "en": "none"}
    out["purpose.undeclared"] = dict(UNDECLARED_NAME)
    out.update({f"meeting_type.{k}": dict(v) for k, v in MEETING_TYPE_NAMES.items()})
    out.update({f"platform.{k}": dict(v) for k, v in PLATFORM_NAMES.items()})
    out.update({f"recording_state.{k}": dict(v) for k, v in RECORDING_STATE_NAMES.items()})
    return out
