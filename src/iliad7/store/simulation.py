"""The simulated cohort driven through the trial database's own actions (issue 6, "through the real path").

:func:`iliad7.simulate.simulate_cohort` decides, from a seed, who is screened,
who is eligible and what happens to each randomized participant; this module
replays that as site staff would, through the same actions the web pages and
the API call: a coordinator creates each participant and saves the screening
record, records consent or the screen failure; the unblinded statistician
generates the allocation list from a fresh secret seed (never the cohort's:
the cohort's seed is public in the Makefile); an investigator randomizes;
the unblinded pharmacist receives drug and prepares each syringe; the
coordinator records each dose given, the laboratory values of the
protocol's visits, the daily vital signs and clinical status in hospital,
each hospital and ICU stay, organ-support episode and secondary infection;
a monitor queries some values, the coordinator answers and the monitor
closes; the investigator records death or the end of follow-up. Every form
goes through `save_form` and its edit checks: a rejection is a simulator bug
and is raised. What the simulator does not model is entered as the form's
"unknown" answer, or not entered (docs/simulation.md).
So the demo exercises the real system, the calendar rules and the blind (the
simulator knows each arm because it is the world, not a user: it reads the
list's free slots as the unblinded statistician exports them, an audited
export; every action is held to its user's role and site). The courses are
drawn with a fresh secret key besides the cohort's seed, so nobody can re-run
the simulator under either arm and see which one the database holds; a
replay is therefore not reproducible from `--seed` alone (the screening is).
The run is one transaction: all of it is written or, if it fails part-way,
none of it (no half-filled trial, no audit checkpoint of a rolled-back write).

`as_of` stops each participant's follow-up on that study day (a trial part-way
through follow-up): nothing later is entered, no final status is set and
some of those participants' queries are left open or answered; a data manager
records the data cut at the end of that day (site time), so the calendar is
read there and the visits after it are upcoming, not missed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.db import transaction

from iliad7.simulate import entries
from iliad7.store.models import Participant, Site, User

CHANNEL = "cli"
CONCENTRATION_UG_PER_ML = Decimal(500)  # simulated drug product; the real value is configured per lot
LOT_EXPIRY_DAYS = 720
VIALS_PER_SITE = 2000
# The laboratory items of each visit and the form each is entered on (the simulator's: iliad7.simulate.entries).
LAB_ITEMS, LAB_FORMS = entries.LAB_ITEMS, entries.LAB_FORMS
# The ORGAN-SUPPORT form's support_type for each simulated support kind (SUPPORT_KINDS of the simulator).
SUPPORT_TYPES: dict[str, str] = {
    "high_flow": "high_flow_oxygen",
    "niv": "niv",
    "invasive_ventilation": "invasive_ventilation",
    "ecmo": "ecmo",
    "vasopressors": "vasopressors",
    "rrt": "renal_replacement",
}
# The SECONDARY-INFECTION form's infection_site for each simulated site (course.hai_site_share).
INFECTION_SITES: dict[str, str] = {
    "ventilator_associated_pneumonia": "lower_respiratory",
    "bloodstream": "bloodstream",
    "other": "other",
}
# WHO scale inputs entered only out of hospital: in hospital the scale does not read them, the simulator only fills
# them in for its scorer, and the RNA of a day without a swab is no test result.
OUT_OF_HOSPITAL_ONLY = frozenset({"sars_cov_2_rna_detected", "symptomatic", "needs_assistance"})
# Hours (site local time) at which the simulation records what the simulator knows by the day.
VITALS_HOUR = entries.VITALS_HOUR
SUPPORT_HOUR = 8
# The seeded stream of the monitor's queries, apart from the cohort's own draws.
QUERY_STREAM = 6
QUERY_TEXT = "Please confirm this absolute lymphocyte count against the laboratory's source report."
ANSWER_TEXT = "Checked against the laboratory's source report: the value is as entered."
CLOSE_TEXT = "Answer accepted."


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
    cohort: Any = None  # the simulated cohort that was replayed (for checks; it knows the arms)
    forms: dict[str, int] = field(default_factory=dict)  # forms saved, by form id
    queries: dict[str, int] = field(default_factory=dict)  # queries by final status
    not_entered: dict[str, int] = field(default_factory=dict)  # simulated facts a form cannot take honestly

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


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
        staff[f"monitor:{code}"] = _user(f"sim-monitor-{lower}", ["monitor"], [code], run)
    staff["adjudicator"] = _user("sim-infection-adjudicator", ["infection-adjudicator"], [], run)
    staff["data-manager"] = _user("sim-data-manager", ["data-manager"], [], run)
    return staff


def run_simulated_cohort(
    *, n: int, seed: int, stop_before: str | None = None, as_of: int | None = None,
    progress: Callable[[int, int], None] | None = None, allocation_seed: int | None = None,
    course_key: int | None = None,
) -> CohortRun:  # fmt: skip
    """Fill the database with a simulated cohort of `n` randomized participants (see the module text).

    The whole run is one database transaction: a run that fails part-way (a simulator bug the
    edit checks refuse, a crash) leaves no trace of itself, no participant, user, allocation
    list, drug lot nor audit record, and since the audit checkpoints are written only after a
    commit (`iliad7.audit.anchor`), none of those either. Each action inside still runs and is
    audited on its own (nested, as a savepoint). `allocation_seed` and `course_key` make a replay
    reproducible for a test; `iliad7 simulate cohort` never passes them, so the list's seed and
    the courses' key are fresh secrets.
    """
    if stop_before not in (None, "randomization"):
        raise ValueError("--stop-before accepts only 'randomization'")
    with transaction.atomic():
        return _run(n, seed, stop_before, as_of, progress, allocation_seed, course_key)


def _run(
    n: int, seed: int, stop_before: str | None, as_of: int | None, progress: Callable[[int, int], None] | None,
    allocation_seed: int | None, course_key: int | None,
) -> CohortRun:  # fmt: skip
    from iliad7.protocol import load_protocol
    from iliad7.simulate import load_parameters, simulate_cohort
    from iliad7.store.actions import generate_allocation_list, record_drug_receipt
    from iliad7.store.actions.allocation import active_allocation_list, export_allocation_slots

    protocol = load_protocol()
    sites = [site.code for site in protocol.sites]
    params = load_parameters()
    run = CohortRun()
    staff = _staff(sites, run)
    if stop_before is None and active_allocation_list() is None:
        # No seed given: the statistician's list gets a fresh one from the OS generator.
        generate_allocation_list(
            seed=allocation_seed, acting_user=staff["statistician"], channel=CHANNEL, slots_per_stratum=max(n, 1)
        )
    if stop_before is None:
        free = [
            slot
            for slot, usubjid in export_allocation_slots(acting_user=staff["statistician"], channel=CHANNEL)
            if not usubjid
        ]
        cohort = simulate_cohort(
            params, seed, n, allocation=free, course_key=secrets.randbits(128) if course_key is None else course_key
        )
    else:
        cohort = simulate_cohort(params, seed, n)  # nobody is randomized: the world's own list is never used
    run.cohort = cohort
    world = _World(
        seed=seed, staff=staff, protocol=protocol, params=params, run=run, as_of=as_of,
        queries=np.random.default_rng([seed, QUERY_STREAM]), not_detected=_not_detected_accepted(protocol),
        ae_answers=_adverse_event_answers(protocol),
    )  # fmt: skip
    if stop_before is None:
        # The lot the simulated courses were prepared from: received before the first of them, valid through
        # the last; in a demo run years later it has expired, as it would have.
        first = min(p.participant.baseline.day0 for p in cohort.randomized)
        expiry = max(p.participant.baseline.day0 for p in cohort.randomized) + timedelta(days=LOT_EXPIRY_DAYS)
        for code in sites:
            record_drug_receipt(
                site_code=code, lot=_lot(seed, code), expiry=expiry, vials=VIALS_PER_SITE,
                acting_user=staff[f"pharmacist:{code}"], channel=CHANNEL,
                received_at=datetime.combine(first - timedelta(days=7), time(12), tzinfo=UTC),
            )  # fmt: skip
    # Today's stock, received now and valid from today: the participants the demo's users screen and
    # randomize next get their syringes from it.
    for code in sites:
        current = (datetime.now(UTC) + timedelta(days=LOT_EXPIRY_DAYS)).date()
        record_drug_receipt(
            site_code=code, lot=f"{_lot(seed, code)}-{datetime.now(UTC):%Y%m}", expiry=current,
            vials=VIALS_PER_SITE, acting_user=staff[f"pharmacist:{code}"], channel=CHANNEL,
        )  # fmt: skip
    outcome = {item.screening_index: item for item in cohort.randomized}
    total = len(cohort.screened)
    for done, patient in enumerate(cohort.screened, start=1):
        _replay(patient, outcome.get(patient.index), staff, stop_before, run, world)
        if progress is not None:
            progress(done, total)
    return run


def _replay(
    patient: Any, item: Any, staff: dict[str, User], stop_before: str | None, run: CohortRun, world: _World
) -> None:  # fmt: skip
    """One screened patient: screening, then consent and follow-up or the screen failure."""
    from iliad7.store.actions import create_participant, record_consent, record_screen_failure, save_screening

    coordinator = staff[f"coordinator:{patient.site}"]
    participant = create_participant(site=patient.site, acting_user=coordinator, channel=CHANNEL)
    save_screening(participant, patient.record, acting_user=coordinator, channel=CHANNEL)
    run.screened += 1
    _enter_demographics(participant, patient.record, coordinator, world)
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
            _follow(participant, item, t0, patient.record, world)


def _enter_demographics(participant: Participant, record: dict[str, Any], user: User, world: _World) -> None:
    """The DEMOGRAPHICS form at screening: the simulator models neither race nor ethnicity, so both are the
    form's "unknown" answer (docs/simulation.md), collected on the day of the screening record's T0."""
    moment = datetime.fromisoformat(record["baseline_time"])
    zone = ZoneInfo(_site_zone_name(participant.site.code))
    values = {"collected_on": moment.astimezone(zone).date().isoformat(), "race": "unknown", "ethnicity": "unknown"}
    _save(world, participant, "DEMOGRAPHICS", values, user, visit="SCREENING")


def _site_zone_name(site: str) -> str:
    from iliad7.simulate.population import SITE_ZONES

    return SITE_ZONES.get(site, "UTC")


def _lot(seed: int, site_code: str) -> str:
    return f"SIM-{seed}-{site_code}"


@dataclass
class _World:
    """What every participant's replay shares: the run's seed, staff, protocol, parameters and streams."""

    seed: int
    staff: dict[str, User]
    protocol: Any
    params: Any
    run: CohortRun
    as_of: int | None
    queries: np.random.Generator
    not_detected: bool  # the VIRAL-LOAD form takes "not detected" without a load
    ae_answers: dict[str, str] | None  # the ADVERSE-EVENT form's answers for what the simulator does not model


def _follow(participant: Participant, item: Any, t0: datetime, record: dict[str, Any], world: _World) -> None:
    """Randomize one participant and enter their simulated days up to `as_of`."""
    from iliad7.dosing import dose_micrograms, injection_volume_ml
    from iliad7.store.actions import (
        prepare_dose,
        randomize_participant,
        record_dose_given,
    )

    seed, staff, protocol, run, as_of = world.seed, world.staff, world.protocol, world.run, world.as_of
    site: Site = participant.site
    code = site.code
    simulated = item.participant
    result = randomize_participant(
        participant, acting_user=staff[f"investigator:{code}"], confirmation=True, channel=CHANNEL, randomized_at=t0
    )
    if (result.randomization_number, result.kit_code) != (item.randomization_number, item.kit_code):
        raise RuntimeError(
            f"the database gave {result.randomization_number}/{result.kit_code} where the simulation, from the "
            f"same list, expects {item.randomization_number}/{item.kit_code}"
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
            participant, dose.number, given_at=dose.given_at, injection_site="left_deltoid", volume_ml=volume,
            local_reaction=False, acting_user=coordinator, channel=CHANNEL, discharge_date=discharge,
        )  # fmt: skip
        run.doses += 1
    last_day = horizon if simulated.death_day is None else min(horizon, simulated.death_day)
    alc_visits = _enter_visit_forms(participant, simulated, coordinator, last_day, world)
    _enter_hospital_stays(participant, simulated, coordinator, horizon, world)
    _enter_daily_forms(participant, simulated, coordinator, last_day, world)
    _enter_organ_support(participant, simulated, coordinator, last_day, t0, record, world)
    _enter_infections(participant, simulated, coordinator, last_day, world)
    investigator = staff[f"investigator:{code}"]
    _enter_adverse_events(participant, simulated, investigator, last_day, world)
    ended = (simulated.death_day is not None and simulated.death_day <= horizon) or horizon >= 45
    _monitor_queries(participant, alc_visits, staff[f"monitor:{code}"], coordinator, ended, world)
    if simulated.death_day is not None and simulated.death_day <= horizon:
        death_date = (day0 + timedelta(days=simulated.death_day)).isoformat()
        _save(world, participant, "DEATH", {
            "death_date": death_date, "primary_cause": "unknown",
            "cause_text": "death in the simulated course (the simulator models no cause)",
        }, investigator)  # fmt: skip
        _save(world, participant, "END-OF-STUDY", {"end_status": "died", "end_date": death_date}, investigator)
        run.deaths += 1  # the DEATH form moves the participant to `died`
    elif horizon >= 45:
        end_date = (day0 + timedelta(days=45)).isoformat()
        _save(world, participant, "END-OF-STUDY", {"end_status": "completed", "end_date": end_date}, investigator)
        run.completed += 1  # the END-OF-STUDY form moves the participant to `completed`
    else:
        _record_data_cut(participant, simulated, horizon, world)


def _record_data_cut(participant: Participant, simulated: Any, horizon: int, world: _World) -> None:
    """The data manager's data cut at the end of study day `horizon` (site time): nothing later was entered."""
    from iliad7.store.actions.data_cut import set_data_cut

    zone = ZoneInfo(_site_zone_name(participant.site.code))
    end_of_day = datetime.combine(simulated.baseline.day0 + timedelta(days=horizon), time(23, 59), zone)
    set_data_cut(
        participant, min(end_of_day, datetime.now(UTC)), acting_user=world.staff["data-manager"], channel=CHANNEL,
        reason=f"simulated follow-up entered up to study day {horizon} (iliad7 simulate cohort --as-of {horizon})",
    )  # fmt: skip


