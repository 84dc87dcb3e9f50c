"""SMS text: keep it in GSM-7 where possible, and split long texts where a reader expects a break.

One character outside GSM-7 (a non-breaking space, a typographic quote, an en dash) turns the whole
SMS into UCS-2: 70 characters a segment instead of 160, so the same text costs two to three times as
much. Norwegian æ ø å are GSM-7 and stay.
"""

from __future__ import annotations

from collections.abc import Callable

# Look-alikes that templates and phones produce; each has a GSM-7 twin.
REPLACEMENTS = {
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ",
    "«": '"', "»": '"', "“": '"', "”": '"', "„": '"',
    "‘": "'", "’": "'", "‚": "'",
    "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
    "…": "...", "•": "-",
}
# Twilio concatenates up to 1600 characters; stay well below so a part never hits the limit.
MAX_PART = 1500


def gsm_safe(text: str) -> str:
    """Replace look-alike characters with their GSM-7 twins; other characters are left as they are."""
    return "".join(REPLACEMENTS.get(ch, ch) for ch in text)


def split_sms(text: str, limit: int = MAX_PART) -> list[str]:
    """Split at paragraph, sentence or word boundaries into parts of at most `limit` characters."""
    return split_text(gsm_safe(text), limit)


def utf16_length(text: str) -> int:
    """Telegram counts a text's length in UTF-16 code units: most emoji count two."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Split at paragraph, sentence or word boundaries into parts whose `size` is at most `limit`."""
    text = text.strip()
    parts: list[str] = []
    while size(text) > limit:
        fits = _fitting(text, limit, size)
        window = text[:fits]
        cut = max(window.rfind("\n\n"), window.rfind(". "), window.rfind("\n"))
        if cut < fits // 2:
            cut = window.rfind(" ")
        if cut < fits // 2:
            cut = fits - 1  # one unbroken word longer than half a part: cut it
        parts.append(text[: cut + 1].strip())
        text = text[cut + 1:].strip()
    if text or not parts:
        parts.append(text)
    return parts


def _fitting(text: str, limit: int, size: Callable[[str], int]) -> int:
    """How many leading characters of text stay within the limit (at least one)."""
    if size is len:
        return limit
    low, high = 1, min(len(text), limit)
    while low < high:  # size grows with length, so the longest prefix that fits is found by bisection
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low
