"""The audit chain anchored outside the database: a signed checkpoint after every committed audited write.

`trail.append` calls `after_append` inside the writing transaction; that
registers `transaction.on_commit`, so a checkpoint is written only once the
database has committed, and one per committed transaction (not per record):
the first callback of a commit reads the chain head (committed data, so it can
never claim a write the database lost), signs it and appends it to every
configured sink; the other callbacks of the same commit do nothing. A crash
between the commit and the checkpoint leaves the chain longer than its last
checkpoint, which verifies. A sink that cannot be written is logged and
skipped: the write itself has committed and must not fail.

Configuration (settings, from the environment):
- `ILIAD7_CHECKPOINT_KEY`: the Ed25519 private key (PEM), made on first use,
  mode 0600; default `ILIAD7_HOME/keys/checkpoint-ed25519.pem`. The public
  keys (`<key_id>.pub`) are kept beside it.
- `ILIAD7_CHECKPOINT_SINKS`: comma-separated sinks (`iliad7.audit.sinks`);
  default `file:ILIAD7_HOME/audit/checkpoints.jsonl`.

`verify()` checks the stored chain against every checkpoint in force;
`with_checkpoints(chain_report)` adds that verdict to `iliad7 audit verify`'s
report. `export_head()` signs the current head for a sponsor to keep, and
`verify_exported(path)` checks the database against such a head.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction

from iliad7.audit.chain import BrokenLink, ChainReport, format_time
from iliad7.audit.checkpoint import (
    AnchorReport,
    Checkpoint,
    head_fields,
    key_id_of,
    load_or_create_private_key,
    parse,
    public_key_from_text,
    public_key_text,
    public_keys_in,
    report,
    sign,
    signature_problem,
)
from iliad7.audit.sinks import Sink, read_entries, sink_from_url

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

logger = logging.getLogger("iliad7.audit")
_DONE = "_iliad7_checkpoint_done"
_lock = threading.Lock()
_keys: dict[Path, Ed25519PrivateKey] = {}
_sinks: dict[tuple[str, ...], list[Sink]] = {}


def key_path() -> Path:
    return Path(settings.ILIAD7_CHECKPOINT_KEY)


def sink_urls() -> tuple[str, ...]:
    return tuple(settings.ILIAD7_CHECKPOINT_SINKS)


def sinks() -> list[Sink]:
    urls = sink_urls()
    with _lock:
        if urls not in _sinks:
            _sinks[urls] = [sink_from_url(url) for url in urls]
        return _sinks[urls]


def signing_key() -> Ed25519PrivateKey:
    path = key_path()
    with _lock:
        if path not in _keys:
            _keys[path] = load_or_create_private_key(path)
        return _keys[path]


def public_keys() -> dict[str, Ed25519PublicKey]:
    """Every public key kept beside the signing key (the current one and any retired ones)."""
    return public_keys_in(key_path().parent)


def now_text() -> str:
    from datetime import UTC, datetime

    return format_time(datetime.now(UTC))


# ---- writing -----------------------------------------------------------------------------------


def after_append() -> None:
    """Ask for a checkpoint once the current transaction commits (called by `trail.append`)."""
    if getattr(connection, _DONE, False):
        setattr(connection, _DONE, False)  # a new transaction since the last checkpoint
    transaction.on_commit(_checkpoint_after_commit)


def _checkpoint_after_commit() -> None:
    # Every audit record of the commit registered this; the first one writes, the rest see it done.
    if getattr(connection, _DONE, False):
        return
    setattr(connection, _DONE, True)
    try:
        head = current_head()
        if head is not None and head[0] > 0:
            write(head_fields(head[0], head[1], now_text(), "commit"))
    except Exception:  # the write has committed; a missing checkpoint only makes the chain longer
        logger.exception("audit checkpoint not written")


def current_head() -> tuple[int, str] | None:
    """The committed chain head (last id, last hash), or None before the first record."""
    from iliad7.store.models import AuditChainHead

    row = AuditChainHead.objects.filter(id=1).values_list("last_id", "last_hash").first()
    return None if row is None else (int(row[0]), str(row[1]))


def write(fields: dict[str, Any]) -> Checkpoint:
    """Sign `fields` and append the checkpoint to every sink (each fsync'd); OSError only when no sink took it."""
    checkpoint = sign(fields, signing_key())
    line = checkpoint.line()
    failures = []
    for sink in sinks():
        try:
            sink.append(line)
        except OSError as exc:
            failures.append(f"{sink.name}: {exc}")
            logger.error("audit checkpoint not written to %s: %s", sink.name, exc)
    if failures and len(failures) == len(sinks()):
        raise OSError("; ".join(failures))
    return checkpoint


def write_head(last_id: int, last_hash: str, source: str, **extra: Any) -> Checkpoint:
    return write(head_fields(last_id, last_hash, now_text(), source, **extra))


def write_restore(
    *, restored: tuple[int, str], superseded: tuple[int, int], reason: str, backup: str, sha256: str
) -> Checkpoint:
    """The signed entry that acknowledges a restore of an older backup (see `iliad7.audit.checkpoint`)."""
    return write(
        {
            "kind": "restore",
            "at": now_text(),
            "restored_last_id": restored[0],
            "restored_last_hash": restored[1],
            "superseded_from": superseded[0],
            "superseded_to": superseded[1],
            "reason": reason,
            "backup": backup,
            "sha256": sha256,
            "marker": uuid.uuid4().hex,
        }
    )


# ---- verifying ---------------------------------------------------------------------------------


def _stored_hashes(ids: list[int]) -> dict[int, str]:
    from iliad7.store.models import AuditRecord

    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(AuditRecord.objects.filter(id__in=chunk).values_list("id", "hash"))
    return found


def _chain_last_id() -> int:
    from django.db.models import Max

    from iliad7.store.models import AuditRecord

    return int(AuditRecord.objects.aggregate(last=Max("id"))["last"] or 0)


def _restore_problem(entry: Checkpoint) -> str | None:
    """A restore entry must have its acknowledgement in the audit trail (the restore's own record)."""
    from iliad7.store.models import AuditRecord

    marker = str(entry.fields["marker"])
    if AuditRecord.objects.filter(action="backup.restore", new_value__contains=marker).exists():
        return None
    return (
        f"the acknowledged restore of {entry.at} (marker {marker}) has no backup.restore record in the "
        "audit trail: its acknowledgement was removed, or the restore did not finish"
    )


def entries_and_keys() -> tuple[list[Checkpoint], list[dict[str, str]], dict[str, Ed25519PublicKey]]:
    entries, unreadable = read_entries(sinks())
    return entries, unreadable, public_keys()


def verify() -> AnchorReport:
    """The stored chain against every checkpoint in force (the log is read before the database)."""
    entries, unreadable, keys = entries_and_keys()
    return report(
        entries,
        keys,
        _stored_hashes,
        _chain_last_id(),
        unreadable=unreadable,
        restore_problem=_restore_problem,
    )


def read_exported(path: Path) -> tuple[Checkpoint, Ed25519PublicKey]:
    """An exported head (`iliad7 audit checkpoint export`) and the public key it carries; ValueError if malformed."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "public_key" not in data:
        raise ValueError("not an exported checkpoint (no public_key)")
    key = public_key_from_text(str(data.pop("public_key")))
    return parse(json.dumps(data), str(path)), key


def verify_exported(path: Path, public_key_file: Path | None = None) -> dict[str, Any]:
    """Whether the database's chain holds the exported head `path` (its signature checked first).

    With `public_key_file` the head must be signed by that key (the sponsor's
    own copy), not only by the key the file carries.
    """
    try:
        checkpoint, key = read_exported(path)
        if public_key_file is not None:
            key = public_key_from_text(public_key_file.read_text())
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        return {"file": str(path), "ok": False, "problem": f"unreadable: {exc}", "first_broken": None}
    result: dict[str, Any] = {"file": str(path), "last_id": checkpoint.fields.get("last_id"), "at": checkpoint.at}
    problem = signature_problem(checkpoint, {key_id_of(key): key})
    if problem is None and checkpoint.kind != "head":
        problem = "not a head checkpoint"
    if problem is not None:
        return {**result, "ok": False, "problem": problem, "first_broken": None}
    from iliad7.audit.checkpoint import compare

    broken = compare([checkpoint], _stored_hashes, _chain_last_id())
    return {
        **result,
        "ok": broken is None,
        "problem": None,
        "first_broken": None if broken is None else broken.as_dict(),
    }


def with_checkpoints(
    chain: ChainReport, *, head_file: Path | None = None, public_key_file: Path | None = None
) -> dict[str, Any]:
    """`iliad7 audit verify`'s report: the chain's `{"ok", "records", "first_broken"}` plus the checkpoints'.

    `ok` holds only when the chain and the checkpoints (and an exported head, if
    given) all agree; `first_broken` is the chain's own break when there is
    one, else the first record the checkpoints find missing or changed.
    """
    anchored = verify()
    result = chain.as_dict()
    result["checkpoints"] = anchored.as_dict()
    breaks: list[BrokenLink | dict[str, Any] | None] = [chain.first_broken, anchored.first_broken]
    ok = chain.ok and anchored.ok
    if head_file is not None:
        exported = verify_exported(head_file, public_key_file)
        result["exported_head"] = exported
        ok = ok and bool(exported["ok"])
        breaks.append(exported["first_broken"])
    first = next((b for b in breaks if b is not None), None)
    result["ok"] = ok
    result["first_broken"] = first.as_dict() if isinstance(first, BrokenLink) else first
    return result


def export_head() -> dict[str, Any]:
    """Sign the current chain head now (also appended to the sinks) and return it with the public key.

    Refused (ValueError) when the chain or the checkpoints do not verify (a
    sponsor must not be handed the head of a chain that is already broken), or
    when no sink takes it.
    """
    from iliad7.audit import trail

    chain = trail.verify()
    anchored = verify()
    if not chain.ok or not anchored.ok:
        broken = chain.first_broken or anchored.first_broken
        where = f" at record {broken.id}: {broken.reason}" if broken else ""
        raise ValueError(f"the audit trail does not verify{where}; run `iliad7 audit verify`")
    head = current_head() or (0, "0" * 64)
    try:
        checkpoint = write_head(head[0], head[1], "export")
    except OSError as exc:
        raise ValueError(f"the head could not be written to any checkpoint sink: {exc}") from exc
    return {**checkpoint.as_dict(), "public_key": public_key_text(signing_key().public_key())}
