"""SHA-256 hash chain over audit records: canonical form, hashing, verification.

Each record's hash is SHA-256 of the canonical JSON of its fields, including
its own id and the previous record's hash, so changing, deleting, inserting
or reordering any record changes a hash that a later check recomputes. Ids
are consecutive from 1; a gap means a deleted record. A separate chain head
(last id and hash, kept by the writer) catches removal or addition at the end.

Pure: imports nothing from Django, so the same code can verify an exported
trail outside the application.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

# The fields a record's hash covers, in the order people read them.
HASHED_FIELDS = (
    "id",
    "prev_hash",
    "at",
    "actor",
    "role",
    "channel",
    "action",
    "object_type",
    "object_id",
    "old_value",
    "new_value",
    "reason",
)


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_time(at: datetime) -> str:
    """An aware datetime as UTC ISO 8601 with microseconds (the hashed spelling)."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the hashed fields of one record."""
    payload = {}
    for name in HASHED_FIELDS:
        value = fields[name]
        payload[name] = format_time(value) if isinstance(value, datetime) else value
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    id: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    first_broken: BrokenLink | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "first_broken": self.first_broken.as_dict() if self.first_broken else None,
        }


@dataclass(frozen=True)
class ChainHead:
    last_id: int
    last_hash: str


def verify_chain(rows: Iterable[Mapping[str, Any]], head: ChainHead | None = None) -> ChainReport:
    """Recompute the chain over `rows` (in id order) and name the first broken record.

    Each row maps the HASHED_FIELDS plus "hash". The report counts every row
    read even after a break, so `records` is the size of the stored trail.
    """
    expected_id = 1
    prev_hash = GENESIS_HASH
    broken: BrokenLink | None = None
    count = 0
    for row in rows:
        count += 1
        if broken is not None:
            continue
        row_id = int(row["id"])
        if row_id != expected_id:
            if row_id > expected_id:
                missing = (
                    f"record {expected_id} is missing"
                    if row_id == expected_id + 1
                    else f"records {expected_id} to {row_id - 1} are missing"
                )
                broken = BrokenLink(expected_id, f"{missing} (the next stored record is {row_id})")
            else:
                broken = BrokenLink(row_id, f"record id {row_id} is out of order")
            continue
        if record_hash(row) != row["hash"]:
            broken = BrokenLink(row_id, "content does not match its stored hash (altered)")
        elif row["prev_hash"] != prev_hash:
            broken = BrokenLink(
                row_id,
                f"previous-hash link does not match record {row_id - 1} (reordered or replaced)",
            )
        prev_hash = row["hash"]
        expected_id = row_id + 1

    last_id = expected_id - 1
    if broken is None and head is not None:
        if head.last_id > last_id:
            broken = BrokenLink(
                last_id + 1,
                f"record {last_id + 1} is missing: the chain head records {head.last_id} records",
            )
        elif head.last_id < last_id:
            broken = BrokenLink(
                head.last_id + 1,
                f"record {head.last_id + 1} was added outside the audit trail (the chain head ends at {head.last_id})",
            )
        elif last_id > 0 and head.last_hash != prev_hash:
            broken = BrokenLink(last_id, "last record does not match the chain head's hash")
    return ChainReport(ok=broken is None, records=count, first_broken=broken)
