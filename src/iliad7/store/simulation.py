"""The simulated cohort driven through the trial database's own actions (issue 6, "through the real path").

:func:`iliad7.simulate.simulate_cohort` decides, from a seed, who is screened,
who is eligible and what happens to each randomized participant; this module
replays that as site staff would, through the same actions the web pages and
the API call: a coordinator creates each participant and saves the screening
record, records consent or the screen failure; the unblinded statistician
generates the allocation list from the same seed; an investigator randomizes;
the unblinded pharmacist receives drug and prepares each syringe; the
coordinator records each dose given and the laboratory values of the
protocol's visits; the investigator records death or the end of follow-up.
So the demo exercises the real system, the calendar rules and the blind (the
simulator knows each arm because it is the world, not a user; every action is
held to its user's role and site).

`as_of` stops each participant's follow-up on that study day (a trial part-way
through follow-up): nothing later is entered and no final status is set.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from iliad7.store.models import Participant, Site, User

CHANNEL = "cli"
CONCENTRATION_UG_PER_ML = Decimal(500)  # simulated drug product; the real value is configured per lot
LOT_EXPIRY_DAYS = 720
VIALS_PER_SITE = 2000
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


@dataclass
class CohortRun:
    """What the run entered, for the command's summary."""

    screened: int = 0
    screen_failed: int = 0
    randomized: int = 0
    doses: int = 0
    values: int = 0
    deaths: int = 0
    completed: int = 0
    users: dict[str, str] = field(default_factory=dict)


def _user(username: str, roles: list[str], sites: list[str], run: CohortRun) -> User:
    from iliad7.store.actions import add_user

    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing
    run.users[username] = ",".join(roles)
    return add_user(
        username,
        password=secrets.token_urlsafe(24),  # simulation accounts never log in
        roles=roles,
        sites=sites,
        full_name=f"Simulated {' and '.join(roles)}",
        acting_user=None,
        channel=CHANNEL,
    )


def _staff(sites: list[str], run: CohortRun) -> dict[str, User]:
    staff = {"statistician": _user("sim-statistician", ["unblinded-statistician"], [], run)}
    for code in sites:
        lower = code.lower()
        staff[f"coordinator:{code}"] = _user(f"sim-coordinator-{lower}", ["coordinator"], [code], run)
        staff[f"investigator:{code}"] = _user(f"sim-investigator-{lower}", ["investigator"], [code], run)
        staff[f"pharmacist:{code}"] = _user(f"sim-pharmacist-{lower}", ["unblinded-pharmacist"], [code], run)
    return staff


