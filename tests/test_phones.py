import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.phones import is_e164, mask_phone, normalize_phone


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
    assert is_e164(result)


def test_it_recognizes_e164_numbers():
    assert is_e164("+4798765432")
    assert is_e164("+380501234567")


@pytest.mark.parametrize(
    "text", ["98765432", "+47 987 65 432", "004798765432", "+4712345", "", "+", "+0123456"]
)
def test_it_rejects_anything_not_written_as_a_valid_e164_number(text):
    assert not is_e164(text)


def test_it_masks_all_but_country_code_and_last_two_digits():
    assert mask_phone("+4798765432") == "+47******32"
    assert mask_phone("+380501234567") == "+380*******67"


def test_it_masks_short_or_odd_input_without_failing():
    assert mask_phone("+4712") == "+47**"
    assert mask_phone("") == ""
    assert mask_phone("98765432") == "******32"


@given(st.text())
def test_it_never_shows_more_than_two_digits_beyond_the_country_code(text):
    masked = mask_phone(text)
    assert len(masked) <= len(text)
    assert sum(ch.isdigit() for ch in masked) <= 2 + 3
