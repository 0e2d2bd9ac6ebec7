"""A form's edit checks: parse every item, or say what is wrong with it beside the field.

`validate_form` never coerces silently and never loses what was typed: each
item's result keeps the text as given (and its unit), with its parsed value
when it parsed. The kinds of message are `required`, `type`, `choice`,
`length`, `range` (outside the physical range: an error), `expected-range`
(outside the usual range: a warning), `unit`, `unknown` (a key that is no item
of the form), `cross-field` (the form's checks: a stop after its start, a
death after randomization, a value required by another), `visit-window`
(the participant's calendar) and `visit` (the form is not filled at that
visit). Errors block a save; warnings are kept with the data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Literal

from iliad7.capture.spec import FormSpec, unit_key
from iliad7.errors import InputError
from iliad7.protocol import Check, Item
from iliad7.scores.numbers import exact
from iliad7.scores.units import Quantity, from_canonical, normalize_unit, to_canonical

#: What a caller may give for one item: the typed text, or an already typed value.
Raw = str | int | float | Decimal | bool | date | datetime | None
#: A parsed item value.
Value = int | Decimal | str | bool | date | datetime
MessageKind = Literal[
    "required",
    "type",
    "choice",
    "length",
    "range",
    "expected-range",
    "unit",
    "unknown",
    "cross-field",
    "visit-window",
    "visit",
]
Severity = Literal["error", "warning"]

_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


@dataclass(frozen=True)
class CaptureContext:
    """What the checks need to know beyond the form: the moment, the participant's calendar.

    `zone` is the site's time zone (dates are calendar dates there); `day0` is
    the date of dose 1 (study day 0), `randomized_at` the time T0. A check whose
    context is absent (no `day0` before dose 1) does not run.
    """

    now: datetime | None = None
    randomized_at: datetime | None = None
    day0: date | None = None
    zone: tzinfo = UTC
    visit: str = ""
    discharge_date: date | None = None
    death_date: date | None = None
    withdrawal_date: date | None = None


@dataclass(frozen=True)
class FieldMessage:
    field: str  # an item id, `ITEM.unit`, or `visit`
    kind: MessageKind
    message: str
    severity: Severity = "error"
    check: str | None = None  # the protocol's check id, for form-level checks

    def as_dict(self) -> dict[str, str | None]:
        return {
            "field": self.field,
            "kind": self.kind,
            "message": self.message,
            "severity": self.severity,
            "check": self.check,
        }


@dataclass(frozen=True)
class ItemResult:
    """One item: what was typed (`text`, `unit_text`) and, when it parsed, its value."""

    item: str
    text: str
    unit_text: str = ""
    value: Value | None = None
    unit: str = ""  # the accepted unit, spelt as the form lists it
    canonical: Decimal | None = None  # the value in the item's first unit

    @property
    def stored(self) -> str:
        """The text stored for the value: dates and times in ISO 8601 (UTC), booleans true/false."""
        value = self.value
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return str(value)


@dataclass(frozen=True)
class FormCheck:
    form: str
    visit: str
    items: dict[str, ItemResult]
    messages: tuple[FieldMessage, ...] = ()

    @property
    def errors(self) -> tuple[FieldMessage, ...]:
        return tuple(m for m in self.messages if m.severity == "error")

    @property
    def warnings(self) -> tuple[FieldMessage, ...]:
        return tuple(m for m in self.messages if m.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def messages_for(self, field_name: str) -> tuple[FieldMessage, ...]:
        return tuple(m for m in self.messages if m.field == field_name)

    @property
    def parsed(self) -> dict[str, Value]:
        """Present values by item id, with each unit under `ITEM.unit` (what `derive` reads)."""
        values: dict[str, Value] = {}
        for item_id, result in self.items.items():
            if result.value is None:
                continue
            values[item_id] = result.value
            if result.unit:
                values[unit_key(item_id)] = result.unit
        return values


def _text(raw: Raw) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    return str(raw)


def _parse(item: Item, raw: Raw, text: str) -> tuple[Value | None, str | None]:
    """(value, None) or (None, why it is not a value of the item's type)."""
    kind = item.type
    if kind == "integer":
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            return None, f"{text!r} is not a whole number"
        if isinstance(raw, int):
            return raw, None
        if isinstance(raw, Decimal):
            return (int(raw), None) if raw == raw.to_integral_value() else (None, f"{text!r} is not a whole number")
        return (int(text), None) if _INTEGER.match(text) else (None, f"{text!r} is not a whole number")
    if kind == "decimal":
        if isinstance(raw, bool):
            return None, f"{text!r} is not a number"
        if isinstance(raw, int | float | Decimal):
            return exact(raw), None
        if not _DECIMAL.match(text):
            return None, f"{text!r} is not a number (digits with an optional decimal point)"
        try:
            return Decimal(text), None
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            return None, f"{text!r} is not a number"
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw, None
        lowered = text.lower()
        if lowered in _TRUE:
            return True, None
        if lowered in _FALSE:
            return False, None
        return None, f"{text!r} is not yes or no (true or false)"
    if kind == "date":
        if isinstance(raw, datetime):
            return None, f"{text!r} is a date and time; give a calendar date (YYYY-MM-DD)"
        if isinstance(raw, date):
            return raw, None
        try:
            if not _DATE.match(text):
                raise ValueError
            return date.fromisoformat(text), None
        except ValueError:
            return None, f"{text!r} is not a date (YYYY-MM-DD)"
    if kind == "datetime":
        if isinstance(raw, datetime):
            moment = raw
        else:
            try:
                if isinstance(raw, date) or not _DATE.match(text[:10]) or len(text) < 16:
                    raise ValueError
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None, f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM with its UTC offset)"
        if moment.tzinfo is None or moment.utcoffset() is None:
            return None, f"{text!r} has no UTC offset (for example 2026-11-20T14:00-05:00)"
        return moment.astimezone(UTC), None
    if kind == "choice":
        codes = [c.code for c in item.choices]
        if text in codes:
            return text, None
        return None, f"{text!r} is not one of the choices ({', '.join(codes)})"
    # text
    if len(text) > item.max_length:
        return None, f"is {len(text)} characters long; at most {item.max_length}"
    return text, None