def _save(
    world: _World, participant: Participant, form: str, values: dict[str, str], user: User, visit: str = "",
    instance: int = 1,
) -> None:  # fmt: skip
    """Save one form through the edit checks; a rejection is a simulator bug, so it is raised."""
    from iliad7.store.actions.capture import save_form

    save_form(participant, form, values, visit=visit, instance=instance, acting_user=user, channel=CHANNEL)
    world.run.values += len(values)
    world.run.count(world.run.forms, form)


def _local_time(simulated: Any, day: int, hour: int) -> str:
    return entries.local_time(simulated, day, hour)


def _date(simulated: Any, day: int) -> str:
    return entries.study_date(simulated, day)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _not_detected_accepted(protocol: Any) -> bool:
    """Whether the VIRAL-LOAD form takes "RNA not detected" with neither a Ct nor a load (probed by its checks)."""
    from iliad7.capture import CaptureContext, form_spec, validate_form

    spec = form_spec(protocol, "VIRAL-LOAD")
    probe = {"collected_at": "2021-01-04T06:00:00+00:00", "specimen": "nasopharyngeal", "detected": "false"}
    return validate_form(spec, probe, context=CaptureContext(visit=spec.visits[0].id)).ok


def _enter_visit_forms(participant: Participant, simulated: Any, user: User, last_day: int, world: _World) -> list[str]:
    """The LAB and VIRAL-LOAD forms of each scheduled visit up to `last_day` (`iliad7.simulate.entries.visit_forms`:
    every value inside what its item accepts). Returns the LAB visits with an ALC."""
    planned = entries.visit_forms(simulated, world.protocol, world.params, last_day, not_detected=world.not_detected)
    for name, count in planned.not_entered.items():
        world.run.not_entered[name] = world.run.not_entered.get(name, 0) + count
    for form in planned.forms:
        _save(world, participant, form.form, form.values, user, visit=form.visit)
    return [form.visit for form in planned.forms if form.form == "LAB" and "alc" in form.values]


