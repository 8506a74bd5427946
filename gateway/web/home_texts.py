"""Texts of the role home pages and of the pages that refuse someone (nl, en)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "home.teacher.heading": {"nl": "Jouw lessen en gesprekken", "en": "Your lessons and talks"},
    "home.teacher.none": {
        "nl": "Nog geen vergaderingen. Start een les vanuit je leeromgeving (BigBlueButton) "
              "of maak een Jitsi-ruimte aan.",
        "en": "No meetings yet. Start a lesson from your learning platform (BigBlueButton) "
              "or create a Jitsi room."},
    "home.teacher.new_room": {"nl": "Nieuwe Jitsi-ruimte", "en": "New Jitsi room"},
    "home.col.platform": {"nl": "Platform", "en": "Platform"},
    "home.col.meeting": {"nl": "Vergadering", "en": "Meeting"},
    "home.col.type": {"nl": "Soort", "en": "Type"},
    "home.col.recording": {"nl": "Opname", "en": "Recording"},
    "home.col.purpose": {"nl": "Doel", "en": "Purpose"},
    "home.col.action": {"nl": "Actie", "en": "Action"},
    "home.recording.on": {"nl": "Wordt opgenomen", "en": "Recording"},
    "home.recording.off": {"nl": "Geen opname", "en": "Not recording"},
    "home.purpose.none": {"nl": "geen doel opgegeven", "en": "no purpose declared"},
    "home.declare": {"nl": "Doel opgeven", "en": "Declare purpose"},
    "home.purpose.default": {"nl": "{purpose} (standaard: geen doel opgegeven)",
                             "en": "{purpose} (default: no purpose declared)"},
    "home.purpose.cannot_record": {"nl": "kan niet worden opgenomen",
                                   "en": "cannot be recorded"},
    "home.purpose.change": {"nl": "Doel wijzigen", "en": "Change purpose"},
    "home.open": {"nl": "Openen", "en": "Open"},
    "home.stop": {"nl": "Stop de opname nu", "en": "Stop recording now"},
    "home.stop.why": {
        "nl": "Komt er gevoelige informatie voorbij? Stop de opname meteen; iedereen in de "
              "vergadering krijgt een melding.",
        "en": "Sensitive information coming up? Stop the recording at once; everyone in the "
              "meeting is told."},
    "home.stopped.yes": {"nl": "De opname is gestopt en iedereen is ingelicht.",
                         "en": "The recording was stopped and everyone was told."},
    "home.stopped.sent": {
        "nl": "De stop is naar de vergadering gestuurd. Jitsi stopt de opname en licht "
              "iedereen in zodra de server de gateway weer raadpleegt, meestal binnen 10 "
              "seconden. Laad deze pagina opnieuw om te zien of de opname gestopt is.",
        "en": "The stop was sent to the meeting. Jitsi stops the recording and tells everyone "
              "as soon as its server next checks with the gateway, usually within 10 seconds. "
              "Reload this page to see that the recording has stopped."},
    "home.stopped.no": {
        "nl": "De opname kon hier niet gestopt worden (loopt ze nog?). Stop ze in de "
              "vergadering zelf.",
        "en": "The recording could not be stopped from here (is it still running?). Stop it "
              "in the meeting itself."},
    "home.pupil.heading": {"nl": "Jouw privacy", "en": "Your privacy"},
    "home.pupil.object": {"nl": "Bezwaar maken tegen een opname",
                          "en": "Object to a recording"},
    "home.pupil.objections": {"nl": "Jouw bezwaren", "en": "Your objections"},
    "home.pupil.none": {"nl": "Je hebt geen bezwaren ingediend.",
                        "en": "You have not filed any objections."},
    "home.pupil.all": {"nl": "Alle bezwaren en hun uitkomst", "en": "All objections and outcomes"},
    "home.pupil.notice": {"nl": "Wat gebeurt er met jouw gegevens?",
                          "en": "What happens to your data?"},
    "home.officer.heading": {"nl": "Privacy-officer", "en": "Privacy officer"},
    "role.privacy_officer": {"nl": "privacy-officer", "en": "privacy officer"},
    "home.officer.retention": {"nl": "Bewaarwachtrij, bezwaren en bewaarplichten",
                               "en": "Retention queue, objections and holds"},
    "home.officer.retention_why": {
        "nl": "Welke opnames wanneer gewist worden, wat vastgehouden wordt, en de bezwaren "
              "waarover jij beslist.",
        "en": "Which recordings are deleted when, what is held, and the objections you "
              "decide on."},
    "home.officer.approvals": {"nl": "Goedgekeurde uitzonderingen", "en": "Approved exceptions"},
    "home.officer.approvals_why": {
        "nl": "Referenties voor opnames waarop leerlingen te zien zijn buiten feedback of "
              "examens.",
        "en": "References for recordings that show pupils outside feedback or exams."},
    "objection.pick_help": {
        "nl": "Welke vergadering? De link in de melding over de opname vult dit voor je in.",
        "en": "Which meeting? The link in the recording's announcement fills this in for you."},
    "objection.pick_platform": {"nl": "Platform", "en": "Platform"},
    "objection.pick_meeting": {"nl": "Naam van de vergadering of ruimte",
                               "en": "Name of the meeting or room"},
    "demo.note": {
        "nl": "Demo, niet voor echt gebruik. BigBlueButton is een nagebootste server op deze "
              "computer en er is geen Jitsi-server aangesloten: de pagina's laten zien wat de "
              "poort doet, zonder beeld of geluid.",
        "en": "Demo, not for real use. BigBlueButton is a stand-in on this machine and no "
              "Jitsi server is attached: the pages show what the gateway does, without "
              "video or sound."},
    "demo.lms_link": {"nl": "Begin hier: maak een les aan in de demo-leeromgeving.",
                      "en": "Start here: create a lesson on the demo learning platform."},
    "error.no_access": {"nl": "Geen toegang", "en": "No access"},
    "forbidden.who": {"nl": "Wie mag deze pagina zien?", "en": "Who may see this page?"},
    "forbidden.not_privacy_officer": {
        "nl": "Alleen de privacy-officer van de school: een medewerker of leraar met een "
              "adres dat in het privacybeleid staat.",
        "en": "Only the school's privacy officer: a staff member or teacher whose address "
              "the privacy policy names."},
    "forbidden.not_teacher": {"nl": "Alleen leraren.", "en": "Only teachers."},
    "forbidden.not_moderator": {
        "nl": "Alleen een leraar die deze vergadering leidt (ingelogd als moderator).",
        "en": "Only a teacher who leads this meeting (joined as moderator)."},
    "forbidden.not_a_moderator": {
        "nl": "Alleen een leraar die deze vergadering leidt.",
        "en": "Only a teacher who leads this meeting."},
    "forbidden.not_the_creator": {"nl": "Alleen de leraar die deze ruimte heeft aangemaakt.",
                                  "en": "Only the teacher who created this room."},
    "forbidden.not_invited": {
        "nl": "Alleen wie is uitgenodigd door de leraar die dit vertrouwelijke gesprek "
              "aanmaakte.",
        "en": "Only people the creator of this confidential talk invited."},
    "forbidden.not_in_room": {"nl": "Alleen wie in deze vergadering is of was.",
                              "en": "Only people who are or were in this meeting."},
    "forbidden.guests_not_allowed": {"nl": "Alleen schoolaccounts; gasten niet.",
                                     "en": "Only school accounts; no guests."},
    "forbidden.not_logged_in": {"nl": "Alleen wie ingelogd is met een schoolaccount.",
                                "en": "Only people logged in with a school account."},
}
