"""Dosing of the ILIAD-7-US-O regimen as pure functions (clinical-rules section 4).

    from iliad7.dosing import dose_micrograms, injection_volume_ml, dose_plan, check_dose
    dose = dose_micrograms(Decimal("70.05"), protocol.dosing)            # 701
    injection_volume_ml(dose, Decimal("200"), protocol.dosing)           # Decimal("3.51")
    check_dose(protocol.dosing, dose=2, at=t, given={1: t1}, tz=ZoneInfo("America/New_York"))

Every number (10 ug/kg, target days, windows, 72 h, 7 doses, rounding steps)
is read from the protocol's `dosing` block; the drug concentration is passed
in by the caller from configuration.
"""

from iliad7.dosing.arithmetic import Syringe, dose_micrograms, injection_volume_ml, prepare_syringe
from iliad7.dosing.timing import (
    DoseDecision,
    DoseRefused,
    DoseStatus,
    PlannedDose,
    check_dose,
    day_start,
    dose_plan,
    local_date,
    study_day,
)

__all__ = [
    "DoseDecision",
    "DoseRefused",
    "DoseStatus",
    "PlannedDose",
    "Syringe",
    "check_dose",
    "day_start",
    "dose_micrograms",
    "dose_plan",
    "injection_volume_ml",
    "local_date",
    "prepare_syringe",
    "study_day",
]