def _enter_hospital_stays(participant: Participant, simulated: Any, user: User, horizon: int, world: _World) -> None:
    """One HOSPITAL-STAY form per simulated hospital and ICU stay begun by `horizon`."""
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
        _save(world, participant, "HOSPITAL-STAY", values, user, instance=instance)


def _daily_days(simulated: Any, last_day: int) -> tuple[dict[int, str], dict[int, str]]:
    """The days of the VITALS and CLINICAL-STATUS forms up to `last_day`, each with its visit ("" for a daily entry).

    Both daily in hospital (day 0 is BASELINE). D30 is day 30 or the discharge day if earlier: the
    clinical status of that day and, for a participant discharged by then, the last hospital day's vitals
    (inside the D30 window); D45 is day 45 (clinical status). Nothing on or after the day of death: the
    DEATH form records it.
    """
    alive = range(last_day + 1) if simulated.death_day is None else range(min(last_day + 1, simulated.death_day))
    vitals = {day: "" for day in alive if simulated.hospitalized[day]}
    status = dict(vitals)
    for days in (vitals, status):
        if 0 in days:
            days[0] = "BASELINE"
    discharge = simulated.discharge_day
    d30 = discharge if discharge is not None and discharge < 30 else 30
    if d30 in alive:
        status[d30] = "D30"
        if d30 in vitals:
            vitals[d30] = "D30"
        elif vitals.get(d30 - 1) == "":
            vitals[d30 - 1] = "D30"
    if 45 in alive:
        status[45] = "D45"
    return vitals, status


