"""Accepted units and their conversion to the canonical unit of each quantity.

Clinical-rules section 1. Units are matched case-insensitively, with ``µ`` (micro
sign or Greek mu) read as ``u``; any unit not in the table is an error, never a
guess. Factors are exact decimals: multiplication by 1, 10 or 1000 round-trips
exactly, and division by 17.1 or 88.4 is exact whenever the result is a finite
decimal (20.52 umol/L of bilirubin is exactly 1.2 mg/dL).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from iliad7.errors import InputError


class Quantity(StrEnum):
    """The measured quantities whose units the rules convert."""

    CELL_COUNT = "cell count"  # lymphocytes, neutrophils, WBC, platelets (CTCAE)
    HEMOGLOBIN = "hemoglobin"
    BILIRUBIN = "bilirubin"
    CREATININE = "creatinine"


# The spec's table: for each quantity, its canonical unit first, then each accepted
# unit with (factor, operation) taking a value in that unit to the canonical unit.
UNIT_TABLE: dict[Quantity, tuple[tuple[str, Decimal, str], ...]] = {
    Quantity.CELL_COUNT: (
        ("cells/mm3", Decimal(1), "*"),
        ("cells/uL", Decimal(1), "*"),
        ("/uL", Decimal(1), "*"),
        ("/mm3", Decimal(1), "*"),
        ("10^9/L", Decimal(1000), "*"),
        ("10^3/uL", Decimal(1000), "*"),
        ("x10^9/L", Decimal(1000), "*"),
    ),
    Quantity.HEMOGLOBIN: (
        ("g/dL", Decimal(1), "*"),
        ("g/L", Decimal(10), "/"),
    ),
    Quantity.BILIRUBIN: (
        ("mg/dL", Decimal(1), "*"),
        ("umol/L", Decimal("17.1"), "/"),
    ),
    Quantity.CREATININE: (
        ("mg/dL", Decimal(1), "*"),
        ("umol/L", Decimal("88.4"), "/"),
    ),
}


def normalize_unit(unit: str) -> str:
    """The lookup key of a unit: lower case, micro sign and Greek mu read as ``u``."""
    return unit.replace("\u00b5", "u").replace("\u03bc", "u").lower()


_LOOKUP: dict[Quantity, dict[str, tuple[Decimal, str]]] = {
    quantity: {normalize_unit(name): (factor, op) for name, factor, op in rows} for quantity, rows in UNIT_TABLE.items()
}


def canonical_unit(quantity: Quantity) -> str:
    return UNIT_TABLE[quantity][0][0]


def accepted_units(quantity: Quantity) -> list[str]:
    return [name for name, _, _ in UNIT_TABLE[quantity]]


def is_accepted(quantity: Quantity, unit: str) -> bool:
    return normalize_unit(unit) in _LOOKUP[quantity]


def _factor(quantity: Quantity, unit: str, field: str) -> tuple[Decimal, str]:
    try:
        return _LOOKUP[quantity][normalize_unit(unit)]
    except KeyError:
        raise InputError(
            field,
            f"unknown unit {unit!r} for {quantity.value}; accepted: {', '.join(accepted_units(quantity))}",
        ) from None


def to_canonical(quantity: Quantity, value: Decimal, unit: str, field: str = "unit") -> Decimal:
    """``value`` in ``unit`` expressed in the quantity's canonical unit."""
    factor, op = _factor(quantity, unit, field)
    return value * factor if op == "*" else value / factor


def from_canonical(quantity: Quantity, value: Decimal, unit: str, field: str = "unit") -> Decimal:
    """The inverse of :func:`to_canonical`."""
    factor, op = _factor(quantity, unit, field)
    return value / factor if op == "*" else value * factor
