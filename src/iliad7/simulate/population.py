"""Simulated screening: records of hospitalized COVID-19 patients with cancer, judged by the real rules.

:func:`draw_screening_records` draws records in the exact input contract of clinical-rules
section 3 (plain JSON-compatible dicts that :func:`iliad7.eligibility.parse_record` accepts).
Each record starts as a patient who meets every criterion; then, independently for each
criterion, with the share configured in ``parameters.yaml`` (``screening.failure_share``;
``screening.alc_failure_share`` for INC-ALC), it is changed so that exactly that criterion fails,
and with ``screening.incomplete_share`` one entry (the Clinical Frailty Scale) is left empty. The
generator never decides a verdict: :func:`screen_population` runs the real ``screen()``, so the
screening log and the CONSORT counts come out of the same rules the web app applies.

Expected shares: criterion c fails in a share ``s_c`` of records; a record is eligible with
probability ``prod(1 - s_c) * (1 - incomplete_share)`` (:func:`expected_verdict_shares`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from iliad7.eligibility import CRITERION_IDS, Screening, parse_record, screen
from iliad7.simulate.parameters import SEVERITIES, Parameters
from iliad7.simulate.ranges import record_ranges, truncated_scalar

# The sites' zones: the protocol records none, and local dates matter for the calendar rules.
SITE_ZONES = {"MSKCC": "America/New_York", "MDACC": "America/Chicago"}
RECRUITMENT_START = date(2020, 12, 20)  # the registry's actual study start
RECRUITMENT_DAYS = 540


@dataclass(frozen=True)
class ScreenedPatient:
    """One simulated screening: the contract record, where it came from, and the real verdict."""

    index: int
    site: str  # not part of the screening record contract: the site screens, it is not screened
    severity: str | None  # o2, hfno_niv or mv when the support meets INC-HYPOXEMIA, else None
    record: dict[str, Any]
    made_to_fail: tuple[str, ...]  # the criteria the generator changed, in protocol order
    screening: Screening

    @property
    def eligible(self) -> bool:
        return self.screening.verdict == "eligible"


def configured_failure_shares(params: Parameters) -> dict[str, float]:
    """The configured chance that the generator makes each criterion fail, in protocol order."""
    shares = dict(params.screening.failure_share.value)
    shares["INC-ALC"] = params.screening.alc_failure_share.value
    return {cid: shares[cid] for cid in CRITERION_IDS}


def failure_shares(params: Parameters) -> dict[str, float]:
    """The share of records expected to fail each criterion, in protocol order.

    The configured share, except that a prolonged ventilation needs a ventilated patient, who
    meets INC-HYPOXEMIA: EXC-PROLONGED-MV is only drawn among records that meet it.
    """
    shares = configured_failure_shares(params)
    shares["EXC-PROLONGED-MV"] *= 1.0 - shares["INC-HYPOXEMIA"]
    return shares


def expected_verdict_shares(params: Parameters) -> dict[str, float]:
    """Eligible, ineligible and incomplete shares implied by the configured failure shares."""
    passes = math.prod(1.0 - s for s in configured_failure_shares(params).values())
    incomplete = params.screening.incomplete_share.value
    return {"eligible": passes * (1 - incomplete), "ineligible": 1 - passes, "incomplete": passes * incomplete}


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="minutes")


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, low: float, high: float) -> float:
    while True:  # rejection: the accepted region holds most of the mass, so this ends fast
        x = float(rng.normal(mean, sd))
        if low <= x <= high:
            return x


class _RecordDraw:
    """Draws one record; a class only to share the generator and parameters between the parts."""

    def __init__(self, params: Parameters, rng: np.random.Generator) -> None:
        self.p = params
        self.rng = rng
        self.sites = list(params.population.site_share.value)
        self.site_p = np.asarray(list(params.population.site_share.value.values()))
        self.shares = configured_failure_shares(params)
        self.detail = params.screening.record_details.value
        self.ranges = record_ranges()

    def u(self) -> float:
        return float(self.rng.random())

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def draw(self, index: int) -> tuple[str, str | None, dict[str, Any], tuple[str, ...]]:
        p, rng = self.p, self.rng
        site = self.sites[int(rng.choice(len(self.sites), p=self.site_p))]
        fails = tuple(cid for cid, share in self.shares.items() if self.u() < share)
        if "INC-HYPOXEMIA" in fails:  # not ventilated, so not ventilated for too long
            fails = tuple(cid for cid in fails if cid != "EXC-PROLONGED-MV")
        # an empty frailty entry can only leave the record incomplete if frailty does not fail
        incomplete = self.u() < p.screening.incomplete_share.value and "EXC-FRAILTY" not in fails
        zone = ZoneInfo(SITE_ZONES.get(site, "UTC"))
        day = RECRUITMENT_START + timedelta(days=int(rng.integers(0, RECRUITMENT_DAYS)))
        t0 = datetime.combine(day, time(int(rng.integers(8, 19)), int(rng.integers(0, 4)) * 15), tzinfo=zone)
        t0 = t0.astimezone(UTC)

        female = "EXC-PREGNANCY" in fails or self.u() < p.population.female_share.value
        age = self._age(fails)
        birth = _years_before(t0.date(), age) - timedelta(days=int(rng.integers(1, 365)))
        weight, height = self._body(female, "EXC-BMI" in fails)
        severity, support, mv_start = self._support(fails, t0)
        record: dict[str, Any] = {
            "baseline_time": _iso(t0),
            "birth_date": birth.isoformat(),
            "sex": "female" if female else "male",
            "consent": self._consent("INC-CONSENT" in fails),
            "oncology": self._oncology("INC-ONCOLOGY" in fails, t0.date()),
            "hospitalized": True,
            "alc": [self._alc("INC-ALC" in fails, t0)],
            "respiratory_support": support,
            "covid_confirmed": "INC-COVID" not in fails,
            "contraception_agreed": "INC-CONTRACEPTION" not in fails,
            "pregnant": False,
            "breastfeeding": False,
            "alt": self._liver("EXC-LIVER" in fails, t0),
            "ast": self._liver(False, t0),
            "active_autoimmune_disease": "EXC-AUTOIMMUNE" in fails,
            "lymphoid_malignancy_history": "EXC-LYMPHOID-MALIGNANCY" in fails,
            "malignancy_life_expectancy_under_6_months": "EXC-LIFE-EXPECTANCY" in fails,
            "unresolved_crs": "EXC-CART" in fails,
            "unresolved_icans": False,
            "max_unresolved_prior_therapy_toxicity_grade": int(rng.integers(3, 5))
            if "EXC-TOXICITY" in fails
            else int(rng.integers(0, 3)),
            "solid_organ_transplant_history": "EXC-TRANSPLANT" in fails,
            "active_tuberculosis": False,
            "uncontrolled_hbv": False,
            "uncontrolled_hcv": False,
            "hiv_viral_load_detectable": False,
            "hours_spo2_at_or_below_85_on_maximal_therapy": round(self.uniform(7, 24), 1)
            if "EXC-REFRACTORY-HYPOXIA" in fails
            else float(rng.integers(0, 4)),
            "mechanical_ventilation_start": mv_start,
            "chronic_dialysis": "EXC-DIALYSIS" in fails,
            "sofa": self._sofa(severity, "EXC-SOFA" in fails),
            "weight_kg": weight,
            "height_cm": height,
            "news2": self._news2(severity, "EXC-NEWS2-RISE" in fails, t0),
            "clinical_frailty_scale": None
            if incomplete
            else (int(rng.integers(6, 9)) if "EXC-FRAILTY" in fails else int(rng.integers(1, 6))),
            "under_guardianship": "EXC-GUARDIANSHIP" in fails,
        }
        if "EXC-PREGNANCY" in fails:
            record["pregnant" if self.u() < 0.5 else "breastfeeding"] = True
        if "EXC-INFECTION" in fails:
            flag = ("active_tuberculosis", "uncontrolled_hbv", "uncontrolled_hcv", "hiv_viral_load_detectable")
            record[flag[int(rng.integers(0, 4))]] = True
        return site, severity, record, fails

    def _age(self, fails: tuple[str, ...]) -> int:
        if "EXC-PREGNANCY" in fails:  # of child-bearing age; under 25 if the age criterion fails too
            return int(self.rng.integers(18, 25)) if "INC-AGE" in fails else int(self.rng.integers(25, 46))
        if "INC-AGE" in fails:
            over = self.u() < self.detail["age_fail_over_80"]
            return int(self.rng.integers(81, 91)) if over else int(self.rng.integers(18, 25))
        age = self.p.population.age_years.value
        return int(_truncated_normal(self.rng, age["mean"], age["sd"], 25, 80.999))

    def _body(self, female: bool, obese: bool) -> tuple[float, float]:
        h = self.p.population.height_cm.value
        # truncated to the record's limits (0 to 300 cm: 25 SD away, so in practice never binding)
        mean = h["female_mean"] if female else h["male_mean"]
        height = round(truncated_scalar(float(self.rng.standard_normal()), mean, h["sd"], self.ranges["height_cm"]), 1)
        bmi = self.p.population.bmi.value
        if obese:
            value = self.uniform(40.5, 48.0)
        else:
            value = math.exp(_truncated_normal(self.rng, math.log(bmi["median"]), math.log(bmi["gsd"]), 2.7, 3.67))
        # the 0.5 margins on each side of 40 keep rounding to 0.1 kg from crossing the boundary
        return round(value * (height / 100) ** 2, 1), height

    def _support(self, fails: tuple[str, ...], t0: datetime) -> tuple[str | None, dict[str, Any], str | None]:
        if "EXC-PROLONGED-MV" in fails:
            start = t0 - timedelta(hours=float(self.rng.uniform(170, 330)))
            return "mv", {"device": "mechanical_ventilation", "oxygen_flow_lpm": None}, _iso(start)
        if "INC-HYPOXEMIA" in fails:
            if self.u() < self.detail["hypoxemia_fail_on_room_air"]:
                return None, {"device": "none", "oxygen_flow_lpm": None}, None
            flow = float(self.rng.integers(1, 5))  # at most 4 L/min does not meet the criterion
            return None, {"device": "nasal_cannula", "oxygen_flow_lpm": flow}, None
        shares = np.asarray(self.p.population.severity_share.by_severity())
        severity = SEVERITIES[int(self.rng.choice(3, p=shares))]
        if severity == "o2":
            flow_range = self.p.population.oxygen_flow_lpm.value
            accepted = self.ranges["respiratory_support.oxygen_flow_lpm"].intersect(
                flow_range["low"], flow_range["high"], "population.oxygen_flow_lpm"
            )
            flow = float(self.rng.integers(math.ceil(accepted.low), math.floor(accepted.high) + 1))
            device = "mask" if self.u() < self.p.population.mask_share.value else "nasal_cannula"
            return severity, {"device": device, "oxygen_flow_lpm": flow}, None
        if severity == "hfno_niv":
            if self.u() < self.p.population.high_flow_share.value:
                return severity, {"device": "high_flow", "oxygen_flow_lpm": float(self.rng.integers(30, 61))}, None
            return severity, {"device": "niv", "oxygen_flow_lpm": None}, None
        start = t0 - timedelta(hours=float(self.rng.uniform(2, 140)))
        return severity, {"device": "mechanical_ventilation", "oxygen_flow_lpm": None}, _iso(start)

    def _consent(self, refused: bool) -> dict[str, Any]:
        if refused:
            return {"obtained": False, "type": None, "by": None, "reconsent_anticipated": None}
        by_lar = self.u() < self.detail["representative_consent"]
        emergency = by_lar and self.u() < self.detail["emergency_oral_of_representative"]
        return {
            "obtained": True,
            "type": "emergency_oral" if emergency else "written",
            "by": "legally_authorized_representative" if by_lar else "participant",
            "reconsent_anticipated": True,
        }

    def _oncology(self, none_qualifies: bool, t0: date) -> dict[str, Any]:
        history: dict[str, Any] = {
            "last_chemo_or_immunotherapy_date": None,
            "hsct_date": None,
            "hsct_for_lymphoma": False,
            "car_t_date": None,
            "on_hormonal_therapy": False,
            "last_cancer_surgery_or_radiotherapy_date": None,
            "new_untreated_biopsy_proven_malignancy": False,
        }
        if none_qualifies:  # treated long ago, nothing current
            history["last_chemo_or_immunotherapy_date"] = (
                t0 - timedelta(days=int(self.rng.integers(250, 900)))
            ).isoformat()
            return history
        d = self.detail
        kind = self.u()
        chemo, hormonal = d["oncology_chemo_or_immunotherapy"], d["oncology_hormonal"]
        surgery, new = d["oncology_surgery_or_radiotherapy"], d["oncology_new_untreated"]
        if kind < chemo:
            history["last_chemo_or_immunotherapy_date"] = (
                t0 - timedelta(days=int(self.rng.integers(1, 150)))
            ).isoformat()
        elif kind < chemo + hormonal:
            history["on_hormonal_therapy"] = True
        elif kind < chemo + hormonal + surgery:
            history["last_cancer_surgery_or_radiotherapy_date"] = (
                t0 - timedelta(days=int(self.rng.integers(1, 150)))
            ).isoformat()
        elif kind < chemo + hormonal + surgery + new:
            history["new_untreated_biopsy_proven_malignancy"] = True
        else:
            history["hsct_date"] = (t0 - timedelta(days=int(self.rng.integers(30, 330)))).isoformat()
        return history

    def _alc(self, high: bool, t0: datetime) -> dict[str, Any]:
        alc = self.p.population.baseline_alc.value
        mu, sigma = math.log(alc["median"]), self.p.population.alc_log_sigma
        cap = math.log(alc["cap"])
        while True:
            log_value = float(self.rng.normal(mu, sigma))
            if (log_value > cap + 0.01) if high else (log_value <= cap):
                break
        value = float(max(round(math.exp(log_value) / 10) * 10, 10))  # reported to 10 cells/mm3
        when = t0 - timedelta(hours=float(self.rng.uniform(1, 70)))
        if self.u() < self.detail["alc_in_10e9_per_l"]:
            return {"time": _iso(when), "value": round(value / 1000, 2), "unit": "10^9/L"}
        return {"time": _iso(when), "value": value, "unit": "cells/uL"}

    def _liver(self, high: bool, t0: datetime) -> dict[str, Any]:
        t = self.p.screening.transaminase.value
        uln = t["uln"]
        if high:
            value = float(round(uln * self.uniform(5.5, 10.0)))
        else:
            value = min(float(round(math.exp(self.rng.normal(math.log(t["median"]), math.log(t["gsd"]))))), 4 * uln)
        return {"value": float(value), "uln": uln, "unit": "U/L", "time": _iso(t0 - timedelta(hours=6))}

    def _sofa(self, severity: str | None, high: bool) -> int:
        if high:
            return int(self.rng.integers(9, 13))
        s = self.p.screening.baseline_sofa.value
        mean = s[severity] if severity is not None else s["o2"] - 1
        return int(min(max(round(self.rng.normal(mean, s["spread"])), 0), 8))

    def _news2(self, severity: str | None, rise: bool, t0: datetime) -> list[dict[str, Any]]:
        s = self.p.screening.screening_news2.value
        mean = s[severity] if severity is not None else s["o2"] - 2
        first = int(min(max(round(self.rng.normal(mean, s["spread"])), 0), 11 if rise else 17))
        later = first + (int(self.rng.integers(7, 10)) if rise else int(self.rng.integers(0, 4)))
        return [
            {"time": _iso(t0 - timedelta(hours=24)), "score": first},
            {"time": _iso(t0 - timedelta(hours=1)), "score": min(later, 20)},
        ]


def draw_screening_records(params: Parameters, rng: np.random.Generator, n: int) -> list[ScreenedPatient]:
    """Draw and judge `n` screening records (see the module docstring for the model)."""
    if n < 0:
        raise ValueError("n must not be negative")
    drawer = _RecordDraw(params, rng)
    patients: list[ScreenedPatient] = []
    for index in range(n):
        site, severity, record, fails = drawer.draw(index)
        verdict = screen(parse_record(record))
        patients.append(ScreenedPatient(index, site, severity, record, fails, verdict))
    return patients


def screen_population(params: Parameters, seed: int, n: int) -> list[ScreenedPatient]:
    """:func:`draw_screening_records` from an integer seed."""
    return draw_screening_records(params, np.random.default_rng([seed, 0xC0]), n)


def baseline_alc(record: dict[str, Any]) -> float:
    """The screening ALC in cells/mm3 (the latest count in the record)."""
    latest = max(record["alc"], key=lambda m: m["time"])
    factor = 1000.0 if latest["unit"] in ("10^9/L", "x10^9/L", "10^3/uL") else 1.0
    return float(latest["value"]) * factor
