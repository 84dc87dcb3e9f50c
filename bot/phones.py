"""Phone number normalisation to E.164 and masking for logs."""

from __future__ import annotations

import re

import phonenumbers

_E164_SHAPE = re.compile(r"\+[1-9][0-9]{1,14}")


def normalize_phone(text: str, default_region: str = "NO") -> str:
    """Return text as an E.164 number, reading numbers without a country code as default_region."""
    shown = text.strip()
    try:
        number = phonenumbers.parse(shown, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"'{shown}' is not a valid phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"'{shown}' is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_e164(text: str) -> bool:
    """Whether text is a valid phone number written exactly in E.164 form, e.g. "+4798765432"."""
    if not _E164_SHAPE.fullmatch(text):
        return False
    try:
        return normalize_phone(text) == text
    except ValueError:
        return False


def mask_phone(e164: str) -> str:
    """Hide all but the country code and last two digits of a number, e.g. "+47******32"."""
    prefix, rest = "", e164
    if _E164_SHAPE.fullmatch(e164):
        try:
            country_code = str(phonenumbers.parse(e164, None).country_code)
        except phonenumbers.NumberParseException:
            country_code = ""
        prefix, rest = "+" + country_code, e164[1 + len(country_code) :]
    # Short remainders are masked completely so the visible digits never give most of the number away.
    if len(rest) < 6:
        return prefix + "*" * len(rest)
    return prefix + "*" * (len(rest) - 2) + rest[-2:]
