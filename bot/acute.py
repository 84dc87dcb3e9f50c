"""Words and phrases that signal acute danger. A false alarm costs a worker a look; a miss can cost a life,
so matching is generous: case, punctuation and diacritics are ignored and a word matches its inflections."""

from __future__ import annotations

import re
import unicodedata

# Each entry is a phrase; every word in it matches a word in the message that starts with it
# ("selvmord" matches "selvmordstanker"), in order, with at most two other words between.
BUILT_IN = {
    "nb": [
        "selvmord", "ta livet mitt", "ta livet av meg", "drepe meg", "vil dø", "vil ikke leve",
        "orker ikke leve", "skade meg selv", "kutte meg", "kutter meg", "overdose", "hopper foran",
        "han slår meg", "hun slår meg", "blir slått", "voldtatt", "voldtekt", "trenger hjelp nå",
    ],
    "nn": [
        "sjølvmord", "sjølmord", "ta livet mitt", "ta livet av meg", "drepe meg", "vil døy",
        "vil ikkje leve", "skade meg sjølv", "kutte meg", "overdose", "slår meg", "valdteken", "valdtekt",
    ],
    "en": [
        "suicide", "suicidal", "kill myself", "end my life", "want to die", "hurt myself", "cut myself",
        "self harm", "overdose", "hits me", "raped", "rape", "need help now",
    ],
    "uk": [
        "самогубство", "суїцид", "вбити себе", "покінчити з собою", "не хочу жити", "хочу померти",
        "порізати себе", "завдати собі шкоди", "передозування", "б'є мене", "зґвалтування",
    ],
}

_WORD = re.compile(r"\w+", re.UNICODE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Drop combining marks but keep letters Norwegian spells with them as their own (æ ø å survive NFKD).
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    return _WORD.findall(_fold(text).replace("'", "").replace("’", ""))


def _phrases(extra: str) -> list[list[str]]:
    phrases = [p for lang in BUILT_IN.values() for p in lang]
    phrases += [p.strip() for p in re.split(r"[,;\n]", extra or "") if p.strip()]
    return [w for w in (_words(p) for p in phrases) if w]


def _matches(words: list[str], phrase: list[str]) -> bool:
    for start, word in enumerate(words):
        if not word.startswith(phrase[0]):
            continue
        pos = start
        for part in phrase[1:]:
            window = words[pos + 1: pos + 4]
            hit = next((i for i, w in enumerate(window) if w.startswith(part)), None)
            if hit is None:
                break
            pos += 1 + hit
        else:
            return True
    return False


def is_acute(text: str | None, extra_words: str = "") -> bool:
    if not text:
        return False
    words = _words(text)
    return any(_matches(words, phrase) for phrase in _phrases(extra_words))
