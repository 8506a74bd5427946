"""The recording guard's fixed nl/en texts (G8, G10, G11, G12, G3).

Kept apart from the rules in gateway/guard.py so the engine reads as a table
of decisions. The purpose announcements themselves come from the policy
(`purposes.<name>.announcement_nl/_en`, G19); these are the texts the policy
does not carry. Children read them (G18): short sentences, no jargon.
"""

from __future__ import annotations

from gateway.policy import utf16

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
    "announcement_failed": ("De opname is gestopt: de aankondiging kwam niet aan bij de "
                            "deelnemers. Start de opname opnieuw als de chat weer werkt.",
                            "The recording was stopped: the announcement did not reach the "
                            "participants. Start the recording again once the chat works."),
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
# G13: the teacher stopped the recording at once from their home page.
TEACHER_STOPPED_TEXT = ("De leraar heeft de opname meteen gestopt.",
                        "The teacher stopped the recording at once.")
# G8: the announcement again right after the start, marked as the same message once more
# (word for word twice looked like a fault).
REPEAT_PREFIX = ("Herhaling: ", "Reminder: ")
# G8, G11: the announcement before the start (a purpose declared, nothing recorded yet):
# the purpose's text speaks of a running recording, so it is marked as coming.
BEFORE_PREFIX = ("Vooraankondiging (er wordt nog niet opgenomen): ",
                 "Notice in advance (not recording yet): ")
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


def chat_parts(text: str, limit: int) -> list[str]:
    """`text` as chat messages of at most `limit` UTF-16 units, cut between words.

    BBB 3.0's sendChatMessage refuses a message over 500 characters and does not
    keep newlines (bbb.md §5): each language goes as its own message, and a long
    policy text is cut at sentence or word boundaries rather than refused.
    bbb-web is Java: its 500 counts UTF-16 units, so an emoji counts twice.
    """
    words = " ".join(text.split())
    parts: list[str] = []
    while utf16.units(words) > limit:
        fit = utf16.fitting(words, limit)
        cut = words.rfind(". ", 0, fit)
        cut = cut + 1 if cut > fit // 2 else words.rfind(" ", 0, fit)
        if cut <= 0:
            cut = fit  # one unbroken word longer than the limit (a long link)
        parts.append(words[:cut].strip())
        words = words[cut:].strip()
    if words:
        parts.append(words)
    return parts