def _enter_daily_forms(participant: Participant, simulated: Any, user: User, last_day: int, world: _World) -> None:
    """VITALS (the NEWS2 observations) and CLINICAL-STATUS (the WHO scale inputs) on their days (`_daily_days`)."""
    vitals_days, status_days = _daily_days(simulated, last_day)
    instance = 0
    for day, visit in sorted(vitals_days.items()):
        values = entries.vitals_values(simulated, day)
        instance += not visit
        _save(world, participant, "VITALS", values, user, visit=visit, instance=1 if visit else instance)
    instance = 0
    for day, visit in sorted(status_days.items()):
        values = {"assessed_on": _date(simulated, day)}
        for name, value in simulated.who_status(day).model_dump(exclude_none=True).items():
            if simulated.hospitalized[day] and name in OUT_OF_HOSPITAL_ONLY:
                continue
            values[name] = _flag(value) if isinstance(value, bool) else str(value)
        instance += not visit
        _save(world, participant, "CLINICAL-STATUS", values, user, visit=visit, instance=1 if visit else instance)


def _enter_organ_support(
    participant: Participant, simulated: Any, user: User, last_day: int, t0: datetime, record: dict[str, Any],
    world: _World,
) -> None:  # fmt: skip
    """One ORGAN-SUPPORT form per simulated support episode begun by `last_day`, stopped if it stopped by then.

    The simulator works in days: an episode starts and stops at SUPPORT_HOUR local time on its days,
    except the support under way at randomization, recorded from T0 (invasive ventilation from the
    screening record's start of ventilation), since the simulator knows it was on then, not since when.
    """
    instance = 0
    for episode in simulated.support:
        if episode.start_day > last_day:
            continue
        started = _local_time(simulated, episode.start_day, SUPPORT_HOUR)
        if episode.start_day == 0:
            mv_start = record.get("mechanical_ventilation_start")
            started = mv_start if episode.kind == "invasive_ventilation" and mv_start else t0.isoformat()
        values = {"support_type": SUPPORT_TYPES[episode.kind], "started_at": started}
        if episode.stop_day is not None and episode.stop_day <= last_day:
            values["stopped_at"] = _local_time(simulated, episode.stop_day, SUPPORT_HOUR)
        instance += 1
        _save(world, participant, "ORGAN-SUPPORT", values, user, instance=instance)


