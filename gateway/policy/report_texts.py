"""The wording of `privacy-gateway report` (G22): a processing description for a
DPIA, in the third person, Dutch and English. Numbers are filled in from the
policy by gateway.policy.report; every number carries its unit."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Processing description",
        "controller": "Controller", "contact": "Contact",
        "scope_head": "Processing",
        "scope": ("The school ({school}) holds online lessons and meetings on {platforms}. A "
                  "privacy gateway in front of these platforms lets only school accounts in, "
                  "applies the policy below to every meeting and recording, and deletes "
                  "recordings when their retention ends. This description is generated from "
                  "policy version {version}, which the gateway enforces."),
        "data_head": "Categories of personal data",
        "data": ("Name and school e-mail address of pupils and staff, from the school's "
                 "identity provider at login; kept only for the login session (at most "
                 "{hours} h).|"
                 "Role (pupil, teacher, staff) from the identity provider's claims.|"
                 "Image and sound of participants during a meeting, only while they switch "
                 "their own camera or microphone on.|"
                 "Recordings of meetings, only with an announced purpose (below).|"
                 "Keyed pseudonyms (HMAC with a secret key) instead of names and account "
                 "identifiers in the audit log and on the platforms."),
        "no_platform": "(no platform enabled)",
        "purposes_head": "Purposes and retention",
        "columns": "Purpose|Retention|Pupils seen or heard|May start the recording|"
                   "Shown after the meeting (G14)|Who may watch it (G14)",
        "yes": "yes", "no": "no", "days": "days",
        "undeclared": ("A recording whose purpose cannot be determined is kept "
                       "{days} days from when it was made, never less."),
        "types_head": "Meeting types",
        "recording_allowed": "recording allowed", "recording_never": "recording never",
        "transcription_optin": "transcription opt-in", "transcription_never": "transcription never",
        "default_purpose": "default purpose",
        "no_default": "none",
        "objections_head": "Objections and holds",
        "objections": ("A pupil can object to a recording during or after the meeting. While "
                       "the objection is open, every recording of that meeting is held: it is "
                       "not deleted and is taken out of view. The privacy officer "
                       "({officers} designated address(es)) decides. An upheld objection "
                       "deletes the recordings at once; a rejected one restores the normal "
                       "retention. The pupil sees the outcome on the gateway.|"
                       "A legal hold (a case or file reference, no names) keeps a recording "
                       "past its retention until it is released.|"
                       "Holds and open objections are written onto the recording itself (BBB "
                       "recording metadata, the Jibri sidecar file) next to its retention date, "
                       "so they survive the loss of the gateway's store."),
        "deletion_head": "Deletion, raw data included",
        "deletion": ("Every {interval} s ({interval_min} min) one replica checks every "
                     "recording on the platforms and deletes the ones whose retention has ended.|"
                     "On BigBlueButton deletion removes the published and unpublished formats "
                     "and also the raw recording data, the soft-deleted copies, captions, "
                     "events and the media files of the recording servers, as "
                     "`bbb-record --delete` does; on Jitsi the Jibri session directory.|"
                     "Each deletion is checked afterwards; a failed one is retried and raises "
                     "an alert when it has failed for longer than {grace} s ({grace_h} h)."),
        "audit_head": "Audit log",
        "audit": ("Recording starts and stops, announcements, guard actions, objections, holds "
                  "and deletions are written to an append-only audit log that names people by "
                  "keyed pseudonym only. Entries are kept {days} days.|"
                  "The log is kept on disk as hash-chained JSON lines (one chain per server, "
                  "one file per day, removed after the retention) and indexed in the "
                  "gateway's store; an export verifies the chain."),
        "transcription_head": "Transcription",
        "transcription_off": "Automatic transcription is switched off.",
        "transcription_opt_in": ("Automatic transcription runs only while every participant "
                                 "present has opted in."),
        "sessions_head": "Login sessions",
        "sessions": "A login session lasts at most {hours} h.",
        "basis_head": "Legal basis", "recipients_head": "Recipients",
        "watch_note": ("Who may watch: school = any school account given a link by the LMS; "
                       "moderators = the teachers who moderated that meeting; officer = the "
                       "privacy officer; approval = as the officer's approval says. A held or "
                       "objected recording can be watched by the officer only. Watching is "
                       "counted per purpose, never per person; grants of feedback and exam "
                       "evidence recordings are audited with pseudonyms (G20)."),
        "safeguards_head": "Safeguards",
        "safeguards": ("Private accounts are refused even when the identity provider vouches "
                       "for them.|"
                       "Cameras start off and background blur is the default.|"
                       "Every recording is announced before it starts and right after.|"
                       "In a lecture recording pupils' cameras and microphones are switched off "
                       "and locked.|"
                       "No external assets, trackers or analytics are loaded.|"
                       "Administrators see aggregate figures only, never who did what."),
    },
    "nl": {
        "title": "Beschrijving van de verwerking",
        "controller": "Verwerkingsverantwoordelijke", "contact": "Contact",
        "scope_head": "Verwerking",
        "scope": ("De school ({school}) geeft online lessen en houdt bijeenkomsten op "
                  "{platforms}. Een privacy-gateway voor deze platforms laat alleen "
                  "schoolaccounts toe, past het beleid hieronder toe op elke bijeenkomst en "
                  "opname en wist opnames als hun bewaartermijn voorbij is. Deze beschrijving "
                  "is gemaakt uit beleidsversie {version}, die de gateway afdwingt."),
        "data_head": "Categorieën persoonsgegevens",
        "data": ("Naam en schoolmailadres van leerlingen en medewerkers, bij het inloggen van "
                 "de identiteitsprovider van de school; alleen bewaard zolang de sessie duurt "
                 "(hoogstens {hours} uur).|"
                 "Rol (leerling, leraar, medewerker) uit de gegevens van de "
                 "identiteitsprovider.|"
                 "Beeld en geluid van deelnemers tijdens een bijeenkomst, alleen zolang zij "
                 "zelf hun camera of microfoon aanzetten.|"
                 "Opnames van bijeenkomsten, alleen met een aangekondigd doel (hieronder).|"
                 "Pseudoniemen met een geheime sleutel (HMAC) in plaats van namen en "
                 "accountnummers in het auditlog en op de platforms."),
        "no_platform": "(geen platform ingeschakeld)",
        "purposes_head": "Doelen en bewaartermijnen",
        "columns": "Doel|Bewaartermijn|Leerlingen in beeld of geluid|Mag de opname starten|"
                   "Na afloop te bekijken (G14)|Wie mag kijken (G14)",
        "yes": "ja", "no": "nee", "days": "dagen",
        "undeclared": ("Een opname waarvan het doel niet vast te stellen is, wordt {days} dagen "
                       "bewaard vanaf het moment van opnemen, nooit korter."),
        "types_head": "Soorten bijeenkomst",
        "recording_allowed": "opnemen toegestaan", "recording_never": "opnemen nooit",
        "transcription_optin": "transcriptie na toestemming",
        "transcription_never": "transcriptie nooit",
        "default_purpose": "standaarddoel",
        "no_default": "geen",
        "objections_head": "Bezwaren en blokkeringen",
        "objections": ("Een leerling kan tijdens of na de bijeenkomst bezwaar maken tegen een "
                       "opname. Zolang het bezwaar openstaat, wordt elke opname van die "
                       "bijeenkomst vastgehouden: niet gewist en niet te bekijken. De "
                       "privacyfunctionaris ({officers} aangewezen adres(sen)) beslist. Een "
                       "toegewezen bezwaar wist de opnames direct; een afgewezen bezwaar laat "
                       "de gewone bewaartermijn weer gelden. De leerling ziet de uitkomst op de "
                       "gateway.|"
                       "Een juridische blokkering (een zaak- of dossiernummer, geen namen) "
                       "bewaart een opname na de bewaartermijn tot ze wordt opgeheven.|"
                       "Blokkeringen en openstaande bezwaren worden op de opname zelf "
                       "geschreven (metadata van de BBB-opname, het Jibri-bijbestand), naast de "
                       "bewaardatum, zodat ze het verlies van de opslag van de gateway "
                       "overleven."),
        "deletion_head": "Wissen, ruwe gegevens inbegrepen",
        "deletion": ("Elke {interval} s ({interval_min} min) controleert één replica alle "
                     "opnames op de platforms en wist de opnames waarvan de bewaartermijn "
                     "voorbij is.|"
                     "Op BigBlueButton wist dit de gepubliceerde en ongepubliceerde formaten "
                     "en ook de ruwe opnamegegevens, de zacht gewiste kopieën, ondertitels, "
                     "gebeurtenissen en de mediabestanden van de opnameservers, zoals "
                     "`bbb-record --delete` doet; op Jitsi de Jibri-sessiemap.|"
                     "Elke wissing wordt daarna gecontroleerd; een mislukte wordt opnieuw "
                     "geprobeerd en geeft een melding als ze langer dan {grace} s ({grace_h} uur) "
                     "mislukt."),
        "audit_head": "Auditlog",
        "audit": ("Start en einde van opnames, aankondigingen, ingrepen van de bewaking, "
                  "bezwaren, blokkeringen en wissingen komen in een auditlog waaraan alleen "
                  "kan worden toegevoegd en dat mensen alleen met een pseudoniem met geheime "
                  "sleutel noemt. Regels worden {days} dagen bewaard.|"
                  "Het log staat op schijf als JSON-regels in een hashketen (één keten per "
                  "server, één bestand per dag, verwijderd na de bewaartermijn) met een "
                  "index in de opslag van de gateway; een export controleert de keten."),
        "transcription_head": "Transcriptie",
        "transcription_off": "Automatische transcriptie staat uit.",
        "transcription_opt_in": ("Automatische transcriptie loopt alleen zolang elke "
                                 "aanwezige deelnemer toestemming heeft gegeven."),
        "sessions_head": "Inlogsessies",
        "sessions": "Een inlogsessie duurt hoogstens {hours} uur.",
        "basis_head": "Grondslag", "recipients_head": "Ontvangers",
        "watch_note": ("Wie mag kijken: school = elk schoolaccount dat van de ELO een link "
                       "krijgt; moderators = de leraren die de bijeenkomst leidden; officer = "
                       "de privacy-officer; approval = zoals de goedkeuring van de officer "
                       "zegt. Een vastgehouden opname of een opname met bezwaar kan alleen de "
                       "officer bekijken. Kijken wordt per doel geteld, nooit per persoon; "
                       "toegang tot feedback- en examenopnames staat met pseudoniemen in het "
                       "auditlog (G20)."),
        "safeguards_head": "Waarborgen",
        "safeguards": ("Privé-accounts worden geweigerd, ook als de identiteitsprovider ze "
                       "bevestigt.|"
                       "Camera's starten uit en een wazige achtergrond is de standaard.|"
                       "Elke opname wordt vooraf en direct na de start aangekondigd.|"
                       "Bij een opname van een uitleg gaan camera's en microfoons van "
                       "leerlingen uit en op slot.|"
                       "Er worden geen externe bestanden, volgcodes of analysediensten geladen.|"
                       "Beheerders zien alleen totalen, nooit wie wat deed."),
    },
}
