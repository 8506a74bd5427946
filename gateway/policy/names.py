"""The human names of purposes and meeting types, in both languages (G18).

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

assert set(PURPOSE_NAMES) == set(PURPOSES) and set(MEETING_TYPE_NAMES) == set(MEETING_TYPES)


def _lang(lang: str) -> str:
    return "nl" if lang == "nl" else "en"


def purpose_name(purpose: str, lang: str) -> str:
    names = PURPOSE_NAMES.get(purpose)
    return names[_lang(lang)] if names else purpose


def meeting_type_name(meeting_type: str, lang: str) -> str:
    names = MEETING_TYPE_NAMES.get(meeting_type)
    return names[_lang(lang)] if names else meeting_type


def catalog() -> dict[str, dict[str, str]]:
    """The names as page texts: `purpose.<id>` and `meeting_type.<id>`."""
    out = {f"purpose.{k}": dict(v) for k, v in PURPOSE_NAMES.items()}
    out["purpose.none"] = {"nl": "geen", "en": "none"}
    out.update({f"meeting_type.{k}": dict(v) for k, v in MEETING_TYPE_NAMES.items()})
    return out