def _enter_infections(participant: Participant, simulated: Any, user: User, last_day: int, world: _World) -> None:
    """One SECONDARY-INFECTION form per simulated infection by `last_day`: site and onset day, then the
    Secondary Infections Committee's decision.

    The simulator models no organism: the organism type is the form's "unknown" (not identified), and
    so the infection is not recorded as confirmed by culture or PCR.
    """
    from iliad7.store.actions.adjudication import adjudicate_infection

    for instance, infection in enumerate((i for i in simulated.infections if i.day <= last_day), start=1):
        values = {
            "onset_date": _date(simulated, infection.day),
            "infection_site": INFECTION_SITES[infection.site],
            "organism_type": "unknown",
            "culture_confirmed": "false",
            "description": f"Hospital-acquired infection ({infection.site.replace('_', ' ')}) in the simulated course; "
            "the simulator models no organism.",
        }
        _save(world, participant, "SECONDARY-INFECTION", values, user, instance=instance)
        # The simulator's infections are true hospital-acquired infections by construction: the committee,
        # blind to the arm, confirms each (the SAP counts confirmed infections only).
        adjudicate_infection(
            participant, instance, decision="confirmed", acting_user=world.staff["adjudicator"], channel=CHANNEL,
            rationale="simulated hospital-acquired infection: true by construction of the simulator",
        )  # fmt: skip


