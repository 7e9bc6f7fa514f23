"""Encrypts block secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256) with rotatable keys."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Stored secrets carry this prefix, so a plaintext value can never pass for a token.
PREFIX = "enc:v1:"
KEY_FILE_NAME = "actions-secret.key"


class SecretBox:
    """Encrypts with the first key; decrypts with any, so keys can be rotated."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(_as_fernet_key(key)) for key in keys])

    @classmethod
    def from_setting(cls, setting: str) -> SecretBox:
        return cls([key.strip() for key in setting.split(",") if key.strip()])

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            raise ValueError("not an encrypted value")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ValueError(
                "a stored secret cannot be decrypted with the configured keys "
                "(was ACTIONS_SECRET_KEY changed?)"
            ) from None


def _as_fernet_key(key: str) -> bytes:
    """A Fernet key as given, or one derived from any other passphrase."""
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return key.encode()
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())


def load_or_create_key_file(data_dir: Path) -> str:
    """The key kept under `data_dir`, created (mode 0600) on first use. Blocking I/O."""
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    # O_EXCL: two processes starting together must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
