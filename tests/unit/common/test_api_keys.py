"""API keys: the setting (comma-separated, secret, checked) and the check of one header."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from automations_common.api_keys import MALFORMED, MISSING, WRONG, ApiKeys
from automations_common.settings import ServiceSettings


def test_no_keys_by_default() -> None:
    assert ServiceSettings().accepted_api_keys() == ()


def test_keys_are_comma_separated_and_trimmed() -> None:
    settings = ServiceSettings(api_keys=SecretStr(" old-key, new-key ,,"))
    assert settings.accepted_api_keys() == ("old-key", "new-key")


def test_keys_stay_out_of_reprs() -> None:
    settings = ServiceSettings(api_keys=SecretStr("very-secret"))
    assert "very-secret" not in repr(settings)


@pytest.mark.parametrize("bad", ["with space", "caf\u00e9", "tab\there"])
def test_a_key_that_cannot_travel_in_a_header_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceSettings(api_keys=SecretStr(f"good,{bad}"))
    assert "printable ASCII" in str(caught.value)
    assert bad not in str(caught.value)


def test_the_check_accepts_each_key_and_explains_each_refusal() -> None:
    keys = ApiKeys(["old-key", "new-key"])
    assert keys.refusal("Bearer old-key") is None
    assert keys.refusal("Bearer new-key") is None
    assert keys.refusal("bearer  new-key ") is None  # the scheme is case-insensitive
    assert keys.refusal(None) is MISSING
    assert keys.refusal("Bearer ") is MISSING
    assert keys.refusal("Basic b2xkLWtleQ==") is MALFORMED
    assert keys.refusal("old-key") is MALFORMED
    assert keys.refusal("Bearer old-ke") is WRONG
    assert keys.refusal("Bearer old-key-and-more") is WRONG
    assert "authorization: Bearer <key>" in MISSING.message
    assert "AUTOMATIONS_API_KEY" in MISSING.message


def test_a_check_without_keys_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="install no check"):
        ApiKeys([])
