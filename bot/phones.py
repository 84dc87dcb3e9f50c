"""Phone number normalisation to E.164."""

from __future__ import annotations

import phonenumbers


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
