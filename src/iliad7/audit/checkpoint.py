"""Signed checkpoints of the audit chain head, kept outside the database: format, keys, comparison.

The hash chain proves that no stored record was changed, but a chain whose
tail was cut and whose head row was set to what is left, or an older copy of
the whole database, is still a valid chain. A checkpoint is the chain head
(last id, last hash, time) signed with an Ed25519 key that the database does
not hold, appended to a log outside the database after each committed write
(`iliad7.audit.anchor`). Verification then asks: does the database's chain
still hold every checkpointed head, with the same hash?

Entries are one canonical-JSON object per line, the signed fields plus `sig`
(base64 of the Ed25519 signature of the canonical JSON of the other fields):

- `kind: "head"`: `last_id`, `last_hash`, `at` (UTC ISO 8601), `key_id`,
  `source` (`commit`, `export`, `backup`, `restore`) and, for a backup, the
  backup file's name and SHA-256;
- `kind: "restore"`: an acknowledged restore of an older backup (a rollback):
  the restored head (`restored_last_id`, `restored_last_hash`), the first
  record of the old chain the restored one does not hold (`superseded_from`)
  and the latest head checkpointed before it (`superseded_to`), the reason,
  the backup file and its SHA-256, and a `marker` that the restore's own
  audit record repeats. Head checkpoints written before it from
  `superseded_from` on are superseded: the records they name were knowingly
  rolled back.

`key_id` is the first 16 hex digits of the SHA-256 of the raw public key.
Pure: no Django; the file sinks are in `iliad7.audit.sinks`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from iliad7.audit.chain import BrokenLink, canonical_json

FORMAT_VERSION = 1
KINDS = ("head", "restore")
PUBLIC_KEY_SUFFIX = ".pub"


# ---- keys --------------------------------------------------------------------------------------


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    """The short name of a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def public_key_text(key: Ed25519PublicKey) -> str:
    """A public key as base64 of its 32 raw bytes (what an exported head carries)."""
    return base64.b64encode(public_key_bytes(key)).decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A public key from base64 of its raw bytes, or from a PEM SubjectPublicKeyInfo; ValueError otherwise."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        loaded = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return loaded
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not base64 of an Ed25519 public key") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _write_new(path: Path, data: bytes, mode: int) -> bool:
    """Write `data` to `path` only if it does not exist, atomically (a reader never sees half a key)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # fails if another process made the key first
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path` (PEM, PKCS#8), made once with mode 0600 (its folder 0700) when missing.

    Its public key is kept beside it as `<key_id>.pub`, so that checkpoints
    signed with a key retired later can still be checked.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_new(path, pem, 0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    public = loaded.public_key()
    pub_path = path.parent / f"{key_id_of(public)}{PUBLIC_KEY_SUFFIX}"
    if not pub_path.exists():
        _write_new(pub_path, (public_key_text(public) + "\n").encode("ascii"), 0o644)
    return loaded


def public_keys_in(folder: Path) -> dict[str, Ed25519PublicKey]:
    """Every `*.pub` public key in `folder`, by key id (unreadable files are skipped)."""
    found: dict[str, Ed25519PublicKey] = {}
    if not folder.is_dir():
        return found
    for entry in sorted(folder.glob(f"*{PUBLIC_KEY_SUFFIX}")):
        try:
            key = public_key_from_text(entry.read_text())
        except (OSError, ValueError):
            continue
        found[key_id_of(key)] = key
    return found


# ---- entries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """One signed entry of the checkpoint log: its signed fields and the signature."""

    fields: dict[str, Any]
    sig: str
    origin: str = ""  # where it was read (sink and line), for reports

    @property
    def kind(self) -> str:
        return str(self.fields.get("kind", ""))

    @property
    def last_id(self) -> int:
        return int(self.fields["last_id"])

    @property
    def last_hash(self) -> str:
        return str(self.fields["last_hash"])

    @property
    def at(self) -> str:
        return str(self.fields.get("at", ""))

    @property
    def key_id(self) -> str:
        return str(self.fields.get("key_id", ""))

    def line(self) -> bytes:
        """The entry as one log line (canonical JSON and a newline)."""
        return (canonical_json({**self.fields, "sig": self.sig}) + "\n").encode("utf-8")

    def as_dict(self) -> dict[str, Any]:
        return {**self.fields, "sig": self.sig}


def sign(fields: Mapping[str, Any], key: Ed25519PrivateKey) -> Checkpoint:
    """Sign `fields` (with `v` and `key_id` added) into a checkpoint."""
    signed = {**fields, "v": FORMAT_VERSION, "key_id": key_id_of(key.public_key())}
    if signed.get("kind") not in KINDS:
        raise ValueError(f"unknown checkpoint kind {signed.get('kind')!r}")
    signature = key.sign(canonical_json(signed).encode("utf-8"))
    return Checkpoint(signed, base64.b64encode(signature).decode("ascii"))


def head_fields(last_id: int, last_hash: str, at: str, source: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "head", "last_id": int(last_id), "last_hash": last_hash, "at": at, "source": source, **extra}


def parse(text: str, origin: str = "") -> Checkpoint:
    """One log line as a checkpoint; ValueError saying why it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    sig = value.pop("sig", None)
    value.pop("retain_until", None)  # written by an object sink beside the signed fields
    if not isinstance(sig, str):
        raise ValueError("no signature")
    if value.get("kind") not in KINDS:
        raise ValueError(f"unknown kind {value.get('kind')!r}")
    needed = ("last_id", "last_hash", "at", "key_id") if value["kind"] == "head" else ("at", "key_id")
    for name in needed:
        if name not in value:
            raise ValueError(f"no {name}")
    if value["kind"] == "restore":
        for name in ("restored_last_id", "restored_last_hash", "superseded_from", "superseded_to", "marker"):
            if name not in value:
                raise ValueError(f"no {name}")
    elif not isinstance(value["last_id"], int) or isinstance(value["last_id"], bool):
        raise ValueError("last_id is not a whole number")
    return Checkpoint(value, sig, origin)


