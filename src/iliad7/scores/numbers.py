"""Exact decimal arithmetic for clinical boundaries.

Clinical-rules section 1: a rule at a boundary is never decided by binary
floating-point error. JSON numbers arrive as Python ``float`` or ``int``; they
become ``Decimal`` through their shortest decimal representation, which is the
literal the sender wrote (``0.42`` stays ``0.42``), before any comparison.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ONE_DECIMAL = Decimal("0.1")


def exact(value: float | int | Decimal) -> Decimal:
    """The decimal number a JSON literal denotes (``float`` through its shortest repr)."""
    kind = type(value)
    if kind is float:
        return Decimal(repr(value))
    if kind is int or kind is Decimal:
        return Decimal(value)
    raise TypeError(f"not a number: {value!r}")


def round_half_up(value: Decimal, quantum: Decimal = ONE_DECIMAL) -> Decimal:
    """Round as clinicians do on paper: 38.05 becomes 38.1."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def grouped(value: Decimal | int | float) -> str:
    """A number as a coordinator reads it: thousands grouped, no trailing zeros."""
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # str() of a float is its shortest repr, i.e. the literal the sender wrote
        return f"{int(value):,}" if value.is_integer() else f"{value:,}"
    number = exact(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,f}"
