"""The blinding key: a secret kept outside the trial database, for values blinded readers must not invert.

Two things depend on the arms yet sit where a blinded role or a copy of the database can reach
them: the allocation list's seed (stored with the list so the unblinded statistician can re-derive
it), and digests of arm-dependent data that the audit trail records (a closed report's snapshot,
the contents of the allocation slots). This key seals the first (AES-256-GCM) and keys the second
(HMAC-SHA-256), so neither can be read, nor found by trying every arm vector, from the database
alone (docs/adr/2026-12-04-blinding-against-an-attacker.md).

The key is 32 bytes from the operating system's generator. It is read from the environment
variable `ILIAD7_BLINDING_KEY` (64 hex digits; for servers sharing one PostgreSQL database) or
from `ILIAD7_HOME/blinding_key` (created on first use, mode 0600). It is never written into the
database nor into `iliad7 backup` files: back it up on its own (docs/operations.md). Without it a
sealed seed cannot be opened and keyed digests cannot be checked; the trial data is unaffected.
Each use has its own subkey (HMAC-SHA-256 of the key and a purpose label).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from iliad7.errors import ActionRefused

ENV = "ILIAD7_BLINDING_KEY"
FILE_NAME = "blinding_key"
KEY_BYTES = 32
_SEAL_PREFIX = "aesgcm1"
_SEED_AAD = b"iliad7 allocation seed v1"


class BlindingKeyUnavailable(ActionRefused):
    """The blinding key is not on this server (or is not the one that sealed a value)."""


def _path() -> Path:
    from django.conf import settings

    return Path(settings.ILIAD7_HOME) / FILE_NAME


def _parse(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise BlindingKeyUnavailable(f"{where} is not {KEY_BYTES * 2} hex digits") from None
    if len(key) != KEY_BYTES:
        raise BlindingKeyUnavailable(f"{where} is not {KEY_BYTES * 2} hex digits")
    return key


def _master(*, create: bool) -> bytes | None:
    from_env = os.environ.get(ENV, "").strip()
    if from_env:
        return _parse(from_env, ENV)
    path = _path()
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(KEY_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
    return _parse(path.read_text(encoding="ascii"), str(path))


def _subkey(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, f"iliad7 blinding key: {purpose}".encode(), hashlib.sha256).digest()


def _require(*, create: bool = True) -> bytes:
    master = _master(create=create)
    if master is None:
        raise BlindingKeyUnavailable(f"no blinding key on this server ({ENV} or {_path()})")
    return master


def available() -> bool:
    """Whether this server has a blinding key (without creating one)."""
    try:
        return _master(create=False) is not None
    except BlindingKeyUnavailable:
        return False


def key_id(*, create: bool = True) -> str:
    """A short public name of the key (16 hex digits): says which key sealed or keyed a value."""
    return _subkey(_require(create=create), "key id").hex()[:16]


def keyed_digest(purpose: str, data: bytes, *, create: bool = True) -> str:
    """HMAC-SHA-256 (hex) of `data` under the subkey of `purpose`: unforgeable and not invertible without the key."""
    return hmac.new(_subkey(_require(create=create), purpose), data, hashlib.sha256).hexdigest()


def seal_seed(seed: int) -> str:
    """The allocation seed encrypted and authenticated under the key: `aesgcm1:KEYID:BASE64(nonce + ciphertext)`."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    master = _require()
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_subkey(master, "allocation seed")).encrypt(nonce, seed.to_bytes(8, "big"), _SEED_AAD)
    return f"{_SEAL_PREFIX}:{key_id()}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def open_seed(sealed: str) -> int:
    """The seed a `seal_seed` value holds; BlindingKeyUnavailable if this server's key did not seal it."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    parts = sealed.split(":")
    if len(parts) != 3 or parts[0] != _SEAL_PREFIX:
        raise BlindingKeyUnavailable("the stored seed is not a sealed seed")
    _, sealed_by, body = parts
    master = _require(create=False)
    if sealed_by != key_id(create=False):
        raise BlindingKeyUnavailable(f"the seed was sealed under blinding key {sealed_by}, not this server's")
    try:
        raw = base64.b64decode(body, validate=True)
        plain = AESGCM(_subkey(master, "allocation seed")).decrypt(raw[:12], raw[12:], _SEED_AAD)
    except (InvalidTag, ValueError):
        raise BlindingKeyUnavailable("the sealed seed does not open under this server's blinding key") from None
    return int.from_bytes(plain, "big")
