"""The Twilio stand-in counts GSM-7 from its own table, written out from GSM 03.38 (3GPP TS 23.038), not
from the product's texts: the product's SMS are checked against it, so a mistake is not shared."""

from __future__ import annotations

from bot.sms_text import REPLACEMENTS, gsm_safe
from standins import twilio as standin


def test_it_has_the_specifications_128_codes_with_the_escape_left_out():
    table = standin._GSM7_CODE_TABLE
    assert len(table) == 128 and len(set(table)) == 128
    assert len(standin._GSM7_BASIC) == 127 and "\x1b" not in standin._GSM7_BASIC
    spot = {0x00: "@", 0x02: "$", 0x09: "Ç", 0x0B: "Ø", 0x0E: "Å", 0x10: "Δ", 0x1C: "Æ", 0x1F: "É", 0x24: "¤",
            0x40: "¡", 0x5B: "Ä", 0x5F: "§", 0x60: "¿", 0x7D: "ñ", 0x7F: "à"}
    assert {code: chr(int(table[code], 16)) for code in spot} == spot
    assert standin._GSM7_EXTENSION == set("\f^{}\\[~]|€")


def test_it_counts_an_extension_character_as_two_septets():
    assert standin.sms_segments("€" * 80) == 1 and standin.sms_segments("€" * 81) == 2
    assert standin.sms_encoding("a`b") == "UCS-2"  # the grave accent is not in GSM-7


def test_it_makes_every_look_alike_a_gsm7_character():
    assert all(standin.sms_encoding(twin) == "GSM-7" for twin in REPLACEMENTS.values())
    assert standin.sms_encoding(gsm_safe("Hei\u00a0«Ola» – møtet er 14:00…")) == "GSM-7"
    assert standin.sms_encoding("Blåbærsyltetøy ÆØÅ æøå") == "GSM-7"
