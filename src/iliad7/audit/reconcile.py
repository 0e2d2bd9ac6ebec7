"""Reconcile the trial tables with the audit trail: every row must be what the trail says happened.

The hash chain proves the trail was not changed; it says nothing about the tables beside it. A
row written around the actions (an `UPDATE store_participant SET status=...`, an item value version
inserted by hand, a slot's arm changed with the triggers dropped) leaves the chain intact. This
module replays what the trail recorded and compares it with the current state:

- participants: each was created (`participant.create`); its status is the one the latest
  participant record that carries a status says, and its USUBJID the one its randomization gave;
- allocation: each list has its generation record; each slot still has the keyed digest that
  record holds (needs the blinding key, which keeps the digests from telling anything about the
  arms); each assigned slot has the randomization record of that participant, slot, number and
  kit code, and each randomization record its slot;
- item values, screening versions, consents, preparations and doses given: each row has the
  record that wrote it, with the same content, and each such record still has its row;
- role grants: each user holds the roles their latest account record gave;
- the append-only triggers and transition guards are all in place.

Every problem names the table and the row. Nothing here writes; `iliad7 audit verify` calls
`reconcile()` after the chain check and reports both (ok only when both are).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Audit actions whose records the reconciliation replays.
_ACTIONS = (
    "participant.create",
    "participant.transition",
    "screening.fail",
    "screening.save",
    "consent.record",
    "consent.reconsent",
    "participant.randomize",
    "allocation.generate",
    "item.record",
    "item.correct",
    "dose.prepare",
    "dose.given",
    "user.create",
    "user.roles_changed",
)
MAX_LISTED = 200  # problems listed in full; the count is always complete


@dataclass(frozen=True)
class Problem:
    table: str
    row: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"table": self.table, "row": self.row, "problem": self.problem}

    def __str__(self) -> str:
        return f"{self.table} {self.row}: {self.problem}"


@dataclass
class Reconciliation:
    """What `reconcile` checked and found."""

    checked: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, table: str, row: str, problem: str) -> None:
        self.problems.append(Problem(table, row, problem))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": dict(self.checked),
            "problem_count": len(self.problems),
            "problems": [p.as_dict() for p in self.problems[:MAX_LISTED]],
            "skipped": list(self.skipped),
        }

    def lines(self) -> list[str]:
        """Human-readable summary lines for the CLI."""
        rows = sum(self.checked.values())
        if self.ok:
            text = [f"ok: {rows} rows of trial data reconcile with the audit trail"]
        else:
            text = [f"NOT RECONCILED: {len(self.problems)} problem(s) in {rows} rows of trial data"]
            text += [f"  {p}" for p in self.problems[:MAX_LISTED]]
            if len(self.problems) > MAX_LISTED:
                text.append(f"  ... and {len(self.problems) - MAX_LISTED} more")
        text += [f"  skipped: {s}" for s in self.skipped]
        return text


@dataclass
class _Trail:
    """The replayed trail: what each kind of row should be, by its natural key."""

    created: dict[str, int] = field(default_factory=dict)  # screening number -> record id
    status: dict[str, tuple[int, str]] = field(default_factory=dict)  # screening number -> (record id, status)
    randomized: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # screening number -> new
    generated: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # list id -> new
    items: dict[tuple[str, int], tuple[int, str, str]] = field(default_factory=dict)  # (key, version) -> value
    screenings: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)  # (sn, version) -> verdict
    consents: dict[int, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)  # consent id -> (sn, new)
    prepared: dict[tuple[str, int], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    given: dict[tuple[str, int], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    roles: dict[str, tuple[int, list[str]]] = field(default_factory=dict)  # username -> roles


def _records() -> Iterator[tuple[int, str, str, str, dict[str, Any]]]:
    from iliad7.store.models import AuditRecord

    rows = (
        AuditRecord.objects.filter(action__in=_ACTIONS)
        .order_by("id")
        .values_list("id", "action", "object_type", "object_id", "new_value")
        .iterator(chunk_size=2000)
    )
    for record_id, action, object_type, object_id, new_value in rows:
        try:
            new = json.loads(new_value) if new_value else {}
        except json.JSONDecodeError:
            new = {}
        yield record_id, action, object_type, object_id, new if isinstance(new, dict) else {}


def _replay() -> _Trail:
    trail = _Trail()
    for record_id, action, object_type, object_id, new in _records():
        if object_type == "participant":
            if action == "participant.create":
                trail.created[object_id] = record_id
            if "status" in new:
                trail.status[object_id] = (record_id, str(new["status"]))
            if action == "participant.randomize":
                trail.randomized[object_id] = (record_id, new)
            elif action in ("consent.record", "consent.reconsent") and "consent" in new:
                trail.consents[int(new["consent"])] = (record_id, object_id, new)
            elif action == "dose.prepare" and "dose_number" in new:
                trail.prepared[(object_id, int(new["dose_number"]))] = (record_id, new)
            elif action == "dose.given" and "dose_number" in new:
                trail.given[(object_id, int(new["dose_number"]))] = (record_id, new)
        elif action == "allocation.generate" and object_id.isdigit():
            trail.generated[int(object_id)] = (record_id, new)
        elif action in ("item.record", "item.correct") and "version" in new:
            trail.items[(object_id, int(new["version"]))] = (record_id, str(new.get("value")), str(new.get("unit")))
        elif action == "screening.save" and "version" in new:
            number = object_id.rsplit("/", 1)[0]
            trail.screenings[(number, int(new["version"]))] = (record_id, str(new.get("verdict")))
        elif action in ("user.create", "user.roles_changed") and "roles" in new:
            trail.roles[object_id] = (record_id, sorted(str(r) for r in new["roles"]))
    return trail


def reconcile() -> Reconciliation:
    """Compare the trial tables with what the audit trail says happened (read-only)."""
    from django.db import connection, transaction

    result = Reconciliation()
    # One consistent snapshot: on PostgreSQL a repeatable-read view would be stricter, but
    # reading inside one transaction is what the chain check does too.
    with transaction.atomic():
        trail = _replay()
        _participants(trail, result)
        _allocation(trail, result)
        _items(trail, result)
        _screenings(trail, result)
        _consents(trail, result)
        _doses(trail, result)
        _roles(trail, result)
        _triggers(connection, result)
    return result


def _participants(trail: _Trail, result: Reconciliation) -> None:
    from iliad7.store.models import Participant

    seen = set()
    rows = Participant.objects.values_list("id", "screening_number", "status", "usubjid").order_by("id")
    for pk, number, status, usubjid in rows.iterator(chunk_size=2000):
        seen.add(number)
        row = f"{number} (id {pk})"
        if number not in trail.created:
            result.add("store_participant", row, "has no participant.create audit record")
            continue
        recorded = trail.status.get(number)
        if recorded is not None and recorded[1] != status:
            result.add(
                "store_participant", row,
                f"status is {status!r}, but the audit trail's last status for it is {recorded[1]!r} "
                f"(record {recorded[0]})",
            )  # fmt: skip
        randomized = trail.randomized.get(number)
        want = None if randomized is None else randomized[1].get("usubjid")
        if (usubjid or None) != (want or None):
            result.add("store_participant", row, f"USUBJID is {usubjid!r}, but the audit trail gives {want!r}")
    for number, record_id in trail.created.items():
        if number not in seen:
            result.add("store_participant", number, f"created by audit record {record_id} but not stored")
    result.checked["participants"] = len(seen)


def _allocation(trail: _Trail, result: Reconciliation) -> None:
    from iliad7.store import blinding_key
    from iliad7.store.actions.allocation import assigned_slot_rows, slot_digest_problems
    from iliad7.store.models import AllocationList

    lists = list(AllocationList.objects.order_by("id").values_list("id", flat=True))
    for list_id in lists:
        if list_id not in trail.generated:
            result.add("store_allocationlist", f"id {list_id}", "has no allocation.generate audit record")
    with_digests = [(i, new["slot_digests"]) for i, (_, new) in trail.generated.items() if "slot_digests" in new]
    older = sorted(i for i, (_, new) in trail.generated.items() if "slot_digests" not in new)
    if older:
        result.skipped.append(f"allocation slot contents of list(s) {older}: generated before slot digests were kept")
    if not with_digests:
        pass
    elif blinding_key.available():
        for slot_id, number, problem in slot_digest_problems(with_digests):
            result.add("store_allocationslot", f"{number} (id {slot_id})" if slot_id else number, problem)
    else:
        result.skipped.append("allocation slot contents: no blinding key on this server to check their digests")
    by_participant: dict[str, tuple[int, str, str, int]] = {}
    count = 0
    for slot_id, list_id, number, kit_code, screening_number in assigned_slot_rows():
        count += 1
        by_participant[screening_number] = (slot_id, number, kit_code, list_id)
        recorded = trail.randomized.get(screening_number)
        row = f"{number} (id {slot_id})"
        if recorded is None:
            result.add("store_allocationslot", row, f"is assigned to {screening_number} without a randomization record")
            continue
        new = recorded[1]
        said = (new.get("slot"), new.get("randomization_number"), new.get("kit_code"), new.get("allocation_list"))
        if said != (slot_id, number, kit_code, list_id):
            result.add(
                "store_allocationslot", row,
                f"is assigned to {screening_number}, but randomization record {recorded[0]} gave that participant "
                f"slot {new.get('slot')} ({new.get('randomization_number')})",
            )  # fmt: skip
    for screening_number, (record_id, _) in trail.randomized.items():
        if screening_number not in by_participant:
            result.add(
                "store_allocationslot", screening_number,
                f"randomized by audit record {record_id}, but no slot is assigned to the participant",
            )  # fmt: skip
    result.checked["allocation_slots_assigned"] = count
    result.checked["allocation_lists"] = len(lists)


def _items(trail: _Trail, result: Reconciliation) -> None:
    from iliad7.store.models import ItemValue

    seen: set[tuple[str, int]] = set()
    rows = (
        ItemValue.objects.values_list(
            "id", "participant__screening_number", "form", "visit", "instance", "item", "version", "value", "unit"
        )
        .order_by("id")
        .iterator(chunk_size=5000)
    )
    for pk, number, form, visit, instance, item, version, value, unit in rows:
        key = (f"{number}/{form}/{visit}/{instance}/{item}", int(version))
        seen.add(key)
        row = f"id {pk} ({key[0]} version {version})"
        recorded = trail.items.get(key)
        if recorded is None:
            result.add("store_itemvalue", row, "has no item.record or item.correct audit record")
        elif (recorded[1], recorded[2]) != (value, unit):
            result.add("store_itemvalue", row, f"differs from its audit record {recorded[0]}")
    for key, (record_id, _, _) in trail.items.items():
        if key not in seen:
            result.add(
                "store_itemvalue", f"{key[0]} version {key[1]}", f"written by audit record {record_id} but not stored"
            )
    result.checked["item_values"] = len(seen)


def _screenings(trail: _Trail, result: Reconciliation) -> None:
    from iliad7.store.models import ScreeningVersion

    seen: set[tuple[str, int]] = set()
    rows = ScreeningVersion.objects.values_list("id", "participant__screening_number", "version", "verdict")
    for pk, number, version, verdict in rows.order_by("id").iterator(chunk_size=2000):
        key = (number, int(version))
        seen.add(key)
        recorded = trail.screenings.get(key)
        row = f"id {pk} ({number} version {version})"
        if recorded is None:
            result.add("store_screeningversion", row, "has no screening.save audit record")
        elif recorded[1] != verdict:
            result.add("store_screeningversion", row, f"differs from its audit record {recorded[0]}")
    for key, (record_id, _) in trail.screenings.items():
        if key not in seen:
            result.add("store_screeningversion", f"{key[0]} version {key[1]}",
                       f"saved by audit record {record_id} but not stored")  # fmt: skip
    result.checked["screening_versions"] = len(seen)


def _consents(trail: _Trail, result: Reconciliation) -> None:
    from iliad7.audit.chain import format_time
    from iliad7.store.models import Consent

    seen: set[int] = set()
    rows = Consent.objects.values_list("id", "participant__screening_number", "consent_type", "obtained_at")
    for pk, number, consent_type, obtained_at in rows.order_by("id").iterator(chunk_size=2000):
        seen.add(pk)
        recorded = trail.consents.get(pk)
        row = f"id {pk} ({number})"
        if recorded is None:
            result.add("store_consent", row, "has no consent.record or consent.reconsent audit record")
            continue
        _, said_number, new = recorded
        if (said_number, new.get("consent_type"), new.get("obtained_at")) != (
            number,
            consent_type,
            format_time(obtained_at),
        ):
            result.add("store_consent", row, f"differs from its audit record {recorded[0]}")
    for pk, (record_id, number, _) in trail.consents.items():
        if pk not in seen:
            result.add("store_consent", f"id {pk} ({number})", f"recorded by audit record {record_id} but not stored")
    result.checked["consents"] = len(seen)


def _doses(trail: _Trail, result: Reconciliation) -> None:
    from iliad7.store.models import DoseAdministration, Preparation

    for model, table, recorded_by, action, label_field in (
        (Preparation, "store_preparation", trail.prepared, "dose.prepare", "label"),
        (DoseAdministration, "store_doseadministration", trail.given, "dose.given", "preparation__label"),
    ):
        seen: set[tuple[str, int]] = set()
        rows = model.objects.values_list("id", "participant__screening_number", "dose_number", label_field)
        for pk, number, dose_number, label in rows.order_by("id").iterator(chunk_size=2000):
            key = (number, int(dose_number))
            seen.add(key)
            recorded = recorded_by.get(key)
            row = f"id {pk} ({number} dose {dose_number})"
            if recorded is None:
                result.add(table, row, f"has no {action} audit record")
            elif recorded[1].get("label") != label:
                result.add(table, row, f"differs from its audit record {recorded[0]}")
        for key, (record_id, _) in recorded_by.items():
            if key not in seen:
                result.add(table, f"{key[0]} dose {key[1]}", f"recorded by audit record {record_id} but not stored")
        result.checked[table.removeprefix("store_")] = len(seen)


def _roles(trail: _Trail, result: Reconciliation) -> None:
    from iliad7.store.models import RoleGrant

    held: dict[str, list[str]] = {}
    for username, role in RoleGrant.objects.values_list("user__username", "role").order_by("user__username", "role"):
        held.setdefault(username, []).append(role)
    for username, roles in held.items():
        recorded = trail.roles.get(username)
        if recorded is None:
            result.add("store_rolegrant", username, f"holds {', '.join(roles)} without an account audit record")
        elif sorted(roles) != recorded[1]:
            result.add(
                "store_rolegrant", username,
                f"holds {', '.join(roles)}, but audit record {recorded[0]} gave {', '.join(recorded[1]) or 'none'}",
            )  # fmt: skip
    for username, (record_id, roles) in trail.roles.items():
        if roles and username not in held:
            result.add(
                "store_rolegrant", username, f"holds no role, but audit record {record_id} gave {', '.join(roles)}"
            )
    result.checked["role_grants"] = sum(len(r) for r in held.values())


def _triggers(connection: Any, result: Reconciliation) -> None:
    from iliad7.store.triggers import expected_trigger_names, installed_trigger_names

    if connection.vendor not in ("sqlite", "postgresql"):
        result.skipped.append(f"triggers: not checked on {connection.vendor}")
        return
    missing = sorted(expected_trigger_names(connection.vendor) - installed_trigger_names(connection))
    for name in missing:
        result.add("triggers", name, "is missing: append-only or transition guard dropped")
    result.checked["triggers"] = len(expected_trigger_names(connection.vendor))
