"""Append to and verify the audit chain stored in the trial database.

`append` must run inside the caller's transaction (the action's), so the
audit record commits or rolls back with the change it describes. It locks the
single chain-head row first (SELECT ... FOR UPDATE on PostgreSQL; on SQLite
the IMMEDIATE transaction already holds the database write lock), so two
writers can never chain onto the same predecessor. Once the transaction
commits, `iliad7.audit.anchor` appends a signed checkpoint of the chain head
outside the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

from iliad7.audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    BrokenLink,
    ChainHead,
    ChainReport,
    canonical_json,
    format_time,
    record_hash,
    verify_chain,
)

if TYPE_CHECKING:
    from iliad7.store.models import AuditRecord


def _json_or_empty(value: Any) -> str:
    return "" if value is None else canonical_json(value)


def append(
    *,
    actor: str,
    role: str,
    channel: str,
    action: str,
    object_type: str = "",
    object_id: str = "",
    old: Any = None,
    new: Any = None,
    reason: str = "",
) -> AuditRecord:
    """Chain one audit record onto the trail, in the current transaction."""
    from iliad7.store.models import AuditChainHead, AuditRecord

    if not connection.in_atomic_block:
        raise RuntimeError("audit records are written inside the action's transaction")
    head = AuditChainHead.objects.select_for_update().filter(id=1).first()
    if head is None:  # the first record of the trail (two first writers: one insert wins, both then lock it)
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(id=1, last_id=0, last_hash=GENESIS_HASH)], ignore_conflicts=True
        )
        head = AuditChainHead.objects.select_for_update().get(id=1)
    # Stored at microsecond precision by both backends, so the hash recomputes.
    fields: dict[str, Any] = {
        "id": head.last_id + 1,
        "prev_hash": head.last_hash,
        "at": datetime.now(UTC),
        "actor": actor,
        "role": role,
        "channel": channel,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "old_value": _json_or_empty(old),
        "new_value": _json_or_empty(new),
        "reason": reason,
    }
    record = AuditRecord.objects.create(hash=record_hash(fields), **fields)
    head.last_id = record.id
    head.last_hash = record.hash
    head.save(update_fields=["last_id", "last_hash"])
    from iliad7.audit import anchor

    anchor.after_append()  # a signed checkpoint of the head once this transaction commits
    return record


def _rows() -> Iterator[dict[str, Any]]:
    from iliad7.store.models import AuditRecord

    for row in AuditRecord.objects.order_by("id").values(*HASHED_FIELDS, "hash").iterator(chunk_size=2000):
        row["at"] = format_time(row["at"])
        yield row


def verify() -> ChainReport:
    """Recompute the whole stored chain and compare it with the chain head."""
    from iliad7.store.models import AuditChainHead

    with transaction.atomic():
        # Lock the head as appenders do, so that no append lands between reading
        # the head and reading the rows (it would look like a break).
        stored = AuditChainHead.objects.select_for_update().filter(id=1).first()
        if stored is not None:
            return verify_chain(_rows(), ChainHead(stored.last_id, stored.last_hash))
        report = verify_chain(_rows(), None)
        if report.ok and report.records:
            # Records without a head: the head row was removed outside the trail,
            # so a removal at the end of the chain could no longer be seen.
            last = report.records
            return ChainReport(False, last, BrokenLink(last, "the chain head row is missing"))
        return report
