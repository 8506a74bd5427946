"""The recording guard's fixed nl/en texts (G8, G10, G11, G12, G3).

Kept apart from the rules in gateway/guard.py so the engine reads as a table
of decisions. The purpose announcements themselves come from the policy
(`purposes.<name>.announcement_nl/_en`, G19); these are the texts the policy
does not carry. Children read them (G18): short sentences, no jargon.
"""

from __future__ import annotations

STOP_TEXTS: dict[str, tuple[str, str]] = {
    "no_purpose": ("De opname is meteen gestopt: er is geen doel opgegeven. Kies eerst een doel.",
                   "The recording was stopped at once: no purpose was declared. "
                   "Declare a purpose first."),
    "role_not_allowed": ("De opname is meteen gestopt: u mag een opname met dit doel niet starten.",
                         "The recording was stopped at once: you may not start a recording "
                         "with this purpose."),
    "no_approval_reference": ("De opname is meteen gestopt: een goedgekeurde uitzondering "
                              "heeft een kenmerk van de privacy-officer nodig.",
                              "The recording was stopped at once: an approved exception needs "
                              "the privacy officer's approval reference."),
    "confidential": ("De opname is meteen gestopt: een vertrouwelijk gesprek wordt nooit "
                     "opgenomen.",
                     "The recording was stopped at once: a confidential talk is never recorded."),
    "recording_not_allowed": ("De opname is meteen gestopt: opnemen is niet toegestaan in dit "
                              "soort bijeenkomst.",
                              "The recording was stopped at once: recording is not allowed in "
                              "this kind of meeting."),
    "purpose_next_recording": ("Het nieuwe doel geldt voor de volgende opname.",
                               "The new purpose applies to the next recording."),
}
TELL_TEXTS: dict[str, tuple[str, str]] = {
    "camera_off": ("Je camera is uitgezet: deze les wordt opgenomen en leerlingen zijn niet "
                   "te zien.",
                   "Your camera was switched off: this lesson is being recorded and pupils "
                   "are not shown."),
    "microphone_off": ("Je microfoon is uitgezet: deze les wordt opgenomen en leerlingen zijn "
                       "niet te horen.",
                       "Your microphone was switched off: this lesson is being recorded and "
                       "pupils are not heard."),
}
UNDECLARED_TEXT = ("Deze bijeenkomst wordt opgenomen. De opname wordt na {days} dagen gewist. "
                   "Camera's en microfoons van leerlingen gaan nu uit.",
                   "This meeting is being recorded. The recording is deleted after {days} days. "
                   "Pupils' cameras and microphones are switched off now.")
STOPPED_TEXT = ("De opname is gestopt.", "The recording has stopped.")
# G12: added to every recording announcement when the platform adapter knows the link.
OBJECTION_TEXT = ("Wil je niet dat deze opname bewaard wordt? Je kunt bezwaar maken: {url}",
                  "Do you not want this recording kept? You can object here: {url}")

PUBLIC_TELL = {  # BBB has no private system message: the note names nobody (G20).
    "camera_off": ("Een camera van een leerling is uitgezet: deze les wordt opgenomen en "
                   "leerlingen zijn niet te zien.",
                   "A pupil's camera was switched off: this lesson is being recorded and pupils "
                   "are not shown."),
    "microphone_off": ("Een microfoon van een leerling is uitgezet: deze les wordt opgenomen en "
                       "leerlingen zijn niet te horen.",
                       "A pupil's microphone was switched off: this lesson is being recorded "
                       "and pupils are not heard."),
}
