"""Building blocks shared by every section of the protocol model.

`Frozen` is the strict, immutable, closed base (a typo in a key is an error,
never a silently ignored default). `Sourced` carries the provenance convention
of docs/protocol.md: each block says whether it follows the registry record,
the clinical rules, or this project's interpretation. `Invalid` lets a
cross-field check point at the exact YAML path it is about.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, model_validator

#: Where in a block a problem is: keys and list indexes, relative to the block.
Location = tuple[str | int, ...]


class Invalid(ValueError):
    """A validation failure located at `path`, relative to the model that raised it.

    Pydantic keeps the exception in the error's context, so the loader can
    extend the model's location with `path` and report the exact key.
    """

    def __init__(self, path: Location, message: str) -> None:
        super().__init__(message)
        self.path = path


def _to_decimal(value: object) -> object:
    # YAML gives floats; going through str keeps 0.01 as written, not as 0.0100000000000000002...
    if isinstance(value, bool):
        return value  # left for the strict Decimal check to refuse
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


#: An exact decimal number, written in YAML as an integer or a decimal.
Number = Annotated[Decimal, BeforeValidator(_to_decimal)]
#: A non-empty, stripped line of text.
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
#: An identifier such as a site, visit, role or criterion code: letters, digits, hyphens.
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]


class Frozen(BaseModel):
    """Strict, immutable, closed: unknown keys and type coercions are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Source = Literal["registry", "clinical-rules", "interpretation"]
_PROVENANCE_KEYS = frozenset({"source", "rule", "interpretation", "interpreted"})


class Sourced(Frozen):
    """A block that says where its content comes from.

    - `source: registry`: stated by the ClinicalTrials.gov record;
    - `source: clinical-rules` with `rule`: shared/spec/clinical-rules.md, section or rule id;
    - `source: interpretation` with `interpretation`: this project's choice, and why.

    `interpreted` maps a key of this block to a note when that one value is
    this project's choice inside a block that otherwise follows its source.
    """

    source: Source
    rule: Text | None = None
    interpretation: Text | None = None
    interpreted: dict[str, Text] = {}

    @model_validator(mode="after")
    def _provenance_is_complete(self) -> Self:
        if self.source == "interpretation" and self.interpretation is None:
            raise Invalid(("interpretation",), "source is interpretation: say what was chosen and why")
        if self.source != "interpretation" and self.interpretation is not None:
            raise Invalid(
                ("interpretation",),
                f"source is {self.source}: an interpretation note belongs under `interpreted`, "
                "keyed by the value it is about",
            )
        if self.source == "clinical-rules" and self.rule is None:
            raise Invalid(("rule",), "source is clinical-rules: cite the rule (section or id)")
        if self.source == "registry" and self.rule is not None:
            raise Invalid(("rule",), "source is registry: `rule` cites clinical-rules only")
        own_keys = set(type(self).model_fields) - _PROVENANCE_KEYS
        for key in self.interpreted:
            if key not in own_keys:
                raise Invalid(
                    ("interpreted", key),
                    f"{key!r} is not a key of this block (keys: {', '.join(sorted(own_keys))})",
                )
        return self


def unique(values: list[Any] | tuple[Any, ...], what: str, path: Location, key: str | None = None) -> None:
    """Raise `Invalid` at `path[i]` (or `path[i].key`), the second occurrence of a value."""
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            where = (*path, index) if key is None else (*path, index, key)
            raise Invalid(where, f"duplicate {what} {value!r}")
        seen.add(value)
