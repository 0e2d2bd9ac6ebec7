"""The pharmacist's arithmetic (clinical-rules section 4): dose in ug and volume in mL.

- Dose = baseline actual body weight (kg) x `dosing.dose_ug_per_kg` (10),
  rounded to the nearest `dosing.dose_rounding_ug` (1 ug), half up: 70.05 kg
  gives 700.5 ug, which is 701 ug; 70.04 kg gives 700 ug.
- Volume = dose / concentration, rounded to `dosing.volume_rounding_ml`
  (0.01 mL), half up: 701 ug at 200 ug/mL is 3.505 mL, drawn up as 3.51 mL.
- The concentration is the drug product's, configured per deployment; there
  is no default, and a missing or non-positive one is refused.
- The placebo syringe holds normal saline in the same volume as the active
  syringe would for that weight, so the two look alike.

Arithmetic is on exact decimals; a binary float is refused, because 70.05 as a
float is 70.0499999... and would round the other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from iliad7.errors import InputError
from iliad7.protocol import Dosing


def _exact(field: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InputError(field, f"give an exact decimal (Decimal or int), not {type(value).__name__} {value!r}")
    number = Decimal(value)
    if not number.is_finite():
        raise InputError(field, f"must be a finite number, not {number}")
    return number


def _round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded half up to a whole number of `step`s."""
    return (value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def dose_micrograms(weight_kg: Decimal | int, dosing: Dosing) -> int:
    """The dose in ug for a baseline actual body weight: weight x 10 ug/kg, rounded half up to 1 ug."""
    weight = _exact("weight_kg", weight_kg)
    if weight <= 0:
        raise InputError("weight_kg", f"must be positive, not {weight}")
    dose = _round_to_step(weight * dosing.dose_ug_per_kg, dosing.dose_rounding_ug)
    if dose != dose.to_integral_value():
        raise InputError("dose_rounding_ug", f"rounding to {dosing.dose_rounding_ug} ug gives a fractional dose")
    if dose <= 0:
        raise InputError("weight_kg", f"{weight} kg gives a dose of 0 ug")
    return int(dose)


def injection_volume_ml(dose_ug: int, concentration_ug_per_ml: Decimal | int | None, dosing: Dosing) -> Decimal:
    """The volume to inject for `dose_ug` at the configured concentration, rounded half up to 0.01 mL."""
    if concentration_ug_per_ml is None:
        raise InputError(
            "concentration_ug_per_ml",
            "the drug product's concentration (ug/mL) is not configured; it has no default",
        )
    concentration = _exact("concentration_ug_per_ml", concentration_ug_per_ml)
    if concentration <= 0:
        raise InputError("concentration_ug_per_ml", f"must be positive, not {concentration}")
    if isinstance(dose_ug, bool) or not isinstance(dose_ug, int) or dose_ug <= 0:
        raise InputError("dose_ug", f"must be a positive whole number of ug, not {dose_ug!r}")
    volume = _round_to_step(Decimal(dose_ug) / concentration, dosing.volume_rounding_ml)
    if volume <= 0:
        raise InputError(
            "dose_ug",
            f"{dose_ug} ug at {concentration} ug/mL rounds to {volume} mL: nothing to inject",
        )
    # Show as many decimals as the rounding step has (0.01 -> "3.51", never "3.5100").
    return volume.quantize(dosing.volume_rounding_ml)


@dataclass(frozen=True)
class Syringe:
    """The unblinded pharmacist's worksheet line for one dose."""

    arm: str
    weight_kg: Decimal
    dose_ug: int  # the active dose this weight calls for; the placebo syringe carries none of it
    volume_ml: Decimal  # the same for either arm
    contents: str


def prepare_syringe(
    arm: str, weight_kg: Decimal | int, concentration_ug_per_ml: Decimal | int | None, dosing: Dosing
) -> Syringe:
    """What goes into the syringe for `arm`: the active dose's volume, of drug or of saline."""
    dose = dose_micrograms(weight_kg, dosing)
    volume = injection_volume_ml(dose, concentration_ug_per_ml, dosing)
    if arm == dosing.active_arm:
        contents = f"{dosing.active_arm} {dose} ug in {volume} mL"
    elif arm == dosing.placebo_arm:
        contents = f"{dosing.placebo} ({volume} mL)"
    else:
        raise InputError("arm", f"no arm {arm!r} (arms: {dosing.active_arm}, {dosing.placebo_arm})")
    return Syringe(arm=arm, weight_kg=Decimal(weight_kg), dose_ug=dose, volume_ml=volume, contents=contents)
