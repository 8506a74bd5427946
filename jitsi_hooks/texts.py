"""The Jitsi pages' texts in Dutch and English (G18: plain words a child follows)."""

from __future__ import annotations

from gateway.web import i18n

_TEXTS: dict[str, dict[str, str]] = {
    "jitsi.title": {"nl": "Online bijeenkomst", "en": "Online meeting"},
    "jitsi.notice_heading": {"nl": "Lees dit eerst", "en": "Read this first"},
    "jitsi.notice_camera": {
        "nl": "Je camera staat uit als je binnenkomt. Je hoeft hem niet aan te zetten. Zet je "
              "hem aan, dan wordt je achtergrond vervaagd, tenzij je dat zelf uitzet.",
        "en": "Your camera is off when you come in. You do not have to switch it on. If you "
              "do, your background is blurred unless you switch that off yourself."},
    "jitsi.notice_mic_off": {"nl": "Je microfoon staat uit als je binnenkomt.",
                             "en": "Your microphone is off when you come in."},
    "jitsi.notice_mic_on": {"nl": "Je microfoon staat aan als je binnenkomt.",
                            "en": "Your microphone is on when you come in."},
    "jitsi.notice_data": {
        "nl": "De school ziet wie er in de bijeenkomst is zolang die loopt. Je naam zien de "
              "anderen in de bijeenkomst. Alles gaat via de eigen servers van de school; er "
              "gaat niets naar andere bedrijven.",
        "en": "The school sees who is in the meeting while it runs. The others in the meeting "
              "see your name. Everything runs on the school's own servers; nothing goes to "
              "other companies."},
    "jitsi.notice_recording": {
        "nl": "Als de leraar deze bijeenkomst opneemt, hoor en zie je dat vooraf en meteen "
              "na de start. Doel nu: {purpose}. Zo'n opname wordt na {days} dagen gewist.",
        "en": "If the teacher records this meeting, you are told before and right after it "
              "starts. Purpose now: {purpose}. Such a recording is deleted after {days} days."},
    "jitsi.notice_no_recording": {
        "nl": "Dit gesprek is vertrouwelijk: het kan niet worden opgenomen en er wordt geen "
              "uitgeschreven tekst (transcriptie) van gemaakt.",
        "en": "This talk is confidential: it cannot be recorded or transcribed."},
    "jitsi.notice_more": {"nl": "Meer over je privacy", "en": "More about your privacy"},
    "jitsi.objection": {
        "nl": "Wil je niet dat een opname van deze bijeenkomst bewaard blijft? Maak bezwaar.",
        "en": "Don't want a recording of this meeting to be kept? Object to it."},
    "jitsi.join": {"nl": "Ik heb het gelezen, naar binnen", "en": "I have read this, join"},
    "jitsi.blur": {"nl": "Vervaag mijn achtergrond als mijn camera aan staat",
                   "en": "Blur my background when my camera is on"},
    "jitsi.recording_on": {"nl": "Deze bijeenkomst wordt nu opgenomen.",
                           "en": "This meeting is being recorded now."},
    "jitsi.recording_off": {"nl": "Er wordt niet opgenomen.", "en": "Nothing is being recorded."},
    "jitsi.transcription_heading": {"nl": "Uitgeschreven tekst (transcriptie)",
                                    "en": "Transcription (subtitles)"},
    "jitsi.transcription_explain": {
        "nl": "Een computer kan opschrijven wat er gezegd wordt. Dat gebeurt alleen als "
              "iedereen die er is ja zegt. Zeg je nee, dan gebeurt het niet.",
        "en": "A computer can write down what is said. That only happens if everyone who is "
              "here says yes. If you say no, it does not happen."},
    "jitsi.transcription_opt_in": {"nl": "Ja, een transcriptie vind ik goed",
                                   "en": "Yes, transcription is fine with me"},
    "jitsi.transcription_on": {"nl": "Transcriptie mag nu: iedereen zei ja.",
                               "en": "Transcription is allowed now: everyone said yes."},
    "jitsi.transcription_off": {"nl": "Transcriptie staat uit.",
                                "en": "Transcription is off."},
    "jitsi.transcription_count": {"nl": "{agreed} van de {present} aanwezigen zeiden ja.",
                                  "en": "{agreed} of {present} present agreed."},
    "jitsi.purpose_heading": {"nl": "Doel van een opname (leraar)",
                              "en": "Purpose of a recording (teacher)"},
    "jitsi.approval_reference": {"nl": "Kenmerk van de privacy-officer (alleen bij een "
                                       "uitzondering)",
                                 "en": "Privacy officer's reference (exceptions only)"},
    "jitsi.save": {"nl": "Opslaan", "en": "Save"},
    "jitsi.purpose_default": {
        "nl": "Je hebt nog geen doel gekozen. Dan geldt: {purpose}.",
        "en": "You have not chosen a purpose yet, so this applies: {purpose}."},
    "jitsi.purpose_no_default": {
        "nl": "Je hebt nog geen doel gekozen, en deze soort bijeenkomst heeft geen standaarddoel.",
        "en": "You have not chosen a purpose yet, and this kind of meeting has no default."},
    "jitsi.new_room": {"nl": "Nieuwe ruimte", "en": "New room"},
    "jitsi.room_name": {"nl": "Naam (kleine letters, cijfers, - en _)",
                        "en": "Name (lowercase letters, digits, - and _)"},
    "jitsi.meeting_type": {"nl": "Soort bijeenkomst", "en": "Kind of meeting"},
    "jitsi.create": {"nl": "Maken", "en": "Create"},
    "jitsi.unavailable": {
        "nl": "De videoserver van school is nu niet bereikbaar, dus je kunt nog niet "
              "meedoen. Probeer het over een paar minuten opnieuw (laad de pagina opnieuw). "
              "Lukt het dan nog niet? Vraag het aan de ICT-helpdesk van school.",
        "en": "The school's video server cannot be reached right now, so you cannot join "
              "yet. Try again in a few minutes (reload the page). Still not working? Ask "
              "the school's IT helpdesk."},
    "jitsi.join_failed": {
        "nl": "Meedoen lukte niet. Laad de pagina opnieuw en probeer het nog eens.",
        "en": "Joining did not work. Reload the page and try again."},
    "jitsi.never_recorded": {"nl": "nooit opgenomen", "en": "never recorded"},
    "refused.guests_not_allowed": {
        "nl": "Gasten mogen niet in deze bijeenkomst. Log in met je schoolaccount.",
        "en": "Guests may not join this meeting. Log in with your school account."},
    "refused.not_invited": {
        "nl": "Dit is een vertrouwelijk gesprek. Alleen wie is uitgenodigd mag erin.",
        "en": "This is a confidential talk. Only people who were invited may join."},
    "jitsi.invite_heading": {"nl": "Wie mag er in dit gesprek?", "en": "Who may join this talk?"},
    "jitsi.invite_explain": {
        "nl": "Alleen jij en de schoolaccounts die je hier uitnodigt. Het adres zelf wordt "
              "niet bewaard.",
        "en": "Only you and the school accounts you invite here. The address itself is not "
              "kept."},
    "jitsi.invite_email": {"nl": "E-mailadres (schoolaccount)",
                           "en": "E-mail address (school account)"},
    "jitsi.invite": {"nl": "Uitnodigen", "en": "Invite"},
}

MESSAGES: i18n.Catalog = _TEXTS
