"""Plain-language texts in Dutch and English (G18: a 12-year-old can follow).

Each module that renders pages declares its messages as a `MESSAGES` catalog;
the app factory loads the core's and each adapter's into one `Messages` on the
app (`MESSAGES_KEY`), and pages look them up through `t(lang, key, **values)`.
Nothing registers itself on import. The language comes from `?lang=`, then the
language cookie, then Accept-Language, then the policy's default.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway.web import keys

LANGUAGES = ("nl", "en")
LANG_COOKIE = "pgw_lang"

Catalog = Mapping[str, Mapping[str, str]]


class Messages:
    """The texts of one app: every catalog it loaded, each key in both languages."""

    def __init__(self, *catalogs: Catalog) -> None:
        self._texts: dict[str, dict[str, str]] = {}
        for catalog in catalogs:
            for key, texts in catalog.items():
                if set(texts) != set(LANGUAGES):
                    raise ValueError(f"message {key!r} needs exactly {LANGUAGES}")
                if key in self._texts and self._texts[key] != texts:
                    raise ValueError(f"message {key!r} is defined twice, differently")
                self._texts[key] = dict(texts)

    def __contains__(self, key: str) -> bool:
        return key in self._texts

    def t(self, lang: str, key: str, **values: object) -> str:
        texts = self._texts.get(key)
        if texts is None:
            return key
        text = texts.get(lang) or texts["en"]
        return text.format(**values) if values else text


MESSAGES_KEY = web.AppKey("messages", Messages)


def language(request: web.Request) -> str:
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    return (accepted(request.headers.get("Accept-Language", ""))
            or request.app[keys.SETTINGS].policy.gateway.default_language)


def accepted(header: str) -> str | None:
    """The first of our languages an Accept-Language header names, in its order."""
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return None


MESSAGES: Catalog = {
    "app.title": {"nl": "Privacypoort", "en": "Privacy gateway"},
    "nav.privacy": {"nl": "Privacy", "en": "Privacy"},
    "nav.login": {"nl": "Inloggen", "en": "Log in"},
    "nav.logout": {"nl": "Uitloggen", "en": "Log out"},
    "nav.language": {"nl": "English", "en": "Nederlands"},
    "home.heading": {"nl": "Veilig lesgeven op afstand", "en": "Safe online lessons"},
    "home.intro": {
        "nl": "Hier log je in met je schoolaccount voordat je een les of gesprek binnengaat. "
              "Zo komen alleen mensen van school binnen.",
        "en": "Here you log in with your school account before you join a lesson or a talk. "
              "That way only people from school get in.",
    },
    "home.logged_in": {"nl": "Je bent ingelogd als {role}.", "en": "You are logged in as {role}."},
    "home.not_logged_in": {"nl": "Je bent niet ingelogd.", "en": "You are not logged in."},
    "role.teacher": {"nl": "leraar", "en": "teacher"},
    "role.pupil": {"nl": "leerling", "en": "pupil"},
    "role.staff": {"nl": "medewerker", "en": "staff member"},
    "role.guest": {"nl": "gast", "en": "guest"},
    "login.choose": {"nl": "Met welk schoolaccount log je in?",
                     "en": "Which school account do you log in with?"},
    "login.unavailable": {
        "nl": "Inloggen lukt nu even niet, omdat de inlogdienst van school niet bereikbaar is. "
              "Probeer het over een paar minuten opnieuw.",
        "en": "Logging in does not work right now because the school's login service cannot "
              "be reached. Please try again in a few minutes.",
    },
    "login.expired": {
        "nl": "Het inloggen duurde te lang of is al gebruikt. Begin opnieuw.",
        "en": "Logging in took too long or was already used. Please start again.",
    },
    "login.cancelled": {
        "nl": "Inloggen is afgebroken. Wil je toch naar binnen? Log opnieuw in met je "
              "schoolaccount.",
        "en": "Logging in was cancelled. Still want to get in? Log in again with your school "
              "account.",
    },
    "refused.heading": {"nl": "Je kunt hier niet binnen", "en": "You cannot get in here"},
    "refused.what_to_do": {
        "nl": "Log in met het account dat je van school hebt gekregen. Lukt het niet? "
              "Vraag het aan je leraar of de ICT-helpdesk van school.",
        "en": "Log in with the account your school gave you. Still stuck? Ask your teacher "
              "or the school's IT helpdesk.",
    },
    "refused.issuer_not_allowed": {"nl": "Dit account komt niet van onze school.",
                                   "en": "This account is not from our school."},
    "refused.no_email": {"nl": "Bij dit account hoort geen schoolmailadres.",
                         "en": "This account has no school e-mail address."},
    "refused.email_invalid": {"nl": "Het mailadres van dit account klopt niet.",
                              "en": "The e-mail address of this account is not valid."},
    "refused.email_not_verified": {
        "nl": "Het mailadres van dit account is niet bevestigd.",
        "en": "The e-mail address of this account has not been confirmed.",
    },
    "refused.consumer_domain": {
        "nl": "Dit is een privé-account (zoals Gmail of Outlook). Op school gebruik je alleen "
              "je schoolaccount.",
        "en": "This is a private account (like Gmail or Outlook). At school you only use your "
              "school account.",
    },
    "refused.domain_not_allowed": {
        "nl": "Dit mailadres hoort niet bij onze school.",
        "en": "This e-mail address does not belong to our school.",
    },
    "refused.tenant_not_allowed": {
        "nl": "Dit account hoort bij een andere school of organisatie.",
        "en": "This account belongs to another school or organisation.",
    },
    "refused.no_subject": {"nl": "Dit account kunnen we niet herkennen.",
                           "en": "We cannot recognise this account."},
    "refused.invalid_token": {
        "nl": "De inloggegevens van de inlogdienst klopten niet. Probeer opnieuw.",
        "en": "The login details from the login service were not valid. Please try again.",
    },
    "error.heading": {"nl": "Er ging iets mis", "en": "Something went wrong"},
    "error.not_found": {"nl": "Deze pagina bestaat niet.", "en": "This page does not exist."},
    "error.bad_request": {"nl": "Dit verzoek klopt niet.", "en": "This request is not valid."},
    "error.forbidden": {"nl": "Dit mag je niet doen.", "en": "You are not allowed to do this."},
    "error.csrf": {
        "nl": "Dit formulier is verlopen. Ga terug, laad de pagina opnieuw en probeer nog eens.",
        "en": "This form has expired. Go back, reload the page and try again.",
    },
    "error.internal": {
        "nl": "Er ging bij ons iets mis. Probeer het later opnieuw.",
        "en": "Something went wrong on our side. Please try again later.",
    },
    "error.store_unavailable": {
        "nl": "Dit lukt even niet. Probeer het over een paar minuten opnieuw.",
        "en": "This does not work right now. Please try again in a few minutes.",
    },
    "error.method": {"nl": "Dat kan op deze pagina niet.", "en": "That is not possible here."},
    "logout.done": {"nl": "Je bent uitgelogd.", "en": "You are logged out."},
}