def signature_problem(checkpoint: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """None when the entry's signature verifies with its key; otherwise what is wrong."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        return f"signed with unknown key {checkpoint.key_id!r}"
    try:
        signature = base64.b64decode(checkpoint.sig, validate=True)
        key.verify(signature, canonical_json(checkpoint.fields).encode("utf-8"))
    except (binascii.Error, InvalidSignature, ValueError):
        return "the signature does not verify (forged or altered)"
    return None


# ---- comparison with a chain -------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorReport:
    """What the checkpoints say about a chain; `first_broken` names the first missing or changed record."""

    ok: bool
    checked: int
    latest: dict[str, Any] | None
    first_broken: BrokenLink | None = None
    bad_signatures: tuple[dict[str, str], ...] = ()
    superseded: int = 0
    restores: tuple[dict[str, Any], ...] = ()
    unreadable: tuple[dict[str, str], ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "latest": self.latest,
            "first_broken": self.first_broken.as_dict() if self.first_broken else None,
            "bad_signatures": list(self.bad_signatures),
            "superseded": self.superseded,
            "restores": list(self.restores),
            "unreadable": list(self.unreadable),
            "problems": list(self.problems),
        }


def _head_summary(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"last_id": checkpoint.last_id, "last_hash": checkpoint.last_hash, "at": checkpoint.at}


def active_heads(
    entries: Iterable[Checkpoint], keys: Mapping[str, Ed25519PublicKey]
) -> tuple[list[Checkpoint], list[Checkpoint], list[dict[str, str]], int]:
    """(head checkpoints in force, restore entries, signature failures, superseded count).

    Entries are de-duplicated (the same entry in two sinks is one).
    A head is superseded by a later restore entry when it names a record from
    that restore's `superseded_from` on.
    """
    seen: set[str] = set()
    heads: list[Checkpoint] = []
    restores: list[Checkpoint] = []
    bad: list[dict[str, str]] = []
    for entry in entries:
        whole = entry.line().decode("utf-8")
        if whole in seen:
            continue
        seen.add(whole)
        problem = signature_problem(entry, keys)
        if problem is not None:
            bad.append({"origin": entry.origin, "problem": problem})
            continue
        (heads if entry.kind == "head" else restores).append(entry)
    in_force = []
    superseded = 0
    for head in heads:
        if any(r.at > head.at and head.last_id >= int(r.fields["superseded_from"]) for r in restores):
            superseded += 1
        else:
            in_force.append(head)
    return in_force, restores, bad, superseded


def compare(
    heads: list[Checkpoint],
    hashes: Callable[[list[int]], Mapping[int, str]],
    chain_last_id: int,
) -> BrokenLink | None:
    """The first record the chain lacks or holds changed, judged by the checkpointed heads.

    `hashes(ids)` gives the chain's stored hash of each id it holds;
    `chain_last_id` is the chain's last id. A checkpoint beyond the chain's
    end means records were cut (or the database is an older copy); a
    checkpoint whose record has another hash means the chain was rewritten
    from somewhere after the last checkpoint that still matches.
    """
    ordered = sorted((h for h in heads if h.last_id > 0), key=lambda h: (h.last_id, h.at))
    stored = hashes(sorted({h.last_id for h in ordered if h.last_id <= chain_last_id}))
    matched: list[int] = []
    for head in ordered:
        record_id = head.last_id
        have = stored.get(record_id)
        if have == head.last_hash:
            matched.append(record_id)
            continue
        if have is None and record_id > chain_last_id:
            first = chain_last_id + 1
            span = f"record {first} is" if first == record_id else f"records {first} to {record_id} are"
            return BrokenLink(
                first,
                f"{span} missing: the checkpoint of {head.at} recorded the chain up to record {record_id} "
                f"(hash {head.last_hash[:16]}...), the database's chain ends at {chain_last_id} "
                "(a cut tail, or an older copy of the database)",
            )
        first = max((i for i in matched if i < record_id), default=0) + 1
        where = "is missing" if have is None else f"has hash {have[:16]}... in the database"
        return BrokenLink(
            first,
            f"the chain differs from the checkpoint of {head.at} from record {first} on at the latest: "
            f"record {record_id} {where}, the checkpoint says {head.last_hash[:16]}... "
            "(records rewritten, or an older copy of the database written over)",
        )
    return None


def report(
    entries: Iterable[Checkpoint],
    keys: Mapping[str, Ed25519PublicKey],
    hashes: Callable[[list[int]], Mapping[int, str]],
    chain_last_id: int,
    *,
    unreadable: Iterable[dict[str, str]] = (),
    restore_problem: Callable[[Checkpoint], str | None] = lambda _: None,
) -> AnchorReport:
    """The whole verdict of a checkpoint log over one chain (see `compare`)."""
    heads, restores, bad, superseded = active_heads(entries, keys)
    broken = compare(heads, hashes, chain_last_id)
    problems = []
    restore_rows = []
    for entry in sorted(restores, key=lambda r: r.at):
        problem = restore_problem(entry)
        if problem is not None:
            problems.append(problem)
        restore_rows.append(
            {
                "at": entry.at,
                "restored_last_id": entry.fields["restored_last_id"],
                "superseded_from": entry.fields["superseded_from"],
                "superseded_to": entry.fields["superseded_to"],
                "reason": entry.fields.get("reason", ""),
                "marker": entry.fields["marker"],
            }
        )
    latest = max(heads, key=lambda h: (h.last_id, h.at), default=None)
    return AnchorReport(
        ok=broken is None and not bad and not problems,
        checked=len(heads),
        latest=None if latest is None else _head_summary(latest),
        first_broken=broken,
        bad_signatures=tuple(bad),
        superseded=superseded,
        restores=tuple(restore_rows),
        unreadable=tuple(unreadable),
        problems=tuple(problems),
    )
