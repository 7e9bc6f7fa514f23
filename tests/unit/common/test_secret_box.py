"""SecretBox: secrets at rest, readable with any configured key, never passed off as plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest

from automations_common.secret_box import SecretBox, load_or_create_key_file


def test_secret_box_round_trip_and_rotation(tmp_path: Path) -> None:
    old = load_or_create_key_file(tmp_path, "some-secret.key")
    assert load_or_create_key_file(tmp_path, "some-secret.key") == old
    assert (tmp_path / "some-secret.key").stat().st_mode & 0o777 == 0o600
    sealed = SecretBox.from_setting(old).encrypt("hunter2")
    assert "hunter2" not in sealed
    rotated = SecretBox.from_setting(f"a new passphrase,{old}")
    assert rotated.decrypt(sealed) == "hunter2"
    with pytest.raises(ValueError, match=r"cannot be decrypted .*was SOME_KEY changed"):
        SecretBox.from_setting("another key", "SOME_KEY").decrypt(sealed)


def test_a_plaintext_value_is_never_taken_for_a_token() -> None:
    box = SecretBox.from_setting("a passphrase")
    with pytest.raises(ValueError, match="not an encrypted value"):
        box.decrypt("hunter2")
    # `reveal` reads values stored before encryption was introduced as they are.
    assert box.reveal("hunter2") == "hunter2"
    assert box.reveal(box.encrypt("hunter2")) == "hunter2"
