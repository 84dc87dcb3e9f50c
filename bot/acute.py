"""Words and phrases that signal acute danger. A false alarm costs a worker a look, but alarms that fire on
everyday requests teach workers to ignore them, and a miss can cost a life: matching ignores case,
punctuation and accents, keeps æ ø å as letters of their own, and every list is checked against a corpus of
everyday messages and crisis phrasings in tests/test_acute_words.py."""

from __future__ import annotations

import functools
import re
import unicodedata

# Each entry is a phrase; every word in it matches a word in the message that starts with it
# ("selvmord" matches "selvmordstanker"), in order, with at most two other words between.
# A word ending in "$" matches only itself ("nå$" is not "nabo"); a phrase starting with "=" allows no
# words between its words ("=trenger hjelp nå$" is not "trenger hjelp med leksene nå").
BUILT_IN = {
    "nb": [
        "selvmord", "ta livet mitt", "ta livet av meg", "ta mitt eget liv", "drepe meg selv", "dreper meg selv",
        "vil dø$", "vil ikke leve", "orker ikke leve", "orker ikke mer$ av livet", "skade meg selv",
        "skader meg selv", "kutte meg selv", "kutter meg$", "overdose", "hoppe foran toget", "hopper foran toget",
        "kaste meg foran", "han slår meg", "hun slår meg", "pappa slår meg", "mamma slår meg", "far slår meg",
        "mor slår meg", "de$ slår meg", "blir slått av", "blir slått hjemme", "voldtatt",
        "voldtekt", "=trenger hjelp nå$", "=trenger hjelp med en gang",
    ],
    "nn": [
        "sjølvmord", "sjølmord", "ta livet mitt", "ta livet av meg", "drepe meg sjølv", "vil døy",
        "vil ikkje leve", "orkar ikkje leve", "skade meg sjølv", "kutte meg sjølv", "kuttar meg", "overdose",
        "han slår meg", "ho slår meg", "valdteken", "valdtatt", "valdtekt", "=treng hjelp no$",
    ],
    "en": [
        "suicid", "kill myself", "end my life", "take my own life", "want to die$", "dont want to live",
        "hurt myself", "cut myself", "cutting myself", "self harm", "selfharm", "overdose", "he hits me",
        "she hits me", "beats me up", "raped", "rape$", "=need help now$", "=need help right now$",
    ],
    "uk": [
        "самогубств", "суїцид", "вбити себе", "вбю себе", "покінчити з собою", "не хочу жити", "хочу померти",
        "порізати себе", "ріжу себе", "завдати собі шкоди", "передозуван", "бє мене", "зґвалтув", "згвалтув",
    ],
    "ar": [
        "انتحار", "انتحر", "الانتحار", "اقتل نفسي", "قتل نفسي", "انهي حياتي", "انهاء حياتي",
        "لا اريد ان اعيش", "اريد ان اموت", "اؤذي نفسي", "ايذاء نفسي", "اجرح نفسي", "جرعة زائدة", "يضربني",
        "تضربني", "اغتصاب", "اغتصبني", "اغتصبت",
    ],
    "so": [
        "isdil", "is dil", "naftayda ka qaado", "naftayda qaato", "inaan dhinto", "inaan is dilo",
        "ma rabo inaan noolaado", "is gooy", "is jarjar", "is waxyeel", "i garaac", "i kufsa", "kufsi",
        "kufsaday",
    ],
    "pl": [
        "samobojstw", "samobojcz", "=zabic sie$", "=zabije sie$", "=sie zabic$", "=sie zabije$", "skonczyc ze soba", "nie chce zyc",
        "chce umrzec", "zrobic sobie krzywde", "robie sobie krzywde", "tne sie$", "ciac sie$", "pocielam sie",
        "pocialem sie", "przedawkow", "bije mnie", "mnie bije", "mnie bil", "mnie pobil", "zgwalc", "gwalt$",
    ],
}

_WORD = re.compile(r"\w+\$?", re.UNICODE)
# Letters Norwegian (and Danish) spells as their own: "nå" (now) is not "na", "år" (year) is not "ar".
_OWN_LETTERS = frozenset("æøå")
# Letters with a stroke have no decomposition: fold them by hand (Polish "zgwałcona" is "zgwalcona").
_STROKES = {"ł": "l", "đ": "d", "ħ": "h"}


def _fold_char(ch: str) -> str:
    if ch in _OWN_LETTERS:
        return ch
    if ch in _STROKES:
        return _STROKES[ch]
    return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))


def _fold(text: str) -> str:
    """Lower case without accents (é→e, ó→o, ę→e, Arabic vowel marks dropped), keeping æ ø å."""
    composed = unicodedata.normalize("NFC", text.casefold())
    return "".join(_fold_char(ch) for ch in composed)


def _words(text: str) -> list[str]:
    """The folded words of a message ("$" is not a word character here: a message cannot mark a word exact)."""
    return [w.rstrip("$") for w in _WORD.findall(_fold(text).replace("'", "").replace("’", "")) if w.rstrip("$")]


def _phrase(text: str) -> tuple[list[str], int] | None:
    """A phrase as its words (each maybe ending in "$") and how many other words may stand between them."""
    contiguous = text.startswith("=")
    words = _WORD.findall(_fold(text.lstrip("=")).replace("'", "").replace("’", ""))
    words = [w for w in words if w.rstrip("$")]
    return (words, 0 if contiguous else 2) if words else None


def _phrases(extra: str) -> tuple[tuple[list[str], int], ...]:
    """Every phrase looked for, folded (once per setting: _matcher keeps what is made of them)."""
    phrases = [p for lang in BUILT_IN.values() for p in lang]
    phrases += [p.strip() for p in re.split(r"[,;\n]", extra or "") if p.strip()]
    return tuple(p for p in (_phrase(text) for text in phrases) if p)


def _part(part: str) -> str:
    """One word of a phrase as a pattern over the message's words joined by single spaces."""
    return re.escape(part[:-1]) + r"(?!\S)" if part.endswith("$") else re.escape(part) + r"\S*"


def _pattern(phrase: tuple[list[str], int]) -> str:
    """A phrase: its first word at the start of a word, each next one after at most `gap` other words."""
    parts, gap = phrase
    between = f"(?: \\S+){{0,{gap}}} "
    return r"(?<!\S)" + between.join(_part(part) for part in parts)


@functools.lru_cache(maxsize=8)
def _matcher(extra: str) -> re.Pattern:
    """All phrases as one expression: one pass over a message instead of a loop per phrase and word in
    Python (that loop was a tenth of a relay's handling)."""
    return re.compile("|".join(f"(?:{_pattern(phrase)})" for phrase in _phrases(extra)))


def is_acute(text: str | None, extra_words: str = "") -> bool:
    if not text:
        return False
    return _matcher(extra_words).search(" ".join(_words(text))) is not None
