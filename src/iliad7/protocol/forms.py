"""Case report forms (eCRFs) as protocol data: the `forms:` section of the protocol file.

A form serves one or more assessments of the schedule of activities and is
filled either at the visits of those assessments (`repeat: visit`), once per
day in hospital (`daily`) or once per event (`event`: an adverse event, an
admission, an organ-support episode). Its items say their type, the units
they accept (clinical-rules section 1 when the quantity has a conversion
there), their physical range (outside it a value is impossible: an error) and
expected range (outside it a value is unusual: a warning), whether they are
required, their choices, and which CTCAE v5.0 terms grade them. Form-level
`checks` are the cross-field and visit-window edit checks; a check with a
`when` (`{item: detected, values: [true]}`) applies only when that item has one
of those values. The checking itself is `iliad7.capture`; this module only
describes and validates.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from iliad7.protocol.base import Code, Frozen, Invalid, Number, Sourced, Text, unique

#: An item id: lower snake case, as stored in the trial database and used as a field name.
ItemId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
ItemType = Literal["integer", "decimal", "text", "choice", "date", "datetime", "boolean"]
#: Quantities with a unit conversion in clinical-rules section 1 (`iliad7.scores.units.Quantity`).
UnitQuantity = Literal["cell count", "hemoglobin", "bilirubin", "creatinine"]
CtcaeTerm = Literal[
    "lymphocyte_count_decreased",
    "lymphocyte_count_increased",
    "neutrophil_count_decreased",
    "white_blood_cell_decreased",
    "platelet_count_decreased",
    "anemia",
    "alt_increased",
    "ast_increased",
    "blood_bilirubin_increased",
    "creatinine_increased",
]
Derivation = Literal["news2", "sofa", "who-cps", "ctcae"]
CheckKind = Literal[
    "after",  # `item` is on or after `other` (a stop after its start)
    "not-before-randomization",  # `item` is on or after the randomization time T0
    "not-in-future",  # `item` is not after the moment of entry
    "required-if",  # `item` is required when `other` has one of `values`
    "at-least-one",  # at least one of `items` is given
    "within-visit-window",  # `item`'s date falls in the visit's window on the participant's calendar
    "any-is",  # at least one of `items` has one of `values` (a serious event names its criterion)
    "none-is",  # none of `items` has any of `values`
]
#: Checks that read a list of `items` rather than one `item`.
LIST_CHECKS = ("at-least-one", "any-is", "none-is")


class Range(Frozen):
    """Inclusive bounds in the item's canonical unit (its first unit); either may be open."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise Invalid(("max",), f"max {self.max} is below min {self.min}")
        return self


class Choice(Frozen):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    label: Text


class Item(Frozen):
    id: ItemId
    label: Text
    type: ItemType
    required: bool = False
    #: Accepted units, canonical first. Several units need a `quantity` that converts them.
    units: tuple[Text, ...] = ()
    quantity: UnitQuantity | None = None
    #: This item (an LLN, ULN or baseline) is in the unit entered for that item.
    unit_of: ItemId | None = None
    physical: Range | None = None  # outside: impossible, refused
    expected: Range | None = None  # outside: unusual, a warning to confirm
    choices: tuple[Choice, ...] = ()
    ctcae: tuple[CtcaeTerm, ...] = ()  # graded by these terms (clinical-rules 2.4)
    max_length: Annotated[int, Field(gt=0)] = 2000

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.type == "choice") != bool(self.choices):
            raise Invalid(("choices",), "a choice item lists its choices, and only a choice item does")
        unique([c.code for c in self.choices], "choice code", ("choices",), key="code")
        numeric = self.type in ("integer", "decimal")
        for key in ("physical", "expected"):
            if getattr(self, key) is not None and not numeric:
                raise Invalid((key,), f"a {self.type} item has no numeric range")
        for key in ("units", "quantity", "ctcae"):
            if getattr(self, key) and not numeric:
                raise Invalid((key,), f"a {self.type} item has no {key}")
        if self.units and self.unit_of is not None:
            raise Invalid(("unit_of",), "an item takes its own units or the unit of another item, not both")
        unique(list(self.units), "unit", ("units",))
        if len(self.units) > 1 and self.quantity is None:
            raise Invalid(
                ("units",),
                "several units need a `quantity` whose conversion clinical-rules section 1 defines",
            )
        if self.quantity is not None:
            from iliad7.scores.units import Quantity, is_accepted

            for index, unit in enumerate(self.units):
                if not is_accepted(Quantity(self.quantity), unit):
                    raise Invalid(
                        ("units", index), f"{unit!r} is not a unit clinical-rules section 1 accepts for {self.quantity}"
                    )
        if self.ctcae and not (self.units or self.unit_of):
            raise Invalid(("ctcae",), "a graded item says its unit")
        return self


