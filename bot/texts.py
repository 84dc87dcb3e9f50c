"""Texts used in more than one place of the core."""

from __future__ import annotations

from bot.i18n import Lang


def emergency(L: Lang) -> str:
    return L._(
        "Haster det? Ring 113 (medisinsk nødhjelp) eller 112 (politi). "
        "Du kan også ringe Mental Helse på 116 123 eller Alarmtelefonen for barn og unge på 116 111."
    )


def media_word(L: Lang, kind: str | None) -> str:
    words = {
        "photo": L._("[bilde]"),
        "voice": L._("[talemelding]"),
        "audio": L._("[lydfil]"),
        "video": L._("[video]"),
        "video_note": L._("[videomelding]"),
        "document": L._("[dokument]"),
        "sticker": L._("[klistremerke]"),
        "animation": L._("[animasjon]"),
    }
    return words.get(kind or "", L._("[vedlegg]"))


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else name


def intro(L: Lang) -> str:
    """What an unknown sender is told: what this is and how to get in."""
    return L._(
        "Hei! Dette er Tett på, som kobler deg med kontaktpersonen din i oppfølgingstjenesten. "
        "For å bruke den trenger du en kode fra kontaktpersonen din. Send /start og koden, "
        "for eksempel /start ABCD2345."
    )


def intro_sms(L: Lang) -> str:
    """What an unknown number is told by SMS."""
    return L._("Dette nummeret tilhører Tett på i oppfølgingstjenesten. Kontaktpersonen din kan koble deg til.")


def intro_call(L: Lang) -> str:
    """What an unknown caller hears."""
    return L._("Dette er Tett på i oppfølgingstjenesten. Nummeret ditt er ikke registrert. "
               "Haster det, ring 113.")