# CTCAE v5.0 terms of the simulated adverse events (the secondary infection's by its site).
AE_TERMS: dict[str, str] = {
    "injection_site_reaction": "Injection site reaction",
    "fever": "Fever",
    "lymphocyte_count_increased": "Lymphocyte count increased",
    "lymphocyte_count_decreased": "Lymphocyte count decreased",
    "ventilator_associated_pneumonia": "Lung infection",
    "bloodstream": "Sepsis",
    "other": "Infections and infestations - Other, specify",
}


def _adverse_event_answers(protocol: Any) -> dict[str, str] | None:
    """The ADVERSE-EVENT form's answers to what the simulator does not model (relatedness, expectedness, outcome).

    Each is the item's "not_assessed" or "unknown" choice where it has one, and left blank when it is
    optional. None when a required one has no such answer: the simulator cannot answer it honestly,
    so no adverse event is entered (counted in `not_entered`).
    """
    form = protocol.form("ADVERSE-EVENT")
    answers: dict[str, str] = {}
    for item_id in ("relatedness", "expected", "outcome"):
        item = form.item(item_id)
        codes = {choice.code for choice in item.choices}
        honest = next((code for code in ("not_assessed", "unknown") if code in codes), None)
        if honest is not None:
            answers[item_id] = honest
        elif item.required:
            return None
    return answers


# The ADVERSE-EVENT form's seriousness criterion of each simulated serious event: the simulated infection
# lengthens the stay (docs/simulation.md), a grade 4 lymphopenia is serious as an important medical event.
SERIOUS_BECAUSE: dict[str, str] = {
    "secondary_infection": "sae_hospitalization",
    "lymphocyte_count_decreased": "sae_important_medical_event",
}
# The CTCAE v5.0 term of a death the simulator gives no cause for (its DEATH form says "unknown").
DEATH_TERM = "Death NOS"


