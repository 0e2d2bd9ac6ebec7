"""What the eCRF accepts for each simulated quantity, read from the protocol, and draws kept inside it.

Every simulated value that reaches a form (laboratory results, vital signs, viral load, the
screening record's body measurements) is drawn inside the range that form's item accepts, so a
simulated cohort always loads through the edit checks (issue 21). The ranges are the protocol's
own (`forms:` in the protocol file; the screening record's limits for its fields), never a
second copy: :func:`entry_ranges` reads them, :data:`ENTERED_AS` says which item each simulated
quantity is entered as. The range kept is the item's `expected` range where it has one (outside
it the eCRF asks the site to confirm an unusual value, which a simulated site has no reason to
do), else its `physical` range (outside it the value is refused).

:func:`truncated_normal` keeps a normal draw inside a range by the inverse CDF of the truncated
normal applied to the standard normal draw already made, so the generator's stream is the same
whether or not a bound is near (every later draw stays where it was), and a draw far from both
bounds is unchanged. Which quantity is truncated how, and why, is in docs/simulation.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

if TYPE_CHECKING:
    from iliad7.protocol import Item, Protocol

# Each simulated quantity -> the (form, item) it is entered as by `iliad7 simulate cohort`
# (iliad7.store.simulation): the LAB and VIRAL-LOAD results of each visit, the daily VITALS.
ENTERED_AS: dict[str, tuple[str, str]] = {
    "alc": ("LAB", "alc"),
    "cd4": ("LAB", "cd4"),
    "cd8": ("LAB", "cd8"),
    "ferritin": ("LAB", "ferritin"),
    "crp": ("LAB", "crp"),
    "d_dimer": ("LAB", "d_dimer"),
    "viral_load_log10": ("VIRAL-LOAD", "log10_copies_per_ml"),
    "respiratory_rate": ("VITALS", "respiratory_rate"),
    "spo2": ("VITALS", "spo2"),
    "systolic_bp": ("VITALS", "systolic_bp"),
    "pulse": ("VITALS", "pulse"),
    "temperature": ("VITALS", "temperature"),
    "oxygen_flow_lpm": ("VITALS", "oxygen_flow_lpm"),
}
# The screening record's fields the simulator draws from a continuous distribution (the record's own limits).
RECORD_FIELDS = ("height_cm", "weight_kg", "respiratory_support.oxygen_flow_lpm")
# Beyond this many standard deviations a bound changes nothing a double can hold (the normal's tail
# there is below 1e-15): the draw is left as it is, and clipped in the rare event it lies beyond.
FAR_SD = 8.0

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Range:
    """An inclusive range; an open side is infinite. `integer`: the item takes whole numbers."""

    low: float = -math.inf
    high: float = math.inf
    integer: bool = False
    source: str = ""  # where it was read, for messages ("VITALS.spo2 expected")

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"{self.source}: empty range {self.low} to {self.high}")

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def inner(self, decimals: int) -> Range:
        """The range shrunk to its values with `decimals` digits, so that a value inside stays inside once
        rounded to that many digits (a whole-number item: decimals 0)."""
        scale = 10**decimals
        low = self.low if math.isinf(self.low) else math.ceil(round(self.low * scale, 6)) / scale
        high = self.high if math.isinf(self.high) else math.floor(round(self.high * scale, 6)) / scale
        return Range(low, high, self.integer, self.source)

    def log(self) -> Range:
        """The same range of log values (a non-positive low bound is open)."""
        low = math.log(self.low) if self.low > 0 else -math.inf
        high = math.log(self.high) if self.high > 0 else -math.inf
        return Range(low, high, False, f"log of {self.source}")

    def intersect(self, low: float, high: float, what: str) -> Range:
        """The part of this range inside [low, high]; ValueError naming `what` when there is none."""
        lo, hi = max(self.low, low), min(self.high, high)
        if lo > hi:
            raise ValueError(f"{what}: {low:g} to {high:g} lies outside what {self.source} accepts "
                             f"({self.low:g} to {self.high:g})")  # fmt: skip
        return Range(lo, hi, self.integer, self.source)


def item_range(item: Item, where: str) -> Range:
    """The range an item accepts without a warning: its expected range, inside its physical range."""
    low, high, source = -math.inf, math.inf, f"{where} (no range)"
    for key in ("physical", "expected"):
        bounds = getattr(item, key)
        if bounds is None:
            continue
        if bounds.min is not None:
            low = max(low, float(bounds.min))
        if bounds.max is not None:
            high = min(high, float(bounds.max))
        source = f"{where} {key} range"
    return Range(low, high, item.type == "integer", source)


def entry_ranges(protocol: Protocol) -> dict[str, Range]:
    """The range of every simulated quantity of :data:`ENTERED_AS`, from the protocol's forms."""
    found = {}
    for name, (form_id, item_id) in ENTERED_AS.items():
        found[name] = item_range(protocol.form(form_id).item(item_id), f"{form_id}.{item_id}")
    return found