def run_simulated_cohort(
    *, n: int, seed: int, stop_before: str | None = None, as_of: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CohortRun:  # fmt: skip
    """Fill the database with a simulated cohort of `n` randomized participants (see the module text)."""
    from iliad7.protocol import load_protocol
    from iliad7.simulate import load_parameters, simulate_cohort
    from iliad7.store.actions import (
        create_participant,
        generate_allocation_list,
        record_consent,
        record_drug_receipt,
        record_screen_failure,
        save_screening,
    )
    from iliad7.store.actions.allocation import active_allocation_list

    if stop_before not in (None, "randomization"):
        raise ValueError("--stop-before accepts only 'randomization'")
    protocol = load_protocol()
    sites = [site.code for site in protocol.sites]
    cohort = simulate_cohort(load_parameters(), seed, n)
    run = CohortRun()
    staff = _staff(sites, run)
    if stop_before is None and active_allocation_list() is None:
        generate_allocation_list(
            seed=seed, acting_user=staff["statistician"], channel=CHANNEL, slots_per_stratum=max(n, 1)
        )
    if stop_before is None:
        expiry = max(p.participant.baseline.day0 for p in cohort.randomized) + timedelta(days=LOT_EXPIRY_DAYS)
        for code in sites:
            record_drug_receipt(
                site_code=code, lot=_lot(seed, code), expiry=expiry, vials=VIALS_PER_SITE,
                acting_user=staff[f"pharmacist:{code}"], channel=CHANNEL,
            )  # fmt: skip
    outcome = {item.screening_index: item for item in cohort.randomized}
    total = len(cohort.screened)
    for done, patient in enumerate(cohort.screened, start=1):
        coordinator = staff[f"coordinator:{patient.site}"]
        participant = create_participant(site=patient.site, acting_user=coordinator, channel=CHANNEL)
        save_screening(participant, patient.record, acting_user=coordinator, channel=CHANNEL)
        run.screened += 1
        item = outcome.get(patient.index)
        if item is None:
            record_screen_failure(
                participant, acting_user=coordinator, channel=CHANNEL,
                reason="ineligible: " + ", ".join(patient.screening.failed or patient.screening.unknown),
            )  # fmt: skip
            run.screen_failed += 1
        else:
            t0 = datetime.fromisoformat(patient.record["baseline_time"])
            record_consent(
                participant, consent_type=patient.record["consent"]["type"],
                given_by=patient.record["consent"]["by"], obtained_at=t0 - timedelta(hours=2),
                form_version="1.0", obtained_by=coordinator.printed_name(), acting_user=coordinator, channel=CHANNEL,
            )  # fmt: skip
            if stop_before is None:
                _follow(participant, item, t0, seed, staff, protocol, run, as_of)
        if progress is not None:
            progress(done, total)
    return run


def _lot(seed: int, site_code: str) -> str:
    return f"SIM-{seed}-{site_code}"


def _follow(
    participant: Participant, item: Any, t0: datetime, seed: int, staff: dict[str, User], protocol: Any,
    run: CohortRun, as_of: int | None,
) -> None:  # fmt: skip
    """Randomize one participant and enter their simulated days up to `as_of`."""
    from iliad7.dosing import dose_micrograms, injection_volume_ml
    from iliad7.store.actions import (
        prepare_dose,
        randomize_participant,
        record_dose_given,
    )

    site: Site = participant.site
    code = site.code
    simulated = item.participant
    result = randomize_participant(
        participant, acting_user=staff[f"investigator:{code}"], confirmation=True, channel=CHANNEL, randomized_at=t0
    )
    if (result.randomization_number, result.kit_code) != (item.randomization_number, item.kit_code):
        raise RuntimeError(
            f"the database gave {result.randomization_number}/{result.kit_code} where the simulation, from the "
            f"same seed, expects {item.randomization_number}/{item.kit_code}"
        )
    run.randomized += 1
    horizon = 45 if as_of is None else min(as_of, 45)
    day0 = simulated.baseline.day0
    discharge = None if simulated.discharge_day is None else day0 + timedelta(days=simulated.discharge_day)
    coordinator = staff[f"coordinator:{code}"]
    for dose in simulated.doses:
        if dose.study_day > horizon:
            break
        prepare_dose(
            participant, dose.number, weight_kg=Decimal(str(simulated.baseline.weight_kg)),
            concentration_ug_per_ml=CONCENTRATION_UG_PER_ML, lot=_lot(seed, code),
            acting_user=staff[f"pharmacist:{code}"], channel=CHANNEL, prepared_at=dose.given_at - timedelta(hours=1),
        )  # fmt: skip
        volume = injection_volume_ml(
            dose_micrograms(Decimal(str(simulated.baseline.weight_kg)), protocol.dosing),
            CONCENTRATION_UG_PER_ML,
            protocol.dosing,
        )
        record_dose_given(
            participant, dose.number, given_at=dose.given_at, injection_site="deltoid", volume_ml=volume,
            local_reaction=False, acting_user=coordinator, channel=CHANNEL, discharge_date=discharge,
        )  # fmt: skip
        run.doses += 1
    last_day = horizon if simulated.death_day is None else min(horizon, simulated.death_day)
    run.values += _enter_visit_forms(participant, simulated, protocol, coordinator, last_day)
    run.values += _enter_hospital_stays(participant, simulated, coordinator, horizon)
    investigator = staff[f"investigator:{code}"]
    if simulated.death_day is not None and simulated.death_day <= horizon:
        death_date = (day0 + timedelta(days=simulated.death_day)).isoformat()
        _save(participant, "DEATH", {
            "death_date": death_date, "primary_cause": "unknown",
            "cause_text": "death in the simulated course (the simulator models no cause)",
        }, investigator)  # fmt: skip
        _save(participant, "END-OF-STUDY", {"end_status": "died", "end_date": death_date}, investigator)
        run.deaths += 1  # the DEATH form moves the participant to `died`
    elif horizon >= 45:
        end_date = (day0 + timedelta(days=45)).isoformat()
        _save(participant, "END-OF-STUDY", {"end_status": "completed", "end_date": end_date}, investigator)
        run.completed += 1  # the END-OF-STUDY form moves the participant to `completed`


def _save(participant: Participant, form: str, values: dict[str, str], user: User, visit: str = "") -> int:
    """Save one form through the edit checks; a rejection is a simulator bug, so it is raised."""
    from iliad7.store.actions.capture import save_form

    save_form(participant, form, values, visit=visit, acting_user=user, channel=CHANNEL)
    return len(values)


def _local_time(simulated: Any, day: int, hour: int) -> str:
    from iliad7.simulate.population import SITE_ZONES

    zone = ZoneInfo(SITE_ZONES.get(simulated.baseline.site, "UTC"))
    moment = datetime.combine(simulated.baseline.day0 + timedelta(days=day), time(hour), zone)
    return moment.astimezone(UTC).isoformat()


def _enter_visit_forms(participant: Participant, simulated: Any, protocol: Any, user: User, last_day: int) -> int:
    """The LAB and VIRAL-LOAD forms of each scheduled visit up to `last_day`, from the simulated days."""
    from iliad7.simulate import load_parameters

    detection_limit = load_parameters().viral.detection_limit_log10.value
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
            values = by_visit.setdefault((form, visit_id), {"collected_at": _local_time(simulated, day, 6)})
            for name, series, unit in items:
                value = float(getattr(simulated, series)[day])
                if value != value:  # NaN: not measured that day
                    continue
                if form == "VIRAL-LOAD":
                    if value < detection_limit:
                        # The form's VL-RESULT check wants a Ct or a load even when no RNA is detected,
                        # and it has no "below the limit of detection" answer: such results are not entered.
                        continue
                    values["specimen"] = "nasopharyngeal"
                    values["detected"] = "true"
                values[name] = format(Decimal(f"{value:.4g}"), "f")  # 4 significant digits, never 1.4e+04
                values[f"{name}.unit"] = unit
    entered = 0
    for (form, visit_id), values in by_visit.items():
        if len(values) > 1:
            entered += _save(participant, form, values, user, visit=visit_id)
    return entered


def _enter_hospital_stays(participant: Participant, simulated: Any, user: User, horizon: int) -> int:
    """One HOSPITAL-STAY form per simulated hospital and ICU stay begun by `horizon`."""
    from iliad7.store.actions.capture import save_form

    entered = 0
    stays = [("hospital", stay) for stay in simulated.hospital_stays] + [("icu", stay) for stay in simulated.icu_stays]
    for instance, (kind, stay) in enumerate(stays, start=1):
        if stay.start_day > horizon:
            continue
        values = {
            "stay_type": kind,
            "readmission": "true" if kind == "hospital" and stay.start_day > 0 else "false",
            "admitted_at": _local_time(simulated, stay.start_day, 8),
        }
        if stay.stop_day is not None and stay.stop_day <= horizon:
            values["discharged_at"] = _local_time(simulated, stay.stop_day, 11)
            died_then = simulated.death_day is not None and stay.stop_day >= simulated.death_day
            values["discharge_destination"] = "died" if died_then else ("ward" if kind == "icu" else "home")
        save_form(participant, "HOSPITAL-STAY", values, instance=instance, acting_user=user, channel=CHANNEL)
        entered += len(values)
    return entered
