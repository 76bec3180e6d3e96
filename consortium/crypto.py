"""Identifiers at rest: field-by-field AES-GCM encryption and keyed lookup hashes, both with key ids.

What is decided here, and in what order:

1. **Encryption** (``encrypt``/``decrypt``): AES-256-GCM from ``cryptography`` with a fresh 96-bit
   nonce per value.  A stored value reads ``v1:<key id>:<base64url(nonce + ciphertext + tag)>``; the
   associated data is the column's name (``records.patient.phone``), so a value copied into another
   column does not decrypt.  Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (key id → base64 of
   32 bytes); new values are written under ``FIELD_ENCRYPTION_KEY_ID``; any key of the ring decrypts.
2. **Lookup hashes** (``lookup_hash``/``lookup_hashes``): HMAC-SHA256 under a key of their own,
   ``settings.IDENTIFIER_HASH_KEYS`` (key id → secret), written as ``<key id>:<hex>``.  New values
   are hashed under ``IDENTIFIER_HASH_KEY_ID``; a lookup asks for the hash under every key of the
   ring, so rows not yet re-hashed are found while ``rotate_identifier_keys`` runs.
3. **Rotation**: put the new key in the ring and make it the writing key, run the command (it
   re-encrypts and re-hashes in small batches, reads keep working throughout), then drop the old
   key once the command reports no value left under it.

An empty value stays empty: whether a patient has a phone at all is not hidden, only the number.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

VERSION = "v1"
_NONCE_BYTES = 12
_ciphers: dict[tuple[str, str], AESGCM] = {}


class DecryptionError(ValueError):
    """A stored value is not an envelope of this platform, names an unknown key, or fails its tag."""


def _cipher(key_id: str) -> AESGCM:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if key_id not in keys:
        raise DecryptionError(f"no field encryption key with id {key_id!r} in FIELD_ENCRYPTION_KEYS")
    material = keys[key_id]
    cipher = _ciphers.get((key_id, material))
    if cipher is None:
        cipher = _ciphers[(key_id, material)] = AESGCM(base64.b64decode(material))
    return cipher


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encrypt(value: str, context: str, key_id: str | None = None) -> str:
    """The envelope of ``value`` under the writing key (or ``key_id``), bound to ``context``."""
    if value == "":
        return ""
    key_id = key_id or settings.FIELD_ENCRYPTION_KEY_ID
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(key_id).encrypt(nonce, value.encode(), context.encode())
    return f"{VERSION}:{key_id}:{_b64(nonce + sealed)}"


def split(envelope: str) -> tuple[str, str]:
    """``(key id, payload)`` of an envelope; :class:`DecryptionError` if it is not one."""
    parts = envelope.split(":", 2)
    if len(parts) != 3 or parts[0] != VERSION or not parts[1]:
        raise DecryptionError("not an encrypted value")
    return parts[1], parts[2]


def is_envelope(value: str) -> bool:
    try:
        split(value)
    except DecryptionError:
        return False
    return True


def key_id_of(envelope: str) -> str:
    return split(envelope)[0] if envelope else ""


def decrypt(envelope: str, context: str) -> str:
    if envelope == "":
        return ""
    key_id, payload = split(envelope)
    try:
        raw = _unb64(payload)
        return _cipher(key_id).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError) as exc:
        if isinstance(exc, DecryptionError):
            raise
        raise DecryptionError(f"value under key {key_id!r} does not decrypt for {context}") from None


# --- lookup hashes ---------------------------------------------------------------------------


_keyed: dict[str, "hmac.HMAC"] = {}


def _digest(secret: str, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``kind:value`` under ``secret``, from a copy of the keyed state made once per key.

    Not ``hmac.digest``: that one-shot call lets go of the GIL for every value, and a batch hashes
    thousands while its reader thread validates the next chunk, so each value cost a thread switch
    (3 s of a 100,000-visit landing, for 0.1 s of hashing).  A copy's short update keeps the GIL.
    """
    keyed = _keyed.get(secret)
    if keyed is None:
        keyed = _keyed[secret] = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    state = keyed.copy()
    state.update(f"{kind}:{value}".encode())
    return state.hexdigest()


def lookup_hash(kind: str, value: str, key_id: str | None = None) -> str:
    """The hash new rows store: ``<key id>:<hex>`` under the writing hash key (or ``key_id``)."""
    key_id = key_id or settings.IDENTIFIER_HASH_KEY_ID
    return f"{key_id}:{_digest(settings.IDENTIFIER_HASH_KEYS[key_id], kind, value)}"


def lookup_hashes(kind: str, value: str) -> list[str]:
    """The value's hash under every key of the ring, the writing key first: what a lookup must ask for."""
    return [lookup_hash(kind, value), *older_lookup_hashes(kind, value)]


def older_lookup_hashes(kind: str, value: str) -> list[str]:
    """The value's hash under every key of the ring but the writing one (none outside a rotation)."""
    keys = settings.IDENTIFIER_HASH_KEYS
    return [
        f"{key_id}:{_digest(keys[key_id], kind, value)}"
        for key_id in _ring_order(settings.IDENTIFIER_HASH_KEY_ID, tuple(keys))[1:]
    ]


@functools.lru_cache(maxsize=16)
def _ring_order(primary: str, key_ids: tuple[str, ...]) -> tuple[str, ...]:
    return (primary, *sorted(k for k in key_ids if k != primary))


def hash_key_id_of(stored: str) -> str:
    return stored.split(":", 1)[0] if ":" in stored else ""
