"""The hospital course that both simulator paths share, drawn for many participants at once.

One vectorized function, :func:`draw_courses`, draws for arrays of participants (any shape: one
cohort ``(n,)`` or a stack of trials ``(trials, n)``) the quantities the primary analysis and the
clinical story hang on: baseline severity and ALC, death and its day, hospital-acquired infection,
discharge day, the participant's ALC recovery, the primary-endpoint day and the log ALC there.
:mod:`iliad7.simulate.power` analyses these arrays directly; :mod:`iliad7.simulate.trajectories`
draws them for a cohort and then adds the daily detail around them, so the two paths cannot
disagree about who dies, who goes home when, or the ALC the primary analysis reads.

The ALC model (log scale, day t >= 1):
``log ALC(t) = log ALC(0) + R * g(t) + arm * log(GMR) * f(t) + e(t)``, with R the participant's
day-29 recovery (normal; its mean lower in those who die), ``g(t) = (1 - exp(-t/tau)) / (1 - exp(-29/tau))``,
``f(t) = 1 - exp(-t/onset)`` the rise of the IL-7 effect after dose 1 and e(t) day-to-day noise.

The primary endpoint (SAP until the SAP issue says otherwise) is ALC at day 30 or discharge,
whichever comes first. A participant who dies before it contributes the last protocol ALC
visit before death (a "while alive" value: dropping deaths would condition on survival, which
IL-7 might change); one who dies before the first post-baseline visit (day 3) has no value and
is left out of the analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import special

from iliad7.simulate.parameters import Parameters
from iliad7.simulate.ranges import protocol_ranges, truncated_normal

NEVER = 10_000  # the "day" of an event that does not happen (no death, no discharge)
DAY29 = 29  # the ALC ratios of simulation-sources are day-29 / baseline

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Calendar:
    """The protocol's days the simulator needs (read from the protocol file)."""

    dose_days: tuple[int, ...]  # target days of doses 1-7
    alc_visit_days: tuple[int, ...]  # post-baseline protocol ALC visits, ascending
    endpoint_day: int  # "day 30 or discharge"
    horizon_day: int  # last day followed (45)


@lru_cache(maxsize=1)
def protocol_calendar() -> Calendar:
    """Dose days, ALC visit days, the day-30 endpoint and the day-45 horizon, from the protocol."""
    from iliad7.protocol import load_protocol

    protocol = load_protocol()
    visits = {visit.id: visit for visit in protocol.schedule.visits}
    alc = next(a for a in protocol.schedule.assessments if a.id == "ALC")
    alc_days = sorted({visits[v].target_day for v in alc.visits if visits[v].target_day > 0})
    return Calendar(
        dose_days=tuple(protocol.dosing.target_days),
        alc_visit_days=tuple(alc_days),
        endpoint_day=visits["D30"].target_day,
        horizon_day=protocol.parameters.osfd_window_days,
    )


@dataclass(frozen=True)
class Courses:
    """The shared course of each participant; every array has the participants' shape."""

    arm: IntArray  # 1 CYT107, 0 placebo
    site: IntArray  # index into the protocol's sites
    severity: IntArray  # 0 o2, 1 hfno_niv, 2 mv
    log_alc0: FloatArray  # baseline ALC, log cells/mm3
    dies: BoolArray  # dies by the horizon (day 45)
    death_day: IntArray  # NEVER when alive at day 45
    hai: BoolArray  # a hospital-acquired infection
    hai_day: IntArray  # NEVER without one
    discharge_day: IntArray  # NEVER for those who die (deaths by day 45 are in hospital)
    recovery: FloatArray  # R: log of the day-29/baseline ALC ratio without IL-7 or noise
    endpoint_day: IntArray  # study day of the primary ALC (0 when there is none)
    analysable: BoolArray  # has a post-baseline primary ALC
    endpoint_noise: FloatArray  # e(t) on the endpoint day
    log_alc_endpoint: FloatArray  # log ALC on the endpoint day (log_alc0 where not analysable)

    def take(self, index: int | tuple[int, ...] | slice) -> Courses:
        """The courses of some participants (or one trial of a stack)."""
        return Courses(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})


def recovery_shape(day: FloatArray | IntArray | float, params: Parameters) -> FloatArray:
    """g(t): the share of the day-29 recovery reached on `day` (1 at day 29)."""
    tau = params.alc.recovery_days.value
    return np.asarray((1.0 - np.exp(-np.asarray(day, dtype=float) / tau)) / (1.0 - math.exp(-DAY29 / tau)))


def effect_shape(day: FloatArray | IntArray | float, params: Parameters) -> FloatArray:
    """f(t): the share of the full IL-7 effect reached on `day` after dose 1."""
    return np.asarray(1.0 - np.exp(-np.asarray(day, dtype=float) / params.effect.onset_days.value))


def log_alc_mean(
    log_alc0: FloatArray, recovery: FloatArray, arm: IntArray, day: FloatArray | IntArray, params: Parameters
) -> FloatArray:
    """log ALC on `day` without the day-to-day noise; all arguments broadcast together."""
    log_gmr = math.log(params.effect.alc_gmr.value)
    return np.asarray(
        log_alc0 + recovery * recovery_shape(day, params) + arm * log_gmr * effect_shape(day, params),
        dtype=float,
    )


