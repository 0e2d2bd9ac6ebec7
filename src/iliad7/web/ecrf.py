"""The generic eCRF page's fields: any protocol form rendered from `iliad7.capture.form_spec`.

Pure over the form's specification, what was typed and the saved values: no
database, no Django. Each item becomes one field row: an input typed by the
item's type (a yes/no list for booleans, the protocol's choices for a choice,
a date or a date-and-time in UTC, a number with its unit, a list of units
where several are accepted), its ranges, and the messages of the last check
beside it with the text as it was typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from iliad7.capture import FormSpec, unit_key

_LOCAL_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


@dataclass
class FieldRow:
    """One item of the form as the page shows it."""

    id: str
    label: str
    type: str
    required: bool
    value: str = ""  # what is in the input: the typed text, or the saved value
    unit: str = ""  # the selected unit
    units: tuple[str, ...] = ()
    unit_of: str = ""  # the label of the item whose unit this item takes
    choices: tuple[tuple[str, str], ...] = ()
    ranges: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    saved: Any = None  # the saved ItemValue, if any
    queries: list[Any] = field(default_factory=list)

    @property
    def html_id(self) -> str:
        return f"f-{self.id}"

    @property
    def unit_name(self) -> str:
        return unit_key(self.id)

    @property
    def invalid_choice(self) -> bool:
        """A typed value that is no choice of the list (kept, so that it can be shown and corrected)."""
        codes = {code for code, _ in self.options}
        return bool(self.value) and self.type in ("choice", "boolean") and self.value not in codes

    @property
    def options(self) -> tuple[tuple[str, str], ...]:
        if self.type == "boolean":
            return (("true", "yes"), ("false", "no"))
        return self.choices


def _number(value: Any) -> str:
    text = format(value, "f") if hasattr(value, "normalize") else str(value)
    return text


def _ranges(item: Any) -> list[str]:
    unit = f" {item.units[0]}" if item.units else ""
    found = []
    for key, word in (("physical", "possible"), ("expected", "usual")):
        bounds = getattr(item, key)
        if bounds is None:
            continue
        low = "" if bounds.min is None else _number(bounds.min)
        high = "" if bounds.max is None else _number(bounds.max)
        if low and high:
            found.append(f"{word} {low} to {high}{unit}")
        elif low:
            found.append(f"{word} from {low}{unit}")
        elif high:
            found.append(f"{word} up to {high}{unit}")
    return found


def stored_to_input(item_type: str, stored: str) -> str:
    """A saved value as its input shows it: a UTC time as YYYY-MM-DDTHH:MM[:SS], other values as stored."""
    if item_type != "datetime" or not stored:
        return stored
    try:
        moment = datetime.fromisoformat(stored).astimezone(UTC)
    except ValueError:
        return stored
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


def input_to_value(item_type: str, text: str) -> str:
    """What the check receives for a typed text: a date and time without offset is taken as UTC."""
    text = text.strip()
    if item_type == "datetime" and _LOCAL_MINUTE.match(text):
        return text.replace(" ", "T") + "+00:00"
    return text


def values_from_post(spec: FormSpec, post: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(values for `save_form`, the texts as typed) from a submitted form; units under `ITEM.unit`."""
    values: dict[str, str] = {}
    typed: dict[str, str] = {}
    for item in spec.items:
        text = str(post.get(item.id, ""))
        typed[item.id] = text
        values[item.id] = input_to_value(item.type, text)
        if item.units:
            unit = str(post.get(unit_key(item.id), "")).strip()
            typed[unit_key(item.id)] = unit
            if unit:
                values[unit_key(item.id)] = unit
    return values, typed


def values_from_saved(spec: FormSpec, saved: Mapping[str, Any]) -> dict[str, str]:
    """The input texts of a saved form (ItemValue rows by item id)."""
    typed: dict[str, str] = {}
    for item in spec.items:
        row = saved.get(item.id)
        if row is None:
            continue
        typed[item.id] = stored_to_input(item.type, row.value)
        if item.units and row.unit:
            typed[unit_key(item.id)] = row.unit
    return typed


def field_rows(
    spec: FormSpec,
    typed: Mapping[str, str],
    *,
    messages: tuple[Any, ...] = (),
    saved: Mapping[str, Any] | None = None,
    queries: Mapping[str, list[Any]] | None = None,
) -> list[FieldRow]:
    """One row per item, with the messages (FieldMessage) whose field is the item or its unit."""
    labels = {i.id: i.label for i in spec.items}
    rows = []
    for item in spec.items:
        row = FieldRow(
            id=item.id,
            label=item.label,
            type=item.type,
            required=item.required,
            value=typed.get(item.id, ""),
            unit=typed.get(unit_key(item.id), ""),
            units=tuple(item.units),
            unit_of=labels.get(item.unit_of, "") if item.unit_of else "",
            choices=tuple((c.code, c.label) for c in item.choices),
            ranges=_ranges(item),
            saved=(saved or {}).get(item.id),
            queries=list((queries or {}).get(item.id, [])),
        )
        for message in messages:
            if message.field in (item.id, unit_key(item.id)):
                text = message.message
                if message.field == unit_key(item.id):
                    text = f"unit: {text}"
                (row.errors if message.severity == "error" else row.warnings).append(text)
        rows.append(row)
    return rows


def other_messages(spec: FormSpec, messages: tuple[Any, ...]) -> list[Any]:
    """Messages that belong to no item of the form (the visit, an unknown key)."""
    names = {i.id for i in spec.items} | {unit_key(i.id) for i in spec.items}
    return [m for m in messages if m.field not in names]


@dataclass(frozen=True)
class DerivedRow:
    """A value derived on save, with the rule and the inputs it came from."""

    item: str
    value: str
    rule: str
    inputs: list[tuple[str, str]]
    note: str


def derived_rows(derived: Mapping[str, Any]) -> list[DerivedRow]:
    """The derived ItemValue rows of a saved form, each with its stored derivation unpacked."""
    rows = []
    for name in sorted(derived):
        row = derived[name]
        try:
            derivation = json.loads(row.derivation or "{}")
        except ValueError:
            derivation = {}
        inputs = [(str(k), _plain_text(v)) for k, v in sorted((derivation.get("inputs") or {}).items())]
        result = derivation.get("result") or {}
        note = ""
        if not row.value:
            missing = result.get("missing") if isinstance(result, dict) else None
            note = f"not computable: missing {', '.join(map(str, missing))}" if missing else "not computable"
        rows.append(DerivedRow(name, row.value, str(derivation.get("rule", "")), inputs, note))
    return rows


def _plain_text(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)