def record_ranges() -> dict[str, Range]:
    """The screening record's limits on the fields of :data:`RECORD_FIELDS` (its JSON schema: one definition)."""
    from iliad7.eligibility.record import field_limits

    found = {}
    for name in RECORD_FIELDS:
        limits = field_limits(name)
        low = -math.inf
        if limits.minimum is not None:
            low = limits.minimum
        if limits.exclusive_minimum is not None:
            # an open bound: the smallest double above it (a draw is never exactly on it anyway)
            low = math.nextafter(limits.exclusive_minimum, math.inf)
        high = math.inf if limits.maximum is None else limits.maximum
        found[name] = Range(low, high, False, f"screening record {name}")
    return found


@lru_cache(maxsize=1)
def protocol_ranges() -> dict[str, Range]:
    """:func:`entry_ranges` of the default protocol file, with the screening record's ranges."""
    from iliad7.protocol import load_protocol

    return {**entry_ranges(load_protocol()), **record_ranges()}


def truncated_normal(z: ArrayLike, mean: ArrayLike, sd: ArrayLike, low: float, high: float) -> FloatArray:
    """``mean + sd * z`` with the standard normal draws `z` taken to the normal truncated to [low, high].

    The inverse CDF of the truncated normal at ``Phi(z)``: the same quantile of the truncated
    distribution, so the result is a draw from it and the generator's stream is untouched. Where
    both bounds are more than :data:`FAR_SD` standard deviations away the draw is unchanged (the
    truncation moves nothing a double holds) and, in the ~1e-15 event that it lies beyond a bound,
    clipped to it. The result is always inside [low, high].
    """
    zs, means, sds = np.broadcast_arrays(
        np.asarray(z, dtype=float), np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    )
    shape = zs.shape
    zs, means, sds = zs.reshape(-1), means.reshape(-1), sds.reshape(-1)
    if low > high:
        raise ValueError(f"empty range {low} to {high}")
    out = np.array(means + sds * zs, dtype=float)
    spread = sds > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(spread, (low - means) / sds, -np.inf)
        b = np.where(spread, (high - means) / sds, np.inf)
    near = spread & ((a > -FAR_SD) | (b < FAR_SD))
    if near.any():
        inside = _truncated_standard_quantile(zs[near], a[near], b[near])
        out[near] = means[near] + sds[near] * np.clip(inside, a[near], b[near])
    return np.asarray(np.clip(out, low, high), dtype=float).reshape(shape)


def _truncated_standard_quantile(z: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """The quantile Phi(z) of the standard normal truncated to [a, b], computed in logs in the tail the
    interval lies in (so an interval far out in a tail keeps its precision)."""
    upper = a > 0  # the interval lies in the upper tail: mirror it into the lower one
    lo, hi = np.where(upper, -b, a), np.where(upper, -a, b)
    zz = np.where(upper, -z, z)
    log_u, log_1mu = special.log_ndtr(zz), special.log_ndtr(-zz)
    with np.errstate(divide="ignore", invalid="ignore"):
        # p = (1 - u) Phi(lo) + u Phi(hi), in logs
        log_p = np.logaddexp(log_1mu + special.log_ndtr(lo), log_u + special.log_ndtr(hi))
    x = special.ndtri_exp(log_p)
    return np.asarray(np.where(upper, -x, x), dtype=float)


def truncated_scalar(z: float, mean: float, sd: float, bounds: Range) -> float:
    """:func:`truncated_normal` of one draw."""
    return float(truncated_normal(z, mean, sd, bounds.low, bounds.high))


def entered_decimal(value: float, bounds: Range, digits: int = 4) -> Decimal:
    """`value` to `digits` significant digits as entered on a form, rounded toward the inside of `bounds`
    when plain rounding would cross one (999.96 with a top of 999.9 is entered as 999.9)."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a number to enter")
    entered = Decimal(f"{value:.{digits}g}")
    exact = Decimal(repr(value))
    quantum = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    if not math.isinf(bounds.high) and entered > Decimal(repr(bounds.high)):
        entered = exact.quantize(quantum, rounding=ROUND_FLOOR)
    if not math.isinf(bounds.low) and entered < Decimal(repr(bounds.low)):
        entered = exact.quantize(quantum, rounding=ROUND_CEILING)
    if not bounds.contains(float(entered)):
        raise ValueError(f"{value} cannot be entered inside {bounds.source} ({bounds.low} to {bounds.high})")
    return entered