def draw_baseline_alc(params: Parameters, rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Baseline log ALC: the cited log-normal, truncated at the INC-ALC cap (inverse-CDF draw)."""
    alc = params.population.baseline_alc.value
    mu, sigma = math.log(alc["median"]), params.population.alc_log_sigma
    top = float(special.ndtr((math.log(alc["cap"]) - mu) / sigma))
    u = rng.random(shape) * top
    # keep u off 0 so the inverse normal stays finite
    return np.asarray(mu + sigma * special.ndtri(np.maximum(u, 1e-300)))


def draw_courses(
    params: Parameters,
    rng: np.random.Generator,
    *,
    arm: IntArray,
    site: IntArray,
    severity: IntArray | None = None,
    log_alc0: FloatArray | None = None,
    calendar: Calendar | None = None,
) -> Courses:
    """Draw the shared course for participants with these arms and sites.

    `severity` and `log_alc0` are drawn unless given (a cohort passes those of its screening
    records). The draws are made in a fixed order, so the same generator state gives the same
    courses.
    """
    cal = protocol_calendar() if calendar is None else calendar
    arm = np.asarray(arm, dtype=np.int64)
    site = np.asarray(site, dtype=np.int64)
    shape = arm.shape
    course = params.course
    treated = arm == 1

    if severity is None:
        severity = rng.choice(3, size=shape, p=np.array(params.population.severity_share.by_severity()))
    severity = np.asarray(severity, dtype=np.int64)
    if log_alc0 is None:
        log_alc0 = draw_baseline_alc(params, rng, shape)
    log_alc0 = np.asarray(log_alc0, dtype=float)

    # Death by day 45; an IL-7 hazard ratio acts on the day-45 cumulative hazard.
    p45 = np.asarray(course.mortality_d45.by_severity())[severity]
    hr = params.effect.mortality_hr.value
    p45 = np.where(treated, 1.0 - (1.0 - p45) ** hr, p45)
    dies = rng.random(shape) < p45
    gamma = course.death_day_gamma.value
    horizon = cal.horizon_day
    top = float(special.gammainc(gamma["shape"], horizon / gamma["scale"]))
    u = np.maximum(rng.random(shape) * top, 1e-12)
    death_time = special.gammaincinv(gamma["shape"], u) * gamma["scale"]
    death_day = np.where(dies, np.clip(np.ceil(death_time), 1, horizon), NEVER).astype(np.int64)

    # Hospital-acquired infection; CYT107 lowers its rate (Shankar-Hari 2025).
    p_hai = np.asarray(course.hai_share.by_severity())[severity]
    p_hai = np.where(treated, p_hai * params.effect.hai_rate_ratio.value, p_hai)
    hai = rng.random(shape) < p_hai

    # Length of stay of survivors, longer after an infection (Grasselli 2021).
    los = course.los_days.value
    median = np.asarray([los["o2"], los["hfno_niv"], los["mv"]])[severity]
    base_los = np.exp(np.log(median) + math.log(los["gsd"]) * rng.standard_normal(shape))
    minimum = max(los["minimum"], course.recovery_days_before_discharge.value + 1.0)
    base_day = np.maximum(np.rint(base_los), minimum).astype(np.int64)

    # The infection comes on day 2-14 of the stay, before discharge or death.
    end_before = np.where(dies, death_day, base_day)
    last = np.minimum(end_before - 1, 14)
    hai = hai & (last >= 2)
    hai_day = np.where(hai, 2 + np.floor(rng.random(shape) * (np.maximum(last, 2) - 1)).astype(np.int64), NEVER)
    stay = np.where(hai, np.rint(base_day * course.hai_los_ratio.value), base_day).astype(np.int64)
    discharge_day = np.where(dies, NEVER, stay).astype(np.int64)

    # ALC recovery: survivors reach the placebo day-29 ratio, those who die do not recover.
    ratio = params.alc.placebo_ratio_d29.value
    mean_r = np.where(dies, math.log(params.alc.decedent_ratio_d29.value), math.log(ratio["median"]))
    recovery = mean_r + params.alc.recovery_sd * rng.standard_normal(shape)

    endpoint_day, analysable = primary_endpoint_day(death_day, discharge_day, cal)
    # The endpoint count is entered on the LAB form: its day-to-day noise is truncated to the form's range
    # (iliad7.simulate.ranges; a bound many SDs away, as here, leaves every draw as it is).
    mean_endpoint = log_alc_mean(log_alc0, recovery, arm, endpoint_day, params)
    alc_log = protocol_ranges()["alc"].log()
    sd = params.alc.daily_noise_sd.value
    noise = truncated_normal(rng.standard_normal(shape), mean_endpoint, sd, alc_log.low, alc_log.high) - mean_endpoint
    partial = Courses(
        arm=arm,
        site=site,
        severity=severity,
        log_alc0=log_alc0,
        dies=dies,
        death_day=death_day,
        hai=hai,
        hai_day=hai_day,
        discharge_day=discharge_day,
        recovery=recovery,
        endpoint_day=endpoint_day,
        analysable=analysable,
        endpoint_noise=noise,
        log_alc_endpoint=log_alc0,
    )
    at_endpoint = mean_endpoint + noise
    return Courses(
        **{
            **{name: getattr(partial, name) for name in partial.__dataclass_fields__},
            "log_alc_endpoint": np.where(analysable, at_endpoint, log_alc0),
        }
    )


def primary_endpoint_day(death_day: IntArray, discharge_day: IntArray, cal: Calendar) -> tuple[IntArray, BoolArray]:
    """The study day of the primary ALC and whether there is one.

    Day 30, or the discharge day if earlier; for a death before both, the last protocol ALC visit
    before the day of death (none if death comes by day 3).
    """
    end = cal.endpoint_day
    visits = np.asarray(cal.alc_visit_days)
    # the last visit strictly before death: visits[k-1] where k = number of visits < death_day
    k = np.searchsorted(visits, death_day, side="left")
    last_visit = np.where(k > 0, visits[np.maximum(k - 1, 0)], 0)
    alive_day = np.minimum(discharge_day, end)
    died_first = death_day <= alive_day
    day = np.where(died_first, np.minimum(last_visit, end), alive_day).astype(np.int64)
    return day, day > 0
