"""gettext through Babel: every text a person sees goes through here, in that person's language.

Catalogs are `locales/<lang>/LC_MESSAGES/tettpa.po`; they are compiled in memory when first used, so
a fresh clone needs no build step and a .po edit can never run with a stale .mo.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "tettpa"
SOURCE = "nb"
# The languages a person can choose; nb is the source language of every msgid.
LANGUAGES = ("nb", "nn", "en", "uk", "ar", "so", "pl")
# Telegram's language_code values that mean one of ours ("no" is what many Norwegian phones send).
ALIASES = {"no": "nb", "nb": "nb", "nn": "nn", "en": "en", "uk": "uk", "ar": "ar", "so": "so", "pl": "pl"}


# Twilio <Say> languages per person language. Nynorsk has no voice of its own and is read in Bokmål;
# a language without a voice (Somali) is spoken in Norwegian and also sent as SMS in the person's language.
SAY_LANGUAGES = {"nb": "nb-NO", "nn": "nb-NO", "en": "en-GB", "uk": "uk-UA", "pl": "pl-PL", "ar": "arb"}
FALLBACK_SAY = "nb-NO"


def say_language(language: str | None) -> str:
    return SAY_LANGUAGES.get(language or SOURCE, FALLBACK_SAY)


def has_voice(language: str | None) -> bool:
    return (language or SOURCE) in SAY_LANGUAGES


def normalize_language(code: str | None) -> str | None:
    """A supported language for a Telegram language_code or --language value, or None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return ALIASES.get(base) if ALIASES.get(base) in available_languages() else None


def language_name(code: str) -> str:
    """A language named in itself ("English", "українська"), as a person looking for theirs reads it."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


@lru_cache
def available_languages() -> tuple[str, ...]:
    found = {p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(lang for lang in LANGUAGES if lang == SOURCE or lang in found) + tuple(
        sorted(found - set(LANGUAGES))
    )


@lru_cache
def _translations(language: str) -> NullTranslations:
    po = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == SOURCE or not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


@lru_cache
def _locale(code: str) -> Locale:
    """Babel's locale, parsed once: parsing looks on disk whether the locale exists (a relay makes five Langs)."""
    return Locale.parse(code)


class Lang:
    """Texts, dates and times for one language, in the service's time zone."""

    def __init__(self, language: str | None, tz: ZoneInfo | str = "Europe/Oslo"):
        self.code = normalize_language(language) or SOURCE
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.locale = _locale(self.code)
        self._t = _translations(self.code)
        self._days: dict[tuple, str] = {}  # day_and_time's parts, formatted once each
        self._times: dict[tuple, str] = {}

    def _(self, msgid: str, **values) -> str:
        text = self._t.gettext(msgid)
        return text.format(**values) if values else text

    def n_(self, singular: str, plural: str, n: int, **values) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **values)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def time(self, at: datetime) -> str:
        return format_time(self.local(at), "HH:mm", locale=self.locale)

    def date(self, at: datetime, fmt: str = "long") -> str:
        return format_date(self.local(at).date(), fmt, locale=self.locale)

    def datetime(self, at: datetime, fmt: str = "medium") -> str:
        return format_datetime(self.local(at), fmt, tzinfo=self.tz, locale=self.locale)

    def day_and_time(self, at: datetime, day_fmt: str, between: str, time_fmt: str) -> str:
        """The same text as datetime(at, day_fmt + between + time_fmt) (with `between` quoted), each part
        formatted once: a month's export dates thousands of entries on thirty days, and Babel's formatting
        is most of what a timeline row costs."""
        local = self.local(at)
        day_key, time_key = (local.date(), day_fmt), (local.hour, local.minute, local.second, time_fmt)
        day = self._days.get(day_key)
        if day is None:
            day = self._days[day_key] = format_date(local.date(), day_fmt, locale=self.locale)
        clock = self._times.get(time_key)
        if clock is None:
            clock = self._times[time_key] = format_time(local, time_fmt, tzinfo=self.tz, locale=self.locale)
        return day + between + clock

    def when(self, at: datetime, now: datetime) -> str:
        """'kl. 15:00' today, 'i morgen kl. 15:00', or the weekday and date further ahead."""
        day = (self.local(at).date() - self.local(now).date()).days
        time = self.time(at)
        if day <= 0:
            return self._("i dag kl. {time}", time=time)
        if day == 1:
            return self._("i morgen kl. {time}", time=time)
        weekday = format_skeleton("EEEEdMMMM", self.local(at), tzinfo=self.tz, locale=self.locale)
        return self._("{day} kl. {time}", day=weekday, time=time)

    def duration_seconds(self, seconds: int) -> str:
        """A call's length: minutes and seconds."""
        minutes, secs = divmod(int(seconds), 60)
        if minutes:
            return self.n_("{n} minutt", "{n} minutter", minutes) + " " + self.n_("{n} sekund", "{n} sekunder", secs)
        return self.n_("{n} sekund", "{n} sekunder", secs)

    def duration(self, delta: timedelta) -> str:
        """Whole minutes and hours, never rounded up: Babel's format_timedelta makes 90 min '2 hours'."""
        minutes = int(delta.total_seconds() // 60)
        hours, minutes = divmod(minutes, 60)
        parts = []
        if hours:
            parts.append(self.n_("{n} time", "{n} timer", hours))
        if minutes or not hours:
            parts.append(self.n_("{n} minutt", "{n} minutter", minutes))
        return " ".join(parts)
