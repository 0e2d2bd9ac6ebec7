"""Daily courses of randomized participants, day 0 to day 45, around the shared course model.

For each participant :func:`participants_from_courses` takes the course drawn by
:func:`iliad7.simulate.course.draw_courses` (death and its day, infection, discharge, ALC recovery,
primary-endpoint ALC) and fills in the days:

- a daily status level that *is* the WHO Clinical Progression Scale (checked by scoring it with
  :func:`iliad7.scores.who_clinical_progression`): 4 no oxygen, 5 nasal/mask oxygen, 6 high-flow or
  NIV, 7 ventilation, 8 with vasopressors, 9 with renal replacement or ECMO, 10 dead; out of
  hospital 3 (needs assistance), 2 (symptomatic), 1 or 0 (by viral RNA).
  Death follows worsening: the last days climb to at least WHO 6 (to 8-9 unless escalation is
  limited). Discharge follows recovery: the last `recovery_days_before_discharge` in hospital are
  at WHO 4. An infection adds one level for three days.
- organ-support episodes, ICU stays (days at WHO 6-9), hospital stays, a readmission;
- vitals drawn from the level, scored with :func:`iliad7.scores.news2` while in hospital;
- ALC (the course's model with daily noise; the endpoint day carries the course's own draw, so
  the primary ALC is the one the power path analyses), CD4 and CD8 (Pan 2022 fractions),
  ferritin, CRP, D-dimer and log10 viral load;
- doses on the protocol's target days, each one allowed by the real
  :func:`iliad7.dosing.check_dose` (so none on or after discharge or death), in ug by
  :func:`iliad7.dosing.dose_micrograms`;
- adverse events: injection-site reactions and fever (drawn), lymphocytosis and worsening
  lymphopenia (graded from the simulated ALC by :func:`iliad7.scores.ctcae_grade`), and
  secondary infections.

Arrays run over study days 0..45; laboratory values after death are NaN and NEWS2 is -1 on days
out of hospital. Values on days out of hospital are the latent course: which are observed is the
schedule's business (the database path samples them at visits). Everything is determined by the
generator passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from iliad7.dosing import check_dose, dose_micrograms
from iliad7.protocol import Dosing, load_protocol
from iliad7.scores import CtcaeInput, News2Input, WhoInput, ctcae_grade, news2, who_clinical_progression
from iliad7.simulate.course import (
    Calendar,
    Courses,
    FloatArray,
    IntArray,
    draw_courses,
    log_alc_mean,
    protocol_calendar,
)
from iliad7.simulate.parameters import SEVERITIES, Parameters
from iliad7.simulate.population import SITE_ZONES
from iliad7.simulate.ranges import Range, protocol_ranges, truncated_normal, truncated_scalar

ARMS = ("placebo", "CYT107")  # index = the course's arm code
NOT_SCORED = -1
# Doses are given at DOSE_HOUR local time on their target days; dose 1 no earlier than FIRST_DOSE_AFTER_T0 after
# randomization (the kit is assigned at T0, then prepared by the pharmacist), and each later dose no earlier than the
# protocol's interval after the previous one (so an evening dose 1 moves dose 2 to the evening of day 3).
DOSE_HOUR = 10
FIRST_DOSE_AFTER_T0 = timedelta(hours=2)
SUPPORT_KINDS = ("high_flow", "niv", "invasive_ventilation", "ecmo", "vasopressors", "rrt")


@dataclass(frozen=True)
class Baseline:
    """What is known of a participant at randomization."""

    site: str
    arm: str  # CYT107 or placebo
    severity: str  # o2, hfno_niv or mv
    alc0: float  # cells/mm3
    weight_kg: float
    device: str  # the baseline respiratory support device (screening record vocabulary)
    day0: date  # local calendar date of dose 1 at the site
    randomized_at: datetime | None = None  # T0 (aware) when known: dose 1 is given after it


@dataclass(frozen=True)
class Dose:
    number: int
    study_day: int
    given_at: datetime  # aware, UTC
    dose_ug: int  # the CYT107 dose for this weight (the placebo syringe has the same volume of saline)


@dataclass(frozen=True)
class Episode:
    """A stretch of days, start inclusive, stop exclusive; stop None when still going at day 45."""

    kind: str
    start_day: int
    stop_day: int | None


@dataclass(frozen=True)
class Infection:
    day: int
    site: str  # ventilator_associated_pneumonia, bloodstream or other


@dataclass(frozen=True)
class AdverseEvent:
    term: str
    day: int
    grade: int
    serious: bool


@dataclass(frozen=True)
class Participant:
    index: int
    baseline: Baseline
    level: IntArray  # WHO scale by day, as simulated
    who: IntArray  # WHO scale by day, as scored by iliad7.scores
    hospitalized: Any  # bool array by day
    news2: IntArray  # NEWS2 by day in hospital, NOT_SCORED otherwise
    alc: FloatArray
    cd4: FloatArray
    cd8: FloatArray
    ferritin: FloatArray
    crp: FloatArray
    d_dimer: FloatArray
    viral_load_log10: FloatArray  # below `detection_limit_log10` means RNA not detected
    support: tuple[Episode, ...]
    icu_stays: tuple[Episode, ...]
    hospital_stays: tuple[Episode, ...]
    infections: tuple[Infection, ...]
    adverse_events: tuple[AdverseEvent, ...]
    doses: tuple[Dose, ...]
    death_day: int | None
    discharge_day: int | None  # first discharge, None if dead or still in hospital at day 45
    readmission_day: int | None
    endpoint_day: int | None  # the primary ALC's day (None: no post-baseline value)
    primary_alc: float | None
    vitals: tuple[dict[str, Any] | None, ...] = field(repr=False)
    device: tuple[str, ...] = field(repr=False)  # respiratory support by day ("none" out of hospital)
    rna_detected: Any = field(repr=False)  # bool array by day: viral RNA at or above the detection limit

    def who_status(self, day: int) -> WhoInput:
        """The WHO scale inputs of `day`, as the simulator scored them: ``who[day]`` is their score."""
        on = {e.kind for e in self.support if e.start_day <= day and (e.stop_day is None or day < e.stop_day)}
        return _who_status(
            int(self.level[day]), self.device[day], "vasopressors" in on, "rrt" in on, bool(self.rna_detected[day])
        )

    @property
    def osfd(self) -> int:
        """Organ-support-free days to the horizon, REMAP-CAP convention (-1 if dead by then)."""
        if self.death_day is not None:
            return -1
        supported = np.zeros(self.level.size, dtype=bool)
        for episode in self.support:
            if episode.kind != "rrt":
                supported[episode.start_day : episode.stop_day] = True
        return int((~supported).sum())


# ------------------------------------------------------------------------------------ scoring


@lru_cache(maxsize=4096)
def _who(level: int, support: str, vasopressors: bool, rrt: bool, rna: bool) -> int:
    score = who_clinical_progression(_who_status(level, support, vasopressors, rrt, rna)).score
    if score is None:
        raise AssertionError(f"WHO scale undetermined for level {level}")
    return score


def _who_status(level: int, support: str, vasopressors: bool, rrt: bool, rna: bool) -> WhoInput:
    """The WHO scale inputs of a day at a simulated level, on `support` (the day's device)."""
    if level == 10:
        status = WhoInput(dead=True)
    elif level >= 4:
        oxygen = {
            "none": "none",
            "nasal_cannula": "mask_or_nasal_prongs",
            "mask": "mask_or_nasal_prongs",
            "high_flow": "niv_or_high_flow",
            "niv": "niv_or_high_flow",
            "invasive_ventilation": "mechanical_ventilation",
            "ecmo": "ecmo",
        }[support]
        status = WhoInput(
            dead=False,
            hospitalized=True,
            sars_cov_2_rna_detected=rna,
            symptomatic=True,
            needs_assistance=True,
            oxygen_support=oxygen,  # type: ignore[arg-type]
            vasopressors=vasopressors,
            dialysis=rrt,
        )
    else:
        status = WhoInput(
            dead=False,
            hospitalized=False,
            sars_cov_2_rna_detected=rna,
            symptomatic=level >= 2,
            needs_assistance=level == 3,
            oxygen_support="none",
            vasopressors=False,
            dialysis=False,
        )
    return status


@lru_cache(maxsize=65536)
def _news2(rr: int, spo2: int, oxygen: bool, sbp: int, pulse: int, consciousness: str, temperature: float) -> int:
    result = news2(
        News2Input(
            respiratory_rate=float(rr),
            spo2=float(spo2),
            spo2_scale=1,
            on_supplemental_oxygen=oxygen,
            systolic_bp=float(sbp),
            pulse=float(pulse),
            consciousness=consciousness,  # type: ignore[arg-type]
            temperature=temperature,
        )
    )
    if result.score is None:
        raise AssertionError("NEWS2 undetermined with every vital present")
    return result.score


@lru_cache(maxsize=16384)
def _lymphocyte_grade(term: str, value: float, lln: float) -> int:
    grade = ctcae_grade(CtcaeInput(term=term, value=value, unit="cells/uL", lln=lln)).grade  # type: ignore[arg-type]
    return 0 if grade is None else grade


# ------------------------------------------------------------------------------------ the days


def _runs(flags: Sequence[bool] | Any, kind: str, horizon: int) -> list[Episode]:
    episodes: list[Episode] = []
    start: int | None = None
    for day, on in enumerate([*list(flags), False]):
        if on and start is None:
            start = day
        elif not on and start is not None:
            episodes.append(Episode(kind, start, None if day > horizon else day))
            start = None
    return episodes


def _status_levels(
    courses: Courses, params: Parameters, rng: np.random.Generator, horizon: int
) -> tuple[IntArray, int | None]:
    """Daily WHO level in hospital (and 10 after death); out-of-hospital days are filled later (-1)."""
    course = params.course
    days = horizon + 1
    level = np.full(days, -1, dtype=np.int64)
    start = 5 + int(courses.severity)
    if bool(courses.dies):
        death = int(courses.death_day)
        escalation = course.terminal_escalation.value
        if rng.random() < course.limited_escalation_share.value:
            last = max(start, 6)
        else:
            last = 9 if rng.random() < escalation["rrt_share"] else 8
            last = max(last, start)
        ramp = min(death, 4)
        for day in range(death):
            into = day - (death - ramp)
            level[day] = start if into < 0 else round(start + (last - start) * (into + 1) / ramp)
        level[death:] = 10
        return level, None
    discharge = int(courses.discharge_day)
    recovery = int(course.recovery_days_before_discharge.value)
    ward = discharge - recovery  # days [0, ward) above WHO 4, then recovery at WHO 4
    peak = min(start + 1, 8) if rng.random() < course.worsening_share.value else start
    turn = min(int(rng.random() * ward / 3), ward - 1)
    for day in range(min(ward, days)):
        if day <= turn:
            level[day] = round(start + (peak - start) * day / turn) if turn > 0 else start
        else:
            level[day] = math.ceil(peak - (peak - 5) * (day - turn) / (ward - 1 - turn) - 1e-9)
    level[ward : min(discharge, days)] = 4
    if bool((level >= 6).any()) and rng.random() < course.icu_readmission_share.value:
        last_icu = int(np.flatnonzero(level >= 6)[-1])
        ward_days = [d for d in range(last_icu + 1, min(ward, days)) if level[d] == 5]
        if len(ward_days) >= 5:
            level[ward_days[1] : ward_days[1] + 3] = 6
    return level, discharge


def participants_from_courses(
    courses: Courses,
    params: Parameters,
    rng: np.random.Generator,
    *,
    baselines: Sequence[Baseline] | None = None,
    calendar: Calendar | None = None,
) -> list[Participant]:
    """The daily courses of the participants of a one-dimensional :class:`Courses`.

    Without `baselines` (a stack sliced from the power path), weight, device, site code and day 0
    are drawn or defaulted.
    """
    cal = protocol_calendar() if calendar is None else calendar
    protocol = load_protocol()
    site_codes = [site.code for site in protocol.sites]
    children = rng.spawn(courses.arm.size)
    participants = []
    for index in range(courses.arm.size):
        one = courses.take(index)
        child = children[index]
        baseline = baselines[index] if baselines is not None else _default_baseline(one, params, child, site_codes)
        participants.append(_participant(index, baseline, one, params, child, cal, protocol.dosing))
    return participants


def _default_baseline(one: Courses, params: Parameters, rng: np.random.Generator, sites: list[str]) -> Baseline:
    pop = params.population
    female = rng.random() < pop.female_share.value
    h = pop.height_cm.value
    height = rng.normal(h["female_mean"] if female else h["male_mean"], h["sd"])
    bmi = math.exp(rng.normal(math.log(pop.bmi.value["median"]), math.log(pop.bmi.value["gsd"])))
    severity = SEVERITIES[int(one.severity)]
    device = {"o2": "nasal_cannula", "hfno_niv": "high_flow", "mv": "mechanical_ventilation"}[severity]
    return Baseline(
        site=sites[int(one.site)],
        arm=ARMS[int(one.arm)],
        severity=severity,
        alc0=float(np.exp(one.log_alc0)),
        weight_kg=round(min(bmi, 40.0) * (height / 100) ** 2, 1),
        device=device,
        day0=date(2021, 1, 4),
    )


def _participant(
    index: int,
    baseline: Baseline,
    one: Courses,
    params: Parameters,
    rng: np.random.Generator,
    cal: Calendar,
    dosing: Dosing,
) -> Participant:
    horizon = cal.horizon_day
    days = np.arange(horizon + 1)
    course = params.course
    dies = bool(one.dies)
    death = int(one.death_day) if dies else None
    level, discharge = _status_levels(one, params, rng, horizon)
    hospitalized = (level >= 4) & (level <= 9)

    # Viral load, falling from baseline (needed for the out-of-hospital WHO levels 1 and 0).
    viral = params.viral
    ranges = protocol_ranges()
    # The load is highest on day 0: kept at or below the VIRAL-LOAD form's top (values below the
    # detection limit are entered as "not detected", without a load).
    v0 = truncated_scalar(
        float(rng.standard_normal()), viral.baseline_log10.value["mean"], viral.baseline_log10.value["sd"],
        Range(high=ranges["viral_load_log10"].high),
    )  # fmt: skip
    decline = max(rng.normal(viral.decline_log10_per_day.value["mean"], viral.decline_log10_per_day.value["sd"]), 0.02)
    viral_load = v0 - decline * days
    rna = viral_load >= viral.detection_limit_log10.value

    # Infection: one extra level for three days while in hospital, above WHO 4.
    infections: list[Infection] = []
    if bool(one.hai):
        hai_day = int(one.hai_day)
        for day in range(hai_day, min(hai_day + 3, horizon + 1)):
            if 5 <= level[day] <= 8:
                level[day] += 1
        shares = course.hai_site_share.value
        sites = list(shares)
        site = sites[int(rng.choice(len(sites), p=np.asarray(list(shares.values()))))]
        if site == "ventilator_associated_pneumonia" and level[hai_day] < 7:
            site = "other"
        infections.append(Infection(hai_day, site))

    # Out of hospital: needs assistance, then symptomatic, then by viral RNA; a readmission.
    readmission_day = None
    if discharge is not None:
        after = course.symptom_days_after_discharge.value
        for day in range(discharge, horizon + 1):
            since = day - discharge
            level[day] = 3 if since < after["assisted"] else 2 if since < after["symptomatic"] else int(rna[day])
        stay = course.readmission_stay_days.value
        if rng.random() < course.readmission_share.value:
            readmit = discharge + int(rng.integers(int(stay["delay_low"]), int(stay["delay_high"]) + 1))
            if readmit <= horizon:
                readmission_day = readmit
                level[readmit : readmit + int(stay["stay"])] = 4
                level[readmit] = 5
        hospitalized = (level >= 4) & (level <= 9)

    # Respiratory and cardiovascular support by day.
    o2_device = baseline.device if baseline.device in ("nasal_cannula", "mask") else "nasal_cannula"
    if baseline.device in ("high_flow", "niv"):
        high_device = baseline.device
    else:
        high_device = "high_flow" if rng.random() < params.population.high_flow_share.value else "niv"
    ecmo = rng.random() < course.terminal_escalation.value["ecmo_share"]
    device = []
    vasopressors = np.zeros(days.size, dtype=bool)
    rrt = np.zeros(days.size, dtype=bool)
    for day in range(days.size):
        lv = int(level[day])
        if lv == 9 and ecmo:
            device.append("ecmo")
        elif lv >= 7 and lv <= 9:
            device.append("invasive_ventilation")
        else:
            device.append({6: high_device, 5: o2_device}.get(lv, "none"))
        vasopressors[day] = lv in (8, 9) and not (lv == 9 and ecmo)
        rrt[day] = lv == 9 and not ecmo
    support: list[Episode] = []
    for kind in SUPPORT_KINDS:
        if kind == "vasopressors":
            flags: Any = vasopressors
        elif kind == "rrt":
            flags = rrt
        else:
            flags = [d == kind for d in device]
        support += _runs(flags, kind, horizon)
    support.sort(key=lambda e: (e.start_day, SUPPORT_KINDS.index(e.kind)))
    icu_stays = tuple(_runs((level >= 6) & (level <= 9), "icu", horizon))
    hospital_stays = tuple(_runs(hospitalized, "hospital", horizon))
    who = np.array(
        [_who(int(level[d]), device[d], bool(vasopressors[d]), bool(rrt[d]), bool(rna[d])) for d in days],
        dtype=np.int64,
    )

    # Doses: each target day, if the real dosing rule allows it then.
    zone = ZoneInfo(SITE_ZONES.get(baseline.site, "UTC"))
    discharge_date = None if discharge is None or discharge > horizon else baseline.day0 + timedelta(days=discharge)
    death_date = None if death is None else baseline.day0 + timedelta(days=death)
    dose_ug = dose_micrograms(Decimal(str(baseline.weight_kg)), dosing)
    given: dict[int, datetime] = {}
    doses: list[Dose] = []
    t0 = baseline.randomized_at
    for number, target in enumerate(cal.dose_days, start=1):
        at = datetime.combine(baseline.day0 + timedelta(days=target), time(DOSE_HOUR), tzinfo=zone).astimezone(UTC)
        if number == 1 and t0 is not None:
            at = max(at, t0 + FIRST_DOSE_AFTER_T0)
        if given:
            hours = dosing.min_hours_between_doses
            if number == 2:
                hours = max(hours, dosing.observation_hours_before_dose_2)
            at = max(at, max(given.values()) + timedelta(hours=hours))
        decision = check_dose(
            dosing, dose=number, at=at, given=given, tz=zone, discharge_date=discharge_date, death_date=death_date,
            randomized_at=t0,
        )  # fmt: skip
        if decision.allowed:
            given[number] = at
            doses.append(Dose(number, target, at, dose_ug))

    # Laboratory courses: each day's value from the model's distribution for that day, truncated to the
    # LAB form's range (ranges.truncated_normal; docs/simulation.md says why per quantity).
    arm_code = ARMS.index(baseline.arm)
    draws = rng.standard_normal(days.size)
    endpoint = int(one.endpoint_day) if bool(one.analysable) else None
    mean = log_alc_mean(one.log_alc0, one.recovery, np.full(1, arm_code, dtype=np.int64), days, params)
    alc_log = ranges["alc"].log()
    log_alc = truncated_normal(draws, mean, params.alc.daily_noise_sd.value, alc_log.low, alc_log.high)
    log_alc[0] = mean[0]  # day 0 is the screening count itself
    if endpoint is not None:
        log_alc[endpoint] = mean[endpoint] + float(one.endpoint_noise)  # the course's draw, already in range
    alive = np.ones(days.size, dtype=bool) if death is None else days < death
    alc = np.where(alive, np.exp(log_alc), np.nan)
    gsd = math.log(params.population.subset_gsd.value)
    highest = float(np.nanmax(alc))
    subsets = {}
    for name in ("cd4", "cd8"):
        # The participant's subset fraction, kept so that no day's count passes the LAB form's range.
        fraction = getattr(params.population, f"{name}_fraction").value
        top = math.log(ranges[name].high / (fraction * highest))
        factor = math.exp(truncated_scalar(float(rng.standard_normal()), 0.0, gsd, Range(high=top)))
        subsets[name] = alc * fraction * factor
    cd4, cd8 = subsets["cd4"], subsets["cd8"]
    markers = params.markers
    fate = "decedent" if dies else "survivor"
    labs = {}
    for name in ("ferritin", "crp", "d_dimer"):
        bounds = ranges[name].log()
        base = math.log(markers.baseline.value[f"{name}_median"])
        spread = math.log(markers.baseline.value[f"{name}_gsd"])
        slope = markers.daily_log_slope.value[f"{name}_{fate}"]
        start = truncated_scalar(float(rng.standard_normal()), base, spread, bounds)  # the participant's day-0 level
        noise = rng.standard_normal(days.size)
        series = truncated_normal(noise, start + slope * days, markers.daily_noise_sd.value, bounds.low, bounds.high)
        labs[name] = np.where(alive, np.exp(series), np.nan)
    viral_series: FloatArray = np.where(alive, viral_load, np.nan).astype(np.float64)

    # Vitals and NEWS2 while in hospital.
    fever_days: set[int] = {d for i in infections for d in range(i.day, i.day + 3)}
    events: list[AdverseEvent] = [AdverseEvent("secondary_infection", i.day, 3, True) for i in infections]
    ae = params.adverse_events
    site_reaction = ae.injection_site_reaction.value
    if doses and rng.random() < site_reaction[baseline.arm]:
        dose = doses[int(rng.integers(0, len(doses)))]
        grade = 2 if rng.random() < site_reaction["grade2_share"] else 1
        events.append(AdverseEvent("injection_site_reaction", dose.study_day, grade, False))
    fever = ae.fever.value
    fever_share = fever["placebo"] + (fever["CYT107_excess"] if baseline.arm == "CYT107" else 0.0)
    if doses and rng.random() < fever_share:
        day = doses[int(rng.integers(0, len(doses)))].study_day + 1
        if hospitalized[day]:
            events.append(AdverseEvent("fever", day, 1, False))
            fever_days.add(day)
    vitals, news2_scores = _vitals(level, hospitalized, device, fever_days, params, rng, ranges)
    events += _lymphocyte_events(alc, hospitalized, params)
    events.sort(key=lambda e: (e.day, e.term))
    vitals = _with_oxygen_flow(vitals, device, params, rng, ranges["oxygen_flow_lpm"])  # the last draws

    return Participant(
        index=index,
        baseline=baseline,
        level=level,
        who=who,
        hospitalized=hospitalized,
        news2=news2_scores,
        alc=alc,
        cd4=cd4,
        cd8=cd8,
        ferritin=labs["ferritin"],
        crp=labs["crp"],
        d_dimer=labs["d_dimer"],
        viral_load_log10=viral_series,
        support=tuple(support),
        icu_stays=icu_stays,
        hospital_stays=hospital_stays,
        infections=tuple(infections),
        adverse_events=tuple(events),
        doses=tuple(doses),
        death_day=death,
        discharge_day=discharge if discharge is not None and discharge <= horizon else None,
        readmission_day=readmission_day,
        endpoint_day=endpoint,
        primary_alc=None if endpoint is None else float(alc[endpoint]),
        vitals=vitals,
        device=tuple(device),
        rna_detected=rna,
    )


def _with_oxygen_flow(
    vitals: tuple[dict[str, Any] | None, ...], device: list[str], params: Parameters, rng: np.random.Generator,
    accepted: Range,
) -> tuple[dict[str, Any] | None, ...]:  # fmt: skip
    """Each day's vitals with `oxygen_flow_lpm` (whole L/min) when on oxygen, by the day's device: uniform
    over the device's configured flows, those the VITALS form accepts (a configuration outside it is an error)."""
    flows = params.vitals.oxygen_flow_lpm.value
    conventional = params.population.oxygen_flow_lpm.value
    by_device = {
        "conventional": accepted.intersect(conventional["low"], conventional["high"], "population.oxygen_flow_lpm"),
        "high_flow": accepted.intersect(flows["high_flow_low"], flows["high_flow_high"], "vitals.oxygen_flow_lpm"),
        "ventilator": accepted.intersect(flows["ventilator_low"], flows["ventilator_high"], "vitals.oxygen_flow_lpm"),
    }
    draws = rng.random(len(vitals))
    out: list[dict[str, Any] | None] = []
    for day, v in enumerate(vitals):
        if v is None or not v["on_supplemental_oxygen"]:
            out.append(v)
            continue
        kind = device[day]
        key = "conventional" if kind in ("nasal_cannula", "mask") else kind if kind == "high_flow" else "ventilator"
        low, high = math.ceil(by_device[key].low), math.floor(by_device[key].high)
        out.append({**v, "oxygen_flow_lpm": int(low + math.floor(float(draws[day]) * (high - low + 1)))})
    return tuple(out)


# The vital signs drawn around each level's mean: (name in the vitals, parameter key of the mean and the spread).
VITAL_SIGNS = (("respiratory_rate", "rr"), ("spo2", "spo2"), ("systolic_bp", "sbp"), ("pulse", "pulse"))
FEVER_DEGREES = 1.5  # added to the temperature on a day of fever (assumption)
NORMAL_TEMPERATURE = 37.0


def _vitals(
    level: IntArray,
    hospitalized: Any,
    device: list[str],
    fever_days: set[int],
    params: Parameters,
    rng: np.random.Generator,
    ranges: dict[str, Range],
) -> tuple[tuple[dict[str, Any] | None, ...], IntArray]:
    """Each hospital day's NEWS2 observations: normal around the level's mean, truncated to the usual range
    of the VITALS item (whole numbers, and the temperature to 0.1 degC, stay inside it once rounded)."""
    table = params.vitals.by_level.value
    spread = params.vitals.spread.value
    vitals: list[dict[str, Any] | None] = []
    scores = np.full(level.size, NOT_SCORED, dtype=np.int64)
    draws = rng.standard_normal((level.size, 5))
    days = [d for d in range(level.size) if hospitalized[d]]
    drawn: dict[str, dict[int, float]] = {}
    for column, (name, key) in enumerate(VITAL_SIGNS):
        bounds = ranges[name].inner(0)
        means = [table[f"{key}_{int(level[d])}"] for d in days]
        values = truncated_normal(draws[days, column], means, spread[key], bounds.low, bounds.high)
        drawn[name] = dict(zip(days, values.tolist(), strict=True))
    bounds = ranges["temperature"].inner(1)
    means = [NORMAL_TEMPERATURE + (FEVER_DEGREES if d in fever_days else 0.0) for d in days]
    values = truncated_normal(draws[days, 4], means, spread["temperature"], bounds.low, bounds.high)
    drawn["temperature"] = dict(zip(days, values.tolist(), strict=True))
    for day in range(level.size):
        if not hospitalized[day]:
            vitals.append(None)
            continue
        lv = int(level[day])
        v = {
            "respiratory_rate": round(drawn["respiratory_rate"][day]),
            "spo2": round(drawn["spo2"][day]),
            "on_supplemental_oxygen": device[day] != "none",
            "systolic_bp": round(drawn["systolic_bp"][day]),
            "pulse": round(drawn["pulse"][day]),
            "consciousness": "V" if lv >= 7 else "A",  # sedated on the ventilator
            "temperature": round(drawn["temperature"][day], 1),
        }
        vitals.append(v)
        scores[day] = _news2(
            v["respiratory_rate"],
            v["spo2"],
            v["on_supplemental_oxygen"],
            v["systolic_bp"],
            v["pulse"],
            v["consciousness"],
            v["temperature"],
        )
    return tuple(vitals), scores


def _lymphocyte_events(alc: FloatArray, hospitalized: Any, params: Parameters) -> list[AdverseEvent]:
    """Lymphocytosis (any grade) and lymphopenia worse than at baseline, first day of each grade rise."""
    lln = params.alc.lln.value
    events: list[AdverseEvent] = []
    baseline_low = _lymphocyte_grade("lymphocyte_count_decreased", round(float(alc[0])), lln)
    worst_low, worst_high = baseline_low, 0
    for day in range(1, alc.size):
        if not hospitalized[day] or math.isnan(alc[day]):
            continue
        value = round(float(alc[day]))  # counts are reported as whole cells/mm3
        if value > params.adverse_events.lymphocytosis_uln.value:
            grade = _lymphocyte_grade("lymphocyte_count_increased", value, lln)
            if grade > worst_high:
                events.append(AdverseEvent("lymphocyte_count_increased", day, grade, False))
                worst_high = grade
        grade = _lymphocyte_grade("lymphocyte_count_decreased", value, lln)
        if grade > worst_low:
            events.append(AdverseEvent("lymphocyte_count_decreased", day, grade, grade >= 4))
            worst_low = grade
    return events


def simulate_participants(
    baselines: Sequence[Baseline], params: Parameters, rng: np.random.Generator
) -> list[Participant]:
    """Draw the course of each randomized participant from its baseline, then its days."""
    protocol_sites = [site.code for site in load_protocol().sites]
    arm = np.array([ARMS.index(b.arm) for b in baselines], dtype=np.int64)
    site = np.array([protocol_sites.index(b.site) for b in baselines], dtype=np.int64)
    severity = np.array([SEVERITIES.index(b.severity) for b in baselines], dtype=np.int64)
    log_alc0 = np.log(np.array([b.alc0 for b in baselines], dtype=float))
    courses = draw_courses(params, rng, arm=arm, site=site, severity=severity, log_alc0=log_alc0)
    return participants_from_courses(courses, params, rng, baselines=baselines)