def _in_first_unit(item: Item, value: Decimal, unit: str) -> Decimal:
    if item.quantity is None or not item.units:
        return value
    quantity = Quantity(item.quantity)
    return from_canonical(quantity, to_canonical(quantity, value, unit), item.units[0])


def _match_unit(units: tuple[str, ...], given: str) -> str | None:
    wanted = normalize_unit(given.strip())
    for unit in units:
        if normalize_unit(unit) == wanted:
            return unit
    return None


def _fmt(number: Decimal) -> str:
    return f"{number.normalize():f}"


class _Checker:
    def __init__(self, spec: FormSpec, values: Mapping[str, Raw], context: CaptureContext) -> None:
        self.spec = spec
        self.values = values
        self.context = context
        self.messages: list[FieldMessage] = []
        self.results: dict[str, ItemResult] = {}

    def add(
        self, field_name: str, kind: MessageKind, message: str, severity: Severity = "error", check: str | None = None
    ) -> None:
        self.messages.append(FieldMessage(field_name, kind, message, severity, check))

    def run(self) -> FormCheck:
        form = self.spec.form
        known = {i.id for i in form.items} | {unit_key(i.id) for i in form.items if i.units}
        for key in self.values:
            if key not in known:
                self.add(key, "unknown", f"form {form.id} has no item {key!r}")
        self._check_visit()
        for item in form.items:
            if item.unit_of is None:
                self._item(item)
        for item in form.items:
            if item.unit_of is not None:
                self._item(item)
        failed = {m.field for m in self.messages if m.severity == "error"}
        for check in form.checks:
            self._form_check(check, failed)
        return FormCheck(form=form.id, visit=self.context.visit, items=self.results, messages=tuple(self.messages))

    def run_item(self, item_id: str) -> FormCheck:
        """One item alone: the visit, its type, choices, unit and ranges; no form-level check."""
        form = self.spec.form
        self._check_visit()
        item = next((i for i in form.items if i.id == item_id), None)
        if item is None:
            self.add(item_id, "unknown", f"form {form.id} has no item {item_id!r}")
        elif item.unit_of is None and not item.units and _text(self.values.get(unit_key(item.id))).strip():
            self.add(unit_key(item.id), "unit", f"{item.label} takes no unit")
        elif item.unit_of is None:
            self._item(item)
        else:
            target = form.item(item.unit_of)
            unit_text = _text(self.values.get(unit_key(item.id))).strip()
            matched = _match_unit(target.units, unit_text) if unit_text else None
            if unit_text and matched is None:
                self.add(
                    unit_key(item.id), "unit",
                    f"unknown unit {unit_text!r} for {item.label}; accepted: {', '.join(target.units)}",
                )  # fmt: skip
            elif matched is None and len(target.units) > 1:
                self.add(
                    unit_key(item.id), "unit",
                    f"give the unit of {item.label}, the unit of {target.label} ({', '.join(target.units)})",
                )  # fmt: skip
            else:
                self.results[target.id] = ItemResult(target.id, "", unit=matched or target.units[0])
                self._item(item)
                del self.results[target.id]
        return FormCheck(form=form.id, visit=self.context.visit, items=self.results, messages=tuple(self.messages))

    def _check_visit(self) -> None:
        form, visit = self.spec.form, self.context.visit
        if form.repeat == "visit" and not visit:
            self.add("visit", "visit", f"form {form.id} is filled at a visit: say which")
        elif form.repeat == "event" and visit:
            self.add("visit", "visit", f"form {form.id} records events, not visits: give no visit")
        elif visit and self.spec.visit(visit) is None:
            allowed = ", ".join(v.id for v in self.spec.visits) or "none"
            self.add("visit", "visit", f"form {form.id} is not filled at visit {visit!r} (its visits: {allowed})")

    def _item(self, item: Item) -> None:
        raw = self.values.get(item.id)
        text = _text(raw)
        stripped = text.strip() if isinstance(raw, str) or raw is None else text
        unit_raw = self.values.get(unit_key(item.id))
        unit_text = _text(unit_raw)
        if not stripped:
            self.results[item.id] = ItemResult(item.id, text, unit_text)
            if item.required:
                self.add(item.id, "required", f"{item.label} is required")
            return
        value, problem = _parse(item, raw if not isinstance(raw, str) else stripped, stripped)
        if problem is not None:
            self.results[item.id] = ItemResult(item.id, text, unit_text)
            self.add(
                item.id, "choice" if item.type == "choice" else "length" if item.type == "text" else "type", problem
            )
            return
        unit = ""
        if item.unit_of is not None:
            unit = self.results[item.unit_of].unit if item.unit_of in self.results else ""
        elif item.units:
            if unit_text.strip():
                matched = _match_unit(item.units, unit_text)
                if matched is None:
                    self.results[item.id] = ItemResult(item.id, text, unit_text)
                    self.add(
                        unit_key(item.id), "unit",
                        f"unknown unit {unit_text.strip()!r} for {item.label}; accepted: {', '.join(item.units)}",
                    )  # fmt: skip
                    return
                unit = matched
            elif len(item.units) == 1:
                unit = item.units[0]
            else:
                self.results[item.id] = ItemResult(item.id, text, unit_text)
                self.add(unit_key(item.id), "unit", f"give the unit of {item.label} ({', '.join(item.units)})")
                return
        canonical: Decimal | None = None
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            number = Decimal(value)
            canonical = _in_first_unit(item, number, unit) if unit else number
            if not self._in_range(item, canonical, text):
                self.results[item.id] = ItemResult(item.id, text, unit_text)
                return
        self.results[item.id] = ItemResult(item.id, text, unit_text, value, unit, canonical)

    def _in_range(self, item: Item, number: Decimal, text: str) -> bool:
        unit = f" {item.units[0]}" if item.units else ""
        converted = "" if not item.quantity else f" ({_fmt(number)}{unit})"
        bands: tuple[tuple[str, MessageKind, Severity, str], ...] = (
            ("physical", "range", "error", "possible"),
            ("expected", "expected-range", "warning", "usual"),
        )
        for key, kind, severity, adjective in bands:
            bounds = getattr(item, key)
            if bounds is None:
                continue
            low, high = bounds.min, bounds.max
            if (low is not None and number < low) or (high is not None and number > high):
                span = f"{'' if low is None else _fmt(low)} to {'' if high is None else _fmt(high)}{unit}".strip()
                message = f"{text.strip()}{converted} is outside the {adjective} range of {item.label} ({span})"
                self.add(item.id, kind, message, severity)
                if severity == "error":
                    return False
        return True

    def _value(self, item_id: str) -> Value | None:
        result = self.results.get(item_id)
        return None if result is None else result.value

    def _local_date(self, value: Value) -> date:
        if isinstance(value, datetime):
            return value.astimezone(self.context.zone).date()
        assert isinstance(value, date)
        return value

    def _form_check(self, check: Check, failed: set[str]) -> None:
        names = [name for _, name in check.operands()]
        if any(name in failed for name in names):
            return  # the operand already has its own message
        if check.when is not None and self._value(check.when.item) not in check.when.values:
            return  # the check's condition does not hold (or its item is blank)
        ctx = self.context
        target = check.item or check.items[0]

        def fire(kind: MessageKind = "cross-field") -> None:
            self.add(target, kind, check.message, check.severity, check.id)

        if check.kind == "at-least-one":
            if all(self._value(name) is None for name in check.items):
                fire()
            return
        if check.kind in ("any-is", "none-is"):
            hits = [name for name in check.items if self._value(name) in check.values]
            if (check.kind == "any-is") != bool(hits):
                fire()
            return
        assert check.item is not None
        value = self._value(check.item)
        if check.kind == "required-if":
            assert check.other is not None
            other = self._value(check.other)
            if value is None and other is not None and other in check.values:
                fire()
            return
        if value is None:
            return
        if check.kind == "after":
            assert check.other is not None
            other = self._value(check.other)
            if other is None:
                return
            if isinstance(value, datetime) and isinstance(other, datetime):
                if value <= other:
                    fire()
            elif self._local_date(value) < self._local_date(other):
                fire()
        elif check.kind == "not-before-randomization":
            if ctx.randomized_at is None:
                return
            if isinstance(value, datetime):
                if value < ctx.randomized_at:
                    fire()
            elif self._local_date(value) < ctx.randomized_at.astimezone(ctx.zone).date():
                fire()
        elif check.kind == "not-in-future":
            if ctx.now is None:
                return
            if isinstance(value, datetime):
                if value > ctx.now:
                    fire()
            elif self._local_date(value) > ctx.now.astimezone(ctx.zone).date():
                fire()
        elif check.kind == "within-visit-window":
            self._window(check, value)

    def _window(self, check: Check, value: Value) -> None:
        from iliad7.schedule import participant_calendar

        ctx = self.context
        if ctx.day0 is None or not ctx.visit or self.spec.visit(ctx.visit) is None:
            return
        today = ctx.now.astimezone(ctx.zone).date() if ctx.now is not None else self._local_date(value)
        calendar = participant_calendar(
            self.spec.schedule,
            day0=ctx.day0,
            today=today,
            done=(),
            discharge_date=ctx.discharge_date,
            death_date=ctx.death_date,
            withdrawal_date=ctx.withdrawal_date,
        )
        status = next(s for s in calendar if s.visit == ctx.visit)
        on = self._local_date(value)
        if not status.first_date <= on <= status.last_date:
            day = (on - ctx.day0).days
            assert check.item is not None
            self.add(
                check.item, "visit-window",
                f"{check.message} {ctx.visit} runs from day {status.first_day} ({status.first_date.isoformat()}) "
                f"to day {status.last_day} ({status.last_date.isoformat()}); this is day {day} ({on.isoformat()}).",
                check.severity, check.id,
            )  # fmt: skip


