"""Checks the PEM keys of an asymmetric JWT algorithm (RS256, ES256, ...) when settings load."""

from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured


def asymmetric_jwt_keys(algorithm: str, signing_key: str, verifying_key: str) -> tuple[str, str]:
    """``(signing_key, verifying_key)`` for ``algorithm``, or :class:`ImproperlyConfigured`.

    The private key is required: without it local login cannot mint tokens. The public key is
    derived from it when not given separately.
    """
    if not signing_key:
        raise ImproperlyConfigured(
            f"JWT_ALGORITHM={algorithm} needs JWT_SIGNING_KEY: the PEM private key that signs the tokens "
            "this service issues (JWT_VERIFYING_KEY, the PEM public key, is derived from it when empty)."
        )
    try:
        private = serialization.load_pem_private_key(signing_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"JWT_SIGNING_KEY is not an unencrypted PEM private key usable with {algorithm}: {exc}"
        ) from exc
    if verifying_key:
        try:
            serialization.load_pem_public_key(verifying_key.encode())
        except ValueError as exc:
            raise ImproperlyConfigured(f"JWT_VERIFYING_KEY is not a PEM public key: {exc}") from exc
        return signing_key, verifying_key
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return signing_key, public.decode()
