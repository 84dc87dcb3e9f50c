import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.phones import normalize_phone

E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@pytest.mark.parametrize(
    "text",
    ["98765432", "+47 987 65 432", "004798765432", " +4798765432 ", "987 65 432", "+47-987-65-432"],
)
def test_it_normalizes_norwegian_numbers_to_e164(text):
    assert normalize_phone(text) == "+4798765432"


def test_it_keeps_a_foreign_number_with_its_country_code():
    assert normalize_phone("+380 50 123 4567") == "+380501234567"


def test_it_reads_numbers_without_country_code_in_the_default_region():
    assert normalize_phone("050 123 4567", default_region="UA") == "+380501234567"


@pytest.mark.parametrize("text", ["", "12345", "hello", "+47 1234", "+999 123456789", "9876543210987654321"])
def test_it_rejects_invalid_numbers_naming_them(text):
    with pytest.raises(ValueError) as raised:
        normalize_phone(text)
    assert str(raised.value) == f"'{text.strip()}' is not a valid phone number"


@given(st.text())
def test_it_never_fails_on_arbitrary_text_except_with_value_error(text):
    try:
        result = normalize_phone(text)
    except ValueError:
        return
    assert E164.fullmatch(result) and normalize_phone(result) == result
