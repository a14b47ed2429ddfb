"""Re-export of ``orderhub.crypto`` (credential encryption moved to the core).

Kept so old importers keep working; new code imports from ``orderhub.crypto``.
"""

from orderhub.crypto import (  # noqa: F401 - re-exported names
    CredentialsUnreadable,
    EncryptedCredentials,
    decrypt_credentials,
    decrypt_text,
    encrypt_credentials,
    encrypt_text,
    mask_secret,
    masked,
)