class When(Frozen):
    """A check's condition: it applies only when `item` has one of `values` (a blank item: it does not)."""

    item: ItemId
    values: Annotated[tuple[str | bool, ...], Field(min_length=1)]


class Check(Frozen):
    """One form-level edit check; the message names `item`, the field it is shown beside."""

    id: Code
    kind: CheckKind
    item: ItemId | None = None
    other: ItemId | None = None
    values: tuple[str | bool, ...] = ()
    items: tuple[ItemId, ...] = ()
    severity: Literal["error", "warning"] = "error"
    message: Text
    when: When | None = None  # the check applies only when this holds

    @model_validator(mode="after")
    def _has_its_operands(self) -> Self:
        needs_item = self.kind not in LIST_CHECKS
        if needs_item and self.item is None:
            raise Invalid(("item",), f"a {self.kind} check names its item")
        if self.kind in ("after", "required-if") and self.other is None:
            raise Invalid(("other",), f"a {self.kind} check names the other item")
        if self.kind == "required-if" and not self.values:
            raise Invalid(("values",), "a required-if check lists the values of `other` that require `item`")
        if self.kind == "at-least-one" and len(self.items) < 2:
            raise Invalid(("items",), "an at-least-one check lists two or more items")
        if self.kind in ("any-is", "none-is") and not (self.items and self.values):
            raise Invalid(("items",), f"an {self.kind} check lists its items and the values it looks for")
        return self

    def operands(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(location, item id) of each item the check names."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        if self.item is not None:
            found.append((("item",), self.item))
        if self.other is not None:
            found.append((("other",), self.other))
        found += [(("items", i), name) for i, name in enumerate(self.items)]
        return found


class Form(Sourced):
    id: Code
    title: Text
    assessments: Annotated[tuple[Code, ...], Field(min_length=1)]
    repeat: Literal["visit", "daily", "event"]
    #: The datetime or date item that says when the data were collected (visit-window checks).
    date_item: ItemId | None = None
    derive: tuple[Derivation, ...] = ()
    items: Annotated[tuple[Item, ...], Field(min_length=1)]
    checks: tuple[Check, ...] = ()

    @model_validator(mode="after")
    def _items_and_checks_agree(self) -> Self:
        unique([i.id for i in self.items], "item id", ("items",), key="id")
        unique([c.id for c in self.checks], "check id", ("checks",), key="id")
        types = {i.id: i for i in self.items}
        if self.date_item is not None:
            date_item = types.get(self.date_item)
            if date_item is None or date_item.type not in ("date", "datetime"):
                raise Invalid(("date_item",), f"{self.date_item!r} is not a date or datetime item of this form")
        for index, item in enumerate(self.items):
            if item.unit_of is not None:
                target = types.get(item.unit_of)
                if target is None or not (target.units and target.type in ("integer", "decimal")):
                    raise Invalid(("items", index, "unit_of"), f"{item.unit_of!r} is not a numeric item with units")
        for c_index, check in enumerate(self.checks):
            for where, name in check.operands():
                if name not in types:
                    raise Invalid(("checks", c_index, *where), f"no item {name!r} in form {self.id}")
            dated = ("after", "not-before-randomization", "not-in-future", "within-visit-window")
            if check.kind in dated:
                for where, name in check.operands():
                    if types[name].type not in ("date", "datetime"):
                        raise Invalid(
                            ("checks", c_index, *where),
                            f"a {check.kind} check compares dates: {name!r} is a {types[name].type}",
                        )
            if check.kind == "within-visit-window" and self.repeat != "visit":
                raise Invalid(("checks", c_index, "kind"), "only a form filled at visits has a visit window")
            if check.when is not None:
                _check_condition(check.when, types, ("checks", c_index, "when"))
            if check.kind in ("any-is", "none-is"):
                for i_index, name in enumerate(check.items):
                    _check_condition(When(item=name, values=check.values), types, ("checks", c_index, "items", i_index))
        return self

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def _check_condition(when: When, items: dict[str, Item], where: tuple[str | int, ...]) -> None:
    """A `when` names an item of the form that can hold the values it lists (yes/no or choice codes)."""
    item = items.get(when.item)
    if item is None:
        raise Invalid((*where, "item"), f"no item {when.item!r} in this form")
    if item.type == "boolean":
        wrong = [v for v in when.values if not isinstance(v, bool)]
        if wrong:
            raise Invalid((*where, "values"), f"{when.item!r} is yes/no: give true or false, not {wrong[0]!r}")
    elif item.type == "choice":
        codes = {c.code for c in item.choices}
        outside = [v for v in when.values if isinstance(v, bool) or v not in codes]
        if outside:
            raise Invalid(
                (*where, "values"), f"{outside[0]!r} is not a choice of {when.item!r} ({', '.join(sorted(codes))})"
            )
    else:
        raise Invalid((*where, "item"), f"a check's condition reads a yes/no or choice item, not a {item.type} item")
