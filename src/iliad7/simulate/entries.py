"""The form values a simulated participant's visits and hospital days are entered with (pure).

`iliad7 simulate cohort` (iliad7.store.simulation) saves each of these through the store's
`save_form` and its edit checks; tests check them with `iliad7.capture.validate_form` over many
seeds without a database. Numbers are entered to 4 significant digits (never 1.4e+04), kept inside
the item's range (:func:`iliad7.simulate.ranges.entered_decimal`): the simulator draws inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from iliad7.simulate.population import SITE_ZONES
from iliad7.simulate.ranges import entered_decimal, entry_ranges

if TYPE_CHECKING:
    from iliad7.protocol import Protocol
    from iliad7.simulate.parameters import Parameters
    from iliad7.simulate.trajectories import Participant

# Laboratory items entered at each scheduled visit, from the simulated daily values:
# assessment id in the protocol -> (item, simulated series, unit)
LAB_ITEMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ALC": (("alc", "alc", "cells/mm3"),),
    "CD4-CD8": (("cd4", "cd4", "cells/mm3"), ("cd8", "cd8", "cells/mm3")),
    "FERRITIN": (("ferritin", "ferritin", "ng/mL"),),
    "CRP": (("crp", "crp", "mg/L"),),
    "D-DIMER": (("d_dimer", "d_dimer", "ug/L FEU"),),
    "VIRAL-LOAD": (("log10_copies_per_ml", "viral_load_log10", "log10 copies/mL"),),
}
# The protocol's form (eCRF) each assessment's items are entered on (`forms:` in the protocol file):
# the laboratory results share the LAB form; item ids and units are the form's.
LAB_FORMS: dict[str, str] = {
    "ALC": "LAB",
    "CD4-CD8": "LAB",
    "FERRITIN": "LAB",
    "CRP": "LAB",
    "D-DIMER": "LAB",
    "VIRAL-LOAD": "VIRAL-LOAD",
}
# Hours (site local time) at which the simulation records what the simulator knows by the day.
SAMPLE_HOUR = 6
VITALS_HOUR = 8


@dataclass(frozen=True)
class VisitForm:
    """One form of one visit: its values as the site enters them (text, units beside as `ITEM.unit`)."""

    form: str
    visit: str
    values: dict[str, str]


@dataclass
class VisitForms:
    forms: list[VisitForm] = field(default_factory=list)
    not_entered: dict[str, int] = field(default_factory=dict)  # simulated results a form cannot take honestly


def local_time(simulated: Participant, day: int, hour: int) -> str:
    """Study day `day` at `hour` o'clock at the participant's site, as ISO 8601 UTC."""
    zone = ZoneInfo(SITE_ZONES.get(simulated.baseline.site, "UTC"))
    moment = datetime.combine(simulated.baseline.day0 + timedelta(days=day), time(hour), zone)
    return moment.astimezone(UTC).isoformat()


def study_date(simulated: Participant, day: int) -> str:
    return (simulated.baseline.day0 + timedelta(days=day)).isoformat()


def visit_forms(
    simulated: Participant, protocol: Protocol, params: Parameters, last_day: int, *, not_detected: bool
) -> VisitForms:
    """The LAB and VIRAL-LOAD forms of each scheduled visit up to `last_day`, from the simulated days.

    D30 is day 30 or the discharge day if earlier. A viral load below the detection limit is entered
    as RNA not detected, without a load, when the form accepts that (`not_detected`; otherwise it is
    counted in `not_entered`). A form with no result is left out.
    """
    ranges = entry_ranges(protocol)
    names = {item: series for items in LAB_ITEMS.values() for item, series, _ in items}
    detection_limit = params.viral.detection_limit_log10.value
    result = VisitForms()
    by_visit: dict[tuple[str, str], dict[str, str]] = {}
    for assessment in protocol.schedule.assessments:
        items = LAB_ITEMS.get(assessment.id)
        if not items:
            continue
        form = LAB_FORMS[assessment.id]
        for visit_id in assessment.visits:
            visit = protocol.schedule.visit(visit_id)
            day = visit.target_day
            if visit_id == "D30" and simulated.discharge_day is not None and simulated.discharge_day < 30:
                day = simulated.discharge_day  # day 30 or discharge, whichever comes first
            if day < 0 or day > last_day or (visit.dose and visit.dose > len(simulated.doses)):
                continue
            values = by_visit.setdefault((form, visit_id), {"collected_at": local_time(simulated, day, SAMPLE_HOUR)})
            for name, series, unit in items:
                value = float(getattr(simulated, series)[day])
                if value != value:  # NaN: not measured that day
                    continue
                if form == "VIRAL-LOAD":
                    if value < detection_limit:
                        if not not_detected:
                            result.not_entered["VIRAL-LOAD not detected"] = (
                                result.not_entered.get("VIRAL-LOAD not detected", 0) + 1
                            )
                            continue
                        values.update(specimen="nasopharyngeal", detected="false")
                        continue
                    values.update(specimen="nasopharyngeal", detected="true")
                values[name] = format(entered_decimal(value, ranges[names[name]]), "f")
                values[f"{name}.unit"] = unit
    for (form, visit_id), values in by_visit.items():
        if len(values) > 1:
            result.forms.append(VisitForm(form, visit_id, values))
    return result


def vitals_values(simulated: Participant, day: int) -> dict[str, str]:
    """The VITALS form of a hospital day: the simulated NEWS2 observations at VITALS_HOUR, SpO2 scale 1."""
    v: dict[str, Any] | None = simulated.vitals[day]
    if v is None:
        raise ValueError(f"study day {day} is not a hospital day: no vitals")
    values = {
        "assessed_at": local_time(simulated, day, VITALS_HOUR),
        "respiratory_rate": str(v["respiratory_rate"]),
        "spo2": str(v["spo2"]),
        "spo2_scale": "1",  # the simulator scores NEWS2 on scale 1
        "on_supplemental_oxygen": "true" if v["on_supplemental_oxygen"] else "false",
        "systolic_bp": str(v["systolic_bp"]),
        "pulse": str(v["pulse"]),
        "consciousness": v["consciousness"],
        "temperature": f"{v['temperature']:.1f}",
    }
    if v["on_supplemental_oxygen"]:
        values["oxygen_flow_lpm"] = str(v["oxygen_flow_lpm"])
    return values