def validate_form(spec: FormSpec, values: Mapping[str, Raw], *, context: CaptureContext) -> FormCheck:
    """Check every item of `values` against the form, then the form's own checks.

    Returns each item's typed text with its parsed value, or the messages that
    say, field by field, why not. A form-level check runs only when the items
    it compares parsed. The derived scores are checked too: a laboratory unit
    a CTCAE term cannot grade is reported beside its field.
    """
    checker = _Checker(spec, values, context)
    result = checker.run()
    if result.ok and spec.form.derive:
        from iliad7.capture.derive import derive

        try:
            derived = derive(spec.form.id, result.parsed)
        except InputError as exc:
            name = exc.field if exc.field in result.items else f"lab_{exc.field}"
            checker.add(name if name in result.items else exc.field, "unit", exc.message)
        else:
            suggested = derived.get("suggested_grade")
            grade = result.items["grade"].value if "grade" in result.items else None
            if suggested is not None and suggested.value and grade is not None and str(grade) != suggested.value:
                checker.add(
                    "grade", "cross-field",
                    f"grade {grade} differs from the grade CTCAE v5.0 gives the laboratory value ({suggested.value}); "
                    "confirm the grade",
                    "warning",
                )  # fmt: skip
        result = FormCheck(result.form, result.visit, result.items, tuple(checker.messages))
    return result


def validate_item(spec: FormSpec, item_id: str, value: Raw, unit: str = "", *, context: CaptureContext) -> FormCheck:
    """Check one item of a form on its own: the visit, the item's existence, type, choices, unit and ranges.

    What a single-value write (the generic item endpoint) needs; the form's
    cross-field checks need the whole form and are `validate_form`'s. An item
    that takes the unit of another (an LLN) gives that unit in `unit`.
    Messages name the item, `ITEM.unit` or `visit`; an item the form does not
    have is reported as `unknown` under its own name.
    """
    values: dict[str, Raw] = {item_id: value}
    if unit:
        values[unit_key(item_id)] = unit
    return _Checker(spec, values, context).run_item(item_id)


__all__ = [
    "CaptureContext",
    "FieldMessage",
    "FormCheck",
    "ItemResult",
    "Raw",
    "Value",
    "validate_form",
    "validate_item",
]