def _enter_adverse_events(
    participant: Participant, simulated: Any, user: User, last_day: int, world: _World
) -> None:  # fmt: skip
    """One ADVERSE-EVENT form per simulated adverse event by `last_day`, when the form allows it (see above),
    and a grade 5 "Death NOS" event for a death by then (the simulator models no cause of death)."""
    events = [e for e in simulated.adverse_events if e.day <= last_day]
    died = simulated.death_day is not None and simulated.death_day <= last_day
    if world.ae_answers is None:
        for _ in range(len(events) + died):
            world.run.count(world.run.not_entered, "ADVERSE-EVENT")
        return
    infections = iter(simulated.infections)
    instance = 0
    for instance, event in enumerate(events, start=1):
        term = AE_TERMS[next(infections).site] if event.term == "secondary_infection" else AE_TERMS[event.term]
        values = {
            "term": term, "grade": str(event.grade), "onset_date": _date(simulated, event.day),
            "serious": _flag(event.serious), **world.ae_answers,
        }  # fmt: skip
        if event.serious:
            values["awareness_at"] = _local_time(simulated, event.day, 12)
            values[SERIOUS_BECAUSE[event.term]] = "true"
        stop_day, outcome = _event_course(event, simulated, last_day, world.params)
        if outcome is not None:
            values["outcome"] = outcome
        if stop_day is not None:
            values["stop_date"] = _date(simulated, stop_day)
        if event.term.startswith("lymphocyte_count_"):
            values.update(
                lab_term=event.term, lab_value=str(round(float(simulated.alc[event.day]))), lab_unit="cells/mm3",
                lab_lln=format(Decimal(str(world.params.alc.lln.value)), "f"),
            )  # fmt: skip
        _save(world, participant, "ADVERSE-EVENT", values, user, instance=instance)
    if died:
        day = simulated.death_day
        values = {
            "term": DEATH_TERM, "grade": "5", "onset_date": _date(simulated, day), "stop_date": _date(simulated, day),
            "serious": "true", "sae_death": "true", "awareness_at": _local_time(simulated, day, 12),
            **world.ae_answers, "outcome": "fatal",
        }  # fmt: skip
        _save(world, participant, "ADVERSE-EVENT", values, user, instance=instance + 1)


def _event_course(event: Any, simulated: Any, last_day: int, params: Any) -> tuple[int | None, str | None]:
    """(the day the simulated event resolved, the form's outcome code) from what the simulated course says.

    A fever is one simulated day; an infection raises the status for three days; a lymphocyte count event
    lasts until the simulated count's grade falls below the event's (on the days the simulator grades, in
    hospital). An event still going on at the last day entered is not recovered; the simulator models no
    course for an injection-site reaction, whose outcome stays the form's "unknown" (None: the default answer).
    """
    from iliad7.simulate.trajectories import _lymphocyte_grade

    end: int | None = None
    if event.term == "fever":
        end = event.day
    elif event.term == "secondary_infection":
        end = event.day + 2
    elif event.term.startswith("lymphocyte_count_"):
        lln = params.alc.lln.value
        for day in range(event.day + 1, min(last_day, len(simulated.alc) - 1) + 1):
            value = float(simulated.alc[day])
            if not simulated.hospitalized[day] or value != value:
                continue
            if _lymphocyte_grade(event.term, round(value), lln) < event.grade:
                end = day
                break
        if end is None:
            return None, "not_recovered"
    else:
        return None, None
    alive_then = simulated.death_day is None or end < simulated.death_day
    if end > last_day or not alive_then:
        return None, "not_recovered"
    return end, "recovered"


def _monitor_queries(
    participant: Participant, alc_visits: list[str], monitor: User, coordinator: User, ended: bool, world: _World
) -> None:  # fmt: skip
    """With `monitoring.queries` share, the monitor queries one ALC; the coordinator answers, the monitor closes.

    While the participant is still in follow-up the query stays open (`open_share_in_follow_up`) or
    answered. Three draws per participant from the run's own query stream, whatever happens.
    """
    from iliad7.store.actions import answer_query, close_query, raise_query

    shares = world.params.monitoring.queries.value
    draws = world.queries.random(3)
    if not alc_visits or draws[0] >= shares["share"]:
        return
    visit = alc_visits[int(draws[1] * len(alc_visits))]
    query = raise_query(
        participant, form="LAB", item="alc", visit=visit, text=QUERY_TEXT, acting_user=monitor, channel=CHANNEL
    )
    if not ended and draws[2] < shares["open_share_in_follow_up"]:
        world.run.count(world.run.queries, "open")
        return
    answer_query(query, text=ANSWER_TEXT, acting_user=coordinator, channel=CHANNEL)
    if not ended:
        world.run.count(world.run.queries, "answered")
        return
    close_query(query, acting_user=monitor, channel=CHANNEL, text=CLOSE_TEXT)
    world.run.count(world.run.queries, "closed")
