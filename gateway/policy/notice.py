"""The processing description, generated from the active policy (G18, G22).

One pure function feeds both the `/privacy` page (for pupils, parents and
staff) and `privacy-gateway report` (for the DPIA), so they never disagree
with what the gateway actually enforces.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.policy.model import PURPOSES, Policy
from gateway.policy.names import meeting_type_name, purpose_name


@dataclass(frozen=True, slots=True)
class PurposeLine:
    purpose: str
    description: str
    retention_days: int
    pupils_visible: bool
    who_may_start: tuple[str, ...]
    distributed: bool
    watch: tuple[str, ...] = ()  # who may watch it afterwards (G14, [playback.watch])


@dataclass(frozen=True, slots=True)
class Notice:
    controller: str
    contact: str
    data_categories: tuple[str, ...]
    purposes: tuple[PurposeLine, ...]
    legal_basis: str
    recipients: str
    undeclared_retention_days: int
    audit_retention_days: int
    session_hours: float
    transcription: str
    safeguards: tuple[str, ...]
    platforms: tuple[str, ...]
    recording_rules: tuple[str, ...] = ()  # per meeting type: what a recording needs (G11)


_DATA = {
    "nl": (
        "Je naam en je schoolmailadres, zodat je kunt inloggen. Wij bewaren die alleen zolang "
        "je ingelogd bent.",
        "Je rol (leerling, leraar of medewerker), zodat je de juiste knoppen krijgt.",
        "Beeld en geluid tijdens de les, alleen als je zelf je camera of microfoon aanzet.",
        "Opnames van een les, alleen als de leraar dat vooraf zegt, met een doel.",
        "Een geheime code in plaats van je naam in ons logboek, zodat niemand kan zien wie "
        "je bent.",
    ),
    "en": (
        "Your name and school e-mail address, so you can log in. We keep them only while you "
        "are logged in.",
        "Your role (pupil, teacher or staff), so you get the right buttons.",
        "Image and sound during the lesson, only when you switch your camera or microphone on.",
        "Recordings of a lesson, only when the teacher says so beforehand, with a purpose.",
        "A secret code instead of your name in our log book, so nobody can see who you are.",
    ),
}

_SAFEGUARDS = {
    "nl": (
        "Alleen schoolaccounts komen binnen; privé-accounts worden geweigerd.",
        "Je camera staat uit als je binnenkomt.",
        "Een opname wordt altijd vooraf en direct na de start aangekondigd.",
        "Bij een opname van een uitleg om later terug te kijken staan camera's en microfoons "
        "van leerlingen uit en op slot.",
        "Opnames worden automatisch gewist als de bewaartermijn voorbij is.",
        "Je mag bezwaar maken tegen een opname. Die wordt dan niet gebruikt tot er een besluit is.",
        "Een opname bekijk je alleen via een link van de school, na inloggen met je "
        "schoolaccount; een gekopieerde link werkt niet.",
        "Geen reclame, geen volgcodes, geen diensten van buiten de school.",
        "Beheerders zien alleen totalen, nooit wie wat deed.",
    ),
    "en": (
        "Only school accounts get in; private accounts are refused.",
        "Your camera is off when you join.",
        "A recording is always announced before it starts and right after it started.",
        "In a recording of a lesson to watch later, pupils' cameras and microphones are off "
        "and locked.",
        "Recordings are deleted automatically when their time is up.",
        "You may object to a recording. It is then not used until a decision is made.",
        "A recording can only be watched through a link from the school, after logging in "
        "with your school account; a copied link does not work.",
        "No adverts, no trackers, no services from outside the school.",
        "Administrators see only totals, never who did what.",
    ),
}

# G5, per platform: only what that platform really does with the background.
_BACKGROUND = {
    "nl": {"bbb": "In BigBlueButton staat, als je je camera aanzet, een rustige "
                  "achtergrondafbeelding achter je in plaats van je kamer. Je kunt een andere "
                  "achtergrond of wazig kiezen voordat je camera aangaat.",
           "jitsi": "In Jitsi Meet is je achtergrond wazig als je je camera aanzet. Je kunt dat "
                    "zelf uitzetten."},
    "en": {"bbb": "In BigBlueButton, when you switch your camera on, a plain background image "
                  "is shown behind you instead of your room. You can choose another background "
                  "or blur before your camera goes on.",
           "jitsi": "In Jitsi Meet your background is blurred when you switch your camera on. "
                    "You can switch that off yourself."},
}


def background_safeguards(policy: Policy, lang: str) -> tuple[str, ...]:
    """What happens to the background behind a camera, for each platform the policy turns on."""
    texts = _BACKGROUND["nl" if lang == "nl" else "en"]
    return tuple(texts[name] for name, on in (("bbb", policy.bbb.enabled),
                                              ("jitsi", policy.jitsi.enabled)) if on)


_TRANSCRIPTION = {
    "nl": {"off": "Automatische transcriptie (een computer schrijft op wat je zegt) staat uit.",
           "opt_in": "Automatische transcriptie (een computer schrijft op wat je zegt) gebeurt "
                     "alleen als iedereen in de les 'ja' zegt."},
    "en": {"off": "Automatic transcription (writing down what you say) is off.",
           "opt_in": "Automatic transcription only runs when everyone in the lesson says 'yes'."},
}


_RULES = {
    "nl": {"never": "{type}: wordt nooit opgenomen.",
           "required": "{type}: een opname kan alleen met een doel dat de leraar vooraf "
                       "kiest. Zonder doel stopt de opname meteen.",
           "default": "{type}: kiest de leraar geen doel, dan geldt '{purpose}'.",
           "undeclared": "{type}: zonder doel wordt een opname {days} dagen bewaard en zijn "
                         "leerlingen niet te zien of te horen."},
    "en": {"never": "{type}: never recorded.",
           "required": "{type}: a recording needs a purpose the teacher chooses beforehand. "
                       "Without one, the recording stops at once.",
           "default": "{type}: if the teacher chooses no purpose, '{purpose}' applies.",
           "undeclared": "{type}: without a purpose a recording is kept {days} days and "
                         "pupils are not seen or heard."},
}


def recording_rules(policy: Policy, lang: str) -> tuple[str, ...]:
    """What a recording needs in each meeting type, as the guard enforces it (G3, G11)."""
    lang = "nl" if lang == "nl" else "en"
    out = []
    for name, mtype in policy.meeting_types.items():
        if not mtype.recording_allowed or name == "confidential":
            rule = "never"
        elif mtype.default_purpose is not None:
            rule = "default"
        else:
            rule = "required" if mtype.purpose_required else "undeclared"
        out.append(_RULES[lang][rule].format(
            type=meeting_type_name(name, lang),
            purpose=purpose_name(mtype.default_purpose, lang) if mtype.default_purpose else "",
            days=policy.retention.undeclared_retention_days))
    return tuple(out)


def build_notice(policy: Policy, lang: str) -> Notice:
    lang = "nl" if lang == "nl" else "en"
    purposes = []
    for name in PURPOSES:
        purpose = policy.purposes[name]
        description = purpose.description_nl if lang == "nl" else purpose.description_en
        purposes.append(PurposeLine(
            purpose=name,
            description=description or (purpose.announcement_nl if lang == "nl"
                                        else purpose.announcement_en),
            retention_days=purpose.retention_days,
            pupils_visible=purpose.pupils_visible,
            who_may_start=purpose.may_start,
            distributed=purpose.distribute,
            watch=getattr(policy.playback.watch, name),
        ))
    notice = policy.notice
    platforms = tuple(name for name, on in (("BigBlueButton", policy.bbb.enabled),
                                             ("Jitsi Meet", policy.jitsi.enabled)) if on)
    return Notice(
        controller=notice.controller,
        contact=notice.contact,
        data_categories=_DATA[lang],
        purposes=tuple(purposes),
        legal_basis=notice.legal_basis_nl if lang == "nl" else notice.legal_basis_en,
        recipients=notice.recipients_nl if lang == "nl" else notice.recipients_en,
        undeclared_retention_days=policy.retention.undeclared_retention_days,
        audit_retention_days=policy.retention.audit_retention_days,
        session_hours=policy.gateway.session_ttl_seconds / 3600,
        transcription=_TRANSCRIPTION[lang][policy.transcription.mode],
        safeguards=_SAFEGUARDS[lang][:2] + background_safeguards(policy, lang)
        + _SAFEGUARDS[lang][2:],
        platforms=platforms,
        recording_rules=recording_rules(policy, lang),
    )
