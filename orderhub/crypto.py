"""Encryption at rest for stored credentials (channels, carriers, notification gateways).

Shared infrastructure of the core, so every app can use it without importing
another app; ``channels.crypto`` re-exports these names for old importers.

The key comes from ``CHANNEL_CREDENTIALS_KEY`` (a Fernet key, or several
comma-separated ones, newest first, so keys can be rotated). Only in DEBUG may
it fall back to a key derived from SECRET_KEY, so a development database never
needs an extra setting while production refuses to run without one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with the configured key(s)."""


def _key_material() -> list[str]:
    raw = getattr(settings, "CHANNEL_CREDENTIALS_KEY", "") or os.environ.get(
        "CHANNEL_CREDENTIALS_KEY", ""
    )
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if keys:
        return keys
    # The test runner forces settings.DEBUG off, so read the deployment's own switch.
    debug = settings.DEBUG or os.environ.get("DEBUG", "").lower() in ("1", "true", "yes", "on")
    if not debug:
        raise ImproperlyConfigured(
            "CHANNEL_CREDENTIALS_KEY is not set. Generate one with: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        )
    digest = hashlib.sha256(f"orderhub-channel-credentials:{settings.SECRET_KEY}".encode()).digest()
    return [base64.urlsafe_b64encode(digest).decode()]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in _key_material()])
    except ValueError as exc:
        raise ImproperlyConfigured("CHANNEL_CREDENTIALS_KEY is not a valid Fernet key.") from exc


def encrypt_credentials(data: dict) -> str:
    if not data:
        return ""
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt_credentials(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        # Never include the token or the key in the message.
        raise CredentialsUnreadable(
            "The channel's credentials cannot be decrypted: was CHANNEL_CREDENTIALS_KEY changed?"
        ) from exc


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsUnreadable("Cached secret cannot be decrypted.") from exc


def mask_secret(value) -> str:
    """Show at most the last four characters of a secret, and only of a long one."""
    text = str(value or "")
    if not text:
        return ""
    if len(text) < 12:
        return "••••"
    return "••••" + text[-4:]


def masked(data: dict) -> dict:
    return {key: mask_secret(value) for key, value in sorted(data.items())}


class EncryptedCredentials:
    """For a model with a ``credentials_encrypted`` text field: read, write and
    show its credentials without ever holding them in clear in the database."""

    @property
    def credentials(self) -> dict:
        return decrypt_credentials(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = encrypt_credentials(value or {})

    @property
    def masked_credentials(self) -> dict:
        try:
            return masked(self.credentials)
        except Exception:  # noqa: BLE001 - an unreadable secret is shown as such, never raised
            return {"error": "unreadable"}


class EncryptedSecret:
    """For a model with a ``secret_encrypted`` text field: one secret (a password, token or
    signing key) read and written in clear, stored encrypted like the credentials."""

    @property
    def secret(self) -> str:
        """The secret in clear ("" when none); raises ``CredentialsUnreadable``."""
        return decrypt_text(self.secret_encrypted) if self.secret_encrypted else ""

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = encrypt_text(value) if value else ""

    @property
    def masked_secret(self) -> str:
        try:
            return mask_secret(self.secret)
        except Exception:  # noqa: BLE001 - an unreadable secret is shown as such, never raised
            return "unreadable"
