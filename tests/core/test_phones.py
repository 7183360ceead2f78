"""The phone normaliser the providers and the blind indexes share: every spelling of one number is one
value, and anything else is refused."""

from __future__ import annotations

import pytest

from core.phones import normalize_e164


@pytest.mark.parametrize("spelling", ["+1 (650) 555-1234", "0016505551234", "16505551234", " +1.650.555.1234 "])
def test_every_spelling_of_a_number_is_one_value(spelling: str) -> None:
    assert normalize_e164(spelling) == "+16505551234"


@pytest.mark.parametrize("value", ["", "+0650555123", "1234567", "1234567890123456", "+1 650 CALL ME", "--"])
def test_anything_but_8_to_15_digits_with_a_country_code_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="international form"):
        normalize_e164(value)
