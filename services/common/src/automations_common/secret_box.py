"""Encrypts secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256) with rotatable keys:
block secrets in actions, incoming-webhook secrets in ingest."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Stored secrets carry this prefix, so a plaintext value can never pass for a token.
PREFIX = "enc:v1:"


class SecretBox:
    """Encrypts with the first key; decrypts with any, so keys can be rotated."""

    def __init__(self, keys: list[str], setting_name: str = "the secret key setting") -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(_as_fernet_key(key)) for key in keys])
        self._setting_name = setting_name

    @classmethod
    def from_setting(cls, setting: str, setting_name: str = "the secret key setting") -> SecretBox:
        """Comma-separated keys: the first encrypts, every one decrypts."""
        return cls([key.strip() for key in setting.split(",") if key.strip()], setting_name)

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
                f"(was {self._setting_name} changed?)"
            ) from None

    def reveal(self, stored: str) -> str:
        """`stored` decrypted; a value stored before encryption (no prefix) as it is."""
        return self.decrypt(stored) if stored.startswith(PREFIX) else stored


def _as_fernet_key(key: str) -> bytes:
    """A Fernet key as given, or one derived from any other passphrase."""
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return key.encode()
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())


def load_or_create_key_file(data_dir: Path, file_name: str) -> str:
    """The key kept in `data_dir / file_name`, created (mode 0600) on first use. Blocking I/O."""
    path = data_dir / file_name
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
