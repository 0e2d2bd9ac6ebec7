"""`iliad7 omop synth`: a synthetic cancer-centre population as an OMOP CDM v5.4 folder of Parquet tables.

Persons with their birth (as a datetime, a date or a year alone), outpatient visits with blood
counts, liver tests and weights, inpatients at the snapshot with their admission, SARS-CoV-2 PCR
results and COVID-19 diagnoses, oxygen devices and flows, ventilation charted as one record or one
per day, chemotherapy and endocrine therapy, lymphoid malignancies, transplants and dialysis. Every
rate is a parameter of `synth_parameters.yaml` with its kind and source; drawn with numpy, column
by column (a million persons in well under a minute), deterministic per seed.

The vocabulary is written too, with concept ids in the local range (above 2,000,000,000) that no
Athena release uses: the pre-screening must find every concept by vocabulary and code. These are
not clinical data and stand for no patient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

PARAMETERS_FILE = Path(__file__).with_name("synth_parameters.yaml")
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR

# (vocabulary_id, concept_code, concept_name, domain_id): the concepts the synthetic EHR uses.
VOCABULARY: tuple[tuple[str, str, str, str], ...] = (
    ("Gender", "F", "FEMALE", "Gender"),
    ("Gender", "M", "MALE", "Gender"),
    ("Visit", "IP", "Inpatient Visit", "Visit"),
    ("Visit", "ERIP", "Emergency Room and Inpatient Visit", "Visit"),
    ("Visit", "OP", "Outpatient Visit", "Visit"),
    ("LOINC", "731-0", "Lymphocytes [#/volume] in Blood by Automated count", "Measurement"),
    ("LOINC", "26474-7", "Lymphocytes [#/volume] in Blood", "Measurement"),
    (
        "LOINC",
        "94500-6",
        "SARS-CoV-2 RNA [Presence] in Respiratory specimen by NAA with probe detection",
        "Measurement",
    ),
    ("LOINC", "94309-2", "SARS-CoV-2 RNA [Presence] in Specimen by NAA with probe detection", "Measurement"),
    ("LOINC", "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "Measurement"),
    ("LOINC", "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "Measurement"),
    ("LOINC", "29463-7", "Body weight", "Measurement"),
    ("LOINC", "8302-2", "Body height", "Measurement"),
    ("LOINC", "3151-8", "Inhaled oxygen flow rate", "Measurement"),
    ("LOINC", "718-7", "Hemoglobin [Mass/volume] in Blood", "Measurement"),
    ("LOINC", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "Measurement"),
    ("UCUM", "10*3/uL", "thousand per microliter", "Unit"),
    ("UCUM", "10*9/L", "billion per liter", "Unit"),
    ("UCUM", "/uL", "per microliter", "Unit"),
    ("UCUM", "U/L", "unit per liter", "Unit"),
    ("UCUM", "kg", "kilogram", "Unit"),
    ("UCUM", "cm", "centimeter", "Unit"),
    ("UCUM", "L/min", "liter per minute", "Unit"),
    ("UCUM", "g/dL", "gram per deciliter", "Unit"),
    ("UCUM", "%", "percent", "Unit"),
    ("SNOMED", "840539006", "Disease caused by severe acute respiratory syndrome coronavirus 2", "Condition"),
    ("SNOMED", "260373001", "Detected", "Meas Value"),
    ("SNOMED", "260415000", "Not detected", "Meas Value"),
    ("SNOMED", "336623009", "Oxygen nasal cannula", "Device"),
    ("SNOMED", "336602003", "Oxygen mask", "Device"),
    ("SNOMED", "427591007", "Nonrebreather oxygen mask", "Device"),
    ("SNOMED", "426854004", "High flow oxygen nasal cannula", "Device"),
    ("SNOMED", "428311008", "Noninvasive ventilation", "Procedure"),
    ("SNOMED", "182686001", "Endotracheal respiratory assistance", "Procedure"),
    ("SNOMED", "233573008", "Extracorporeal membrane oxygenation", "Procedure"),
    ("SNOMED", "118600007", "Malignant lymphoma", "Condition"),
    ("SNOMED", "118601006", "Non-Hodgkin's lymphoma", "Condition"),
    ("SNOMED", "92814006", "Chronic lymphoid leukemia", "Condition"),
    ("SNOMED", "109989006", "Multiple myeloma", "Condition"),
    ("SNOMED", "363346000", "Malignant neoplastic disease", "Condition"),
    ("SNOMED", "38341003", "Hypertensive disorder", "Condition"),
    ("SNOMED", "70536003", "Transplant of kidney", "Procedure"),
    ("SNOMED", "18027006", "Transplantation of liver", "Procedure"),
    ("SNOMED", "105502003", "Dependence on renal dialysis", "Observation"),
    ("ATC", "L01", "ANTINEOPLASTIC AGENTS", "Drug"),
    ("ATC", "L02", "ENDOCRINE THERAPY", "Drug"),
    ("RxNorm", "40048", "carboplatin", "Drug"),
    ("RxNorm", "56946", "paclitaxel", "Drug"),
    ("RxNorm", "1547545", "pembrolizumab", "Drug"),
    ("RxNorm", "10324", "tamoxifen", "Drug"),
    ("RxNorm", "72965", "letrozole", "Drug"),
    ("RxNorm", "161", "acetaminophen", "Drug"),
)
# (ancestor, descendant) by (vocabulary, code); every concept is also its own ancestor.
ANCESTRY = (
    (("SNOMED", "336602003"), ("SNOMED", "427591007")),
    (("SNOMED", "118600007"), ("SNOMED", "118601006")),
    (("ATC", "L01"), ("RxNorm", "40048")),
    (("ATC", "L01"), ("RxNorm", "56946")),
    (("ATC", "L01"), ("RxNorm", "1547545")),
    (("ATC", "L02"), ("RxNorm", "10324")),
    (("ATC", "L02"), ("RxNorm", "72965")),
)
FIRST_CONCEPT_ID = 2_000_100_000
DEVICES = ("none", "nasal_cannula", "mask", "high_flow", "niv", "mechanical_ventilation", "ecmo")


def concept_ids() -> dict[tuple[str, str], int]:
    return {(v, c): FIRST_CONCEPT_ID + i for i, (v, c, _, _) in enumerate(VOCABULARY)}


def load_parameters(path: Path = PARAMETERS_FILE) -> dict[str, Any]:
    """The parameters, each checked as the simulator's are (kind, source, derivation or note)."""
    from ruamel.yaml import YAML

    from iliad7.simulate.parameters import Scalar, Table

    raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    values: dict[str, Any] = {}
    for section, entries in raw.items():
        if section == "snapshot":
            values["snapshot"] = Table.model_validate(
                {**entries, "value": {k: float(v) for k, v in entries["value"].items()}}
            ).value
            continue
        for name, entry in entries.items():
            model = Table if isinstance(entry["value"], dict) else Scalar
            value = entry["value"]
            value = {k: float(v) for k, v in value.items()} if isinstance(value, dict) else float(value)
            values[f"{section}.{name}"] = model.model_validate({**entry, "value": value}).value
    return values


def snapshot_time(parameters: dict[str, Any] | None = None) -> datetime:
    """The moment the synthetic data were extracted (naive UTC): the natural --as-of."""
    s = (parameters or load_parameters())["snapshot"]
    return datetime(int(s["year"]), int(s["month"]), int(s["day"]), int(s["hour"]))


@dataclass
class _Table:
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, **columns: Any) -> None:
        for name, values in columns.items():
            self.columns.setdefault(name, []).append(values)


@dataclass
class SynthSummary:
    persons: int
    snapshot: datetime
    rows: dict[str, int]
    folder: Path


class _Synth:
    def __init__(self, n: int, seed: int, parameters: dict[str, Any]) -> None:
        self.n, self.p = n, parameters
        self.rng = np.random.default_rng(seed)
        self.ids = concept_ids()
        self.snapshot = np.datetime64(snapshot_time(parameters), "us").astype(np.int64)  # microseconds since epoch
        self.tables: dict[str, _Table] = {}
        self.next_id: dict[str, int] = {}

    def concept(self, vocabulary: str, code: str) -> int:
        return self.ids[(vocabulary, code)]

    def table(self, name: str) -> _Table:
        return self.tables.setdefault(name, _Table())

    def new_ids(self, table: str, count: int) -> np.ndarray:
        start = self.next_id.get(table, 1)
        self.next_id[table] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    def choice(self, options: dict[str, float], size: int) -> np.ndarray:
        names = list(options)
        weights = np.array([options[k] for k in names], dtype=float)
        return np.array(names, dtype=object)[self.rng.choice(len(names), size=size, p=weights / weights.sum())]

    # ---- tables

    def persons(self) -> None:
        n, rng, p = self.n, self.rng, self.p
        age = p["population.age_years"]
        years = np.clip(rng.normal(age["mean"], age["sd"], n), age["min"], age["max"])
        birth = self.snapshot - (years * 365.2425 * US_PER_DAY).astype(np.int64)
        birth -= birth % US_PER_HOUR  # born on the hour
        precision = self.choice(p["population.birth_precision"], n)
        days = birth.astype("datetime64[us]").astype("datetime64[D]")
        year = days.astype("datetime64[Y]").astype(int) + 1970
        month = days.astype("datetime64[M]").astype(int) % 12 + 1
        day = (days - days.astype("datetime64[M]")).astype(int) + 1
        female = rng.random(n) < p["population.female_share"]
        self.person_id = np.arange(1, n + 1, dtype=np.int64)
        self.table("person").add(
            person_id=self.person_id,
            gender_concept_id=np.where(female, self.concept("Gender", "F"), self.concept("Gender", "M")),
            year_of_birth=year,
            month_of_birth=np.where(precision == "year", -1, month),
            day_of_birth=np.where(precision == "year", -1, day),
            birth_datetime=np.where(precision == "datetime", birth, -1),
            race_concept_id=np.zeros(n, dtype=np.int64),
            ethnicity_concept_id=np.zeros(n, dtype=np.int64),
        )

    def visit(self, person: np.ndarray, concept: int | np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        ids = self.new_ids("visit_occurrence", len(person))
        self.table("visit_occurrence").add(
            visit_occurrence_id=ids,
            person_id=person,
            visit_concept_id=np.broadcast_to(concept, len(person)),
            visit_start_date=start,
            visit_start_datetime=start,
            visit_end_date=end,
            visit_end_datetime=end,
            visit_type_concept_id=np.zeros(len(person), dtype=np.int64),
        )
        return ids

    def measurement(
        self,
        person: np.ndarray,
        concept: int | np.ndarray,
        when: np.ndarray,
        *,
        value: np.ndarray | None = None,
        unit: int | np.ndarray = 0,
        value_concept: int | np.ndarray = 0,
        range_high: np.ndarray | None = None,
        date_only: np.ndarray | None = None,
    ) -> None:
        size = len(person)
        self.table("measurement").add(
            measurement_id=self.new_ids("measurement", size),
            person_id=person,
            measurement_concept_id=np.broadcast_to(concept, size),
            measurement_date=when,
            measurement_datetime=np.where(date_only, -1, when) if date_only is not None else when,
            value_as_number=np.full(size, np.nan) if value is None else value,
            value_as_concept_id=np.broadcast_to(value_concept, size),
            unit_concept_id=np.broadcast_to(unit, size),
            range_high=np.full(size, np.nan) if range_high is None else range_high,
            measurement_type_concept_id=np.zeros(size, dtype=np.int64),
        )

    def alc(self, person: np.ndarray, when: np.ndarray, cells: np.ndarray) -> None:
        size = len(person)
        units = self.choice(self.p["labs.alc_unit_share"], size)
        value = np.where(units == "/uL", np.round(cells), np.round(cells / 1000, 2))
        unit = np.select(
            [units == "10*3/uL", units == "10*9/L"],
            [self.concept("UCUM", "10*3/uL"), self.concept("UCUM", "10*9/L")],
            self.concept("UCUM", "/uL"),
        )
        loinc = np.where(self.rng.random(size) < 0.85, self.concept("LOINC", "731-0"), self.concept("LOINC", "26474-7"))
        date_only = self.rng.random(size) < self.p["labs.alc_date_only_share"]
        self.measurement(person, loinc, when, value=value, unit=unit, date_only=date_only)

    def labs(self, person: np.ndarray, when: np.ndarray, alc_median: float, alc_sd: float) -> None:
        """A visit's blood count, liver tests and weight."""
        rng, size = self.rng, len(person)
        self.alc(person, when, np.exp(rng.normal(np.log(alc_median), alc_sd, size)))
        liver = self.p["labs.alt_ast"]
        for code, uln in (("1742-6", liver["alt_uln"]), ("1920-8", liver["ast_uln"])):
            raised = rng.random(size) < liver["raised_share"]
            value = np.exp(rng.normal(np.log(liver["median"]), liver["log_sd"], size)) * np.where(
                raised, liver["raised_factor"], 1.0
            )
            self.measurement(
                person,
                self.concept("LOINC", code),
                when + 60_000_000,
                value=np.round(value),
                unit=self.concept("UCUM", "U/L"),
                range_high=np.full(size, uln),
            )
        self.measurement(
            person,
            self.concept("LOINC", "718-7"),
            when,
            value=np.round(rng.normal(11.5, 1.6, size), 1),
            unit=self.concept("UCUM", "g/dL"),
        )
        weight = self.weight_kg[person - 1] * np.exp(rng.normal(0, 0.02, size))
        self.measurement(
            person, self.concept("LOINC", "29463-7"), when, value=np.round(weight, 1), unit=self.concept("UCUM", "kg")
        )

    def care(self) -> None:
        n, rng, p = self.n, self.rng, self.p
        w, h = p["labs.weight_kg"], p["labs.height_cm"]
        self.weight_kg = np.exp(rng.normal(np.log(w["median"]), w["log_sd"], n))
        height = np.clip(rng.normal(h["mean"], h["sd"], n), 135, 210)
        op = self.concept("Visit", "OP")
        # outpatient visits in the year before the snapshot, each with labs
        counts = rng.poisson(p["care.outpatient_visits_mean"], n)
        person = np.repeat(self.person_id, counts)
        start = self.snapshot - rng.integers(US_PER_DAY, 365 * US_PER_DAY, len(person))
        start -= start % (15 * 60_000_000)
        self.visit(person, op, start, start + US_PER_HOUR)
        self.labs(
            person, start + 20 * 60_000_000, p["labs.outpatient_alc"]["median"], p["labs.outpatient_alc"]["log_sd"]
        )
        seen = np.unique(person)
        when = self.snapshot - rng.integers(US_PER_DAY, 365 * US_PER_DAY, len(seen))
        when -= when % 60_000_000
        self.measurement(
            seen,
            self.concept("LOINC", "8302-2"),
            when,
            value=np.round(height[seen - 1]),
            unit=self.concept("UCUM", "cm"),
        )
        # in hospital at the snapshot
        inpatient = self.person_id[rng.random(n) < p["care.inpatient_share"]]
        covid = rng.random(len(inpatient)) < p["care.covid_share_of_inpatients"]
        so_far = (rng.exponential(p["care.stay_so_far_days_mean"], len(inpatient)) * US_PER_DAY).astype(np.int64)
        admitted = self.snapshot - so_far - US_PER_HOUR
        admitted -= admitted % 60_000_000
        concept = np.where(rng.random(len(inpatient)) < 0.3, self.concept("Visit", "ERIP"), self.concept("Visit", "IP"))
        self.visit(inpatient, concept, admitted, np.full(len(inpatient), -1))  # under way: no end
        self.inpatient, self.admitted, self.covid = inpatient, admitted, covid
        # a daily blood count for the last three days of the stay
        for k in range(3):
            when = self.snapshot - k * US_PER_DAY - rng.integers(US_PER_HOUR, 6 * US_PER_HOUR, len(inpatient))
            when -= when % 60_000_000
            keep = when >= admitted
            for group, key in ((covid, "labs.covid_alc"), (~covid, "labs.inpatient_alc")):
                chosen = keep & group
                self.labs(inpatient[chosen], when[chosen], p[key]["median"], p[key]["log_sd"])
        # SARS-CoV-2 PCR on admission, a COVID-19 diagnosis for the positive
        detected, not_detected = self.concept("SNOMED", "260373001"), self.concept("SNOMED", "260415000")
        tested = covid | (rng.random(len(inpatient)) < p["care.pcr_share_of_other_inpatients"])
        self.measurement(
            inpatient[tested],
            self.concept("LOINC", "94500-6"),
            admitted[tested] + US_PER_HOUR,
            value_concept=np.where(covid[tested], detected, not_detected),
        )
        self.condition(inpatient[covid], self.concept("SNOMED", "840539006"), admitted[covid] + 2 * US_PER_HOUR)
        past = self.person_id[rng.random(n) < p["care.past_covid_share"]]
        when = self.snapshot - rng.integers(30 * US_PER_DAY, 365 * US_PER_DAY, len(past))
        when -= when % 60_000_000
        self.measurement(past, self.concept("LOINC", "94309-2"), when, value_concept=detected)
        self.condition(past, self.concept("SNOMED", "840539006"), when)

    def condition(self, person: np.ndarray, concept: int | np.ndarray, when: np.ndarray) -> None:
        size = len(person)
        self.table("condition_occurrence").add(
            condition_occurrence_id=self.new_ids("condition_occurrence", size),
            person_id=person,
            condition_concept_id=np.broadcast_to(concept, size),
            condition_start_date=when,
            condition_start_datetime=when,
            condition_type_concept_id=np.zeros(size, dtype=np.int64),
        )

    def episode(self, table: str, person: np.ndarray, concept: int, start: np.ndarray, end: np.ndarray) -> None:
        size = len(person)
        if table == "device_exposure":
            self.table(table).add(
                device_exposure_id=self.new_ids(table, size),
                person_id=person,
                device_concept_id=np.full(size, concept),
                device_exposure_start_date=start,
                device_exposure_start_datetime=start,
                device_exposure_end_date=end,
                device_exposure_end_datetime=end,
            )
        else:
            self.table(table).add(
                procedure_occurrence_id=self.new_ids(table, size),
                person_id=person,
                procedure_concept_id=np.full(size, concept),
                procedure_date=start,
                procedure_datetime=start,
                procedure_end_date=end,
                procedure_end_datetime=end,
            )

    def support(self) -> None:
        rng, p = self.rng, self.p
        person, admitted, covid = self.inpatient, self.admitted, self.covid
        device = np.where(
            covid,
            self.choice(p["support.covid_device_share"], len(person)),
            self.choice(p["support.other_device_share"], len(person)),
        )
        open_end = np.full(len(person), -1)
        started = admitted + ((self.snapshot - admitted) * rng.uniform(0.1, 0.9, len(person))).astype(np.int64)
        started -= started % 60_000_000
        flows = p["support.low_flow_lpm"]
        for name, code, table in (
            ("nasal_cannula", "336623009", "device_exposure"),
            ("high_flow", "426854004", "device_exposure"),
            ("niv", "428311008", "procedure_occurrence"),
        ):
            chosen = device == name
            self.episode(table, person[chosen], self.concept("SNOMED", code), started[chosen], open_end[chosen])
        mask = device == "mask"
        mask_code = np.where(
            rng.random(mask.sum()) < 0.5, self.concept("SNOMED", "336602003"), self.concept("SNOMED", "427591007")
        )
        self.table("device_exposure").add(
            device_exposure_id=self.new_ids("device_exposure", int(mask.sum())),
            person_id=person[mask],
            device_concept_id=mask_code,
            device_exposure_start_date=started[mask],
            device_exposure_start_datetime=started[mask],
            device_exposure_end_date=open_end[mask],
            device_exposure_end_datetime=open_end[mask],
        )
        # a nasal cannula that ended before the current support (or before room air)
        earlier = (device != "none") | (rng.random(len(person)) < 0.3)
        first_end = admitted + (started - admitted) // 2
        self.episode(
            "device_exposure",
            person[earlier],
            self.concept("SNOMED", "336623009"),
            admitted[earlier],
            first_end[earlier],
        )
        # oxygen flow charted in the last hours for low-flow devices and high-flow
        for name in ("nasal_cannula", "mask", "high_flow"):
            chosen = device == name
            size = int(chosen.sum())
            if name == "high_flow":
                value = np.full(size, flows["high_flow"])
            else:
                value = rng.integers(int(flows[f"{name}_min"]), int(flows[f"{name}_max"]) + 1, size).astype(float)
            when = self.snapshot - rng.integers(10 * 60_000_000, 4 * US_PER_HOUR, size)
            when -= when % 60_000_000
            self.measurement(
                person[chosen], self.concept("LOINC", "3151-8"), when, value=value, unit=self.concept("UCUM", "L/min")
            )
        # invasive ventilation (and under ECMO): one record, or one record per day
        ventilated = (device == "mechanical_ventilation") | (device == "ecmo")
        days = rng.exponential(p["support.ventilation_days_mean"], int(ventilated.sum()))
        start = self.snapshot - (days * US_PER_DAY).astype(np.int64) - US_PER_HOUR
        start -= start % 60_000_000
        who = person[ventilated]
        daily = rng.random(len(who)) < p["support.daily_records_share"]
        invasive = self.concept("SNOMED", "182686001")
        self.episode("procedure_occurrence", who[~daily], invasive, start[~daily], np.full(int((~daily).sum()), -1))
        for i in np.flatnonzero(daily):
            edges = np.arange(start[i], self.snapshot, US_PER_DAY)
            ends = np.append(edges[1:], -1)
            self.episode("procedure_occurrence", np.full(len(edges), who[i]), invasive, edges, ends)
        ecmo = device == "ecmo"
        ecmo_start = np.maximum(started[ecmo], start[ecmo[ventilated]] + US_PER_HOUR)
        self.episode(
            "procedure_occurrence", person[ecmo], self.concept("SNOMED", "233573008"), ecmo_start, open_end[ecmo]
        )

    def history(self) -> None:
        n, rng, p = self.n, self.rng, self.p
        day = US_PER_DAY
        lymphoid = rng.random(n) < p["history.lymphoid_malignancy_share"]
        codes = np.array([self.concept("SNOMED", c) for c in ("118601006", "118600007", "92814006", "109989006")])
        who = self.person_id[lymphoid]
        self.condition(
            who, codes[rng.integers(0, 4, len(who))], self.snapshot - rng.integers(60 * day, 3000 * day, len(who))
        )
        other = self.person_id[~lymphoid]
        self.condition(
            other, self.concept("SNOMED", "363346000"), self.snapshot - rng.integers(30 * day, 3000 * day, len(other))
        )
        hypertensive = self.person_id[rng.random(n) < 0.3]
        self.condition(
            hypertensive,
            self.concept("SNOMED", "38341003"),
            self.snapshot - rng.integers(day, 3000 * day, len(hypertensive)),
        )
        for share, code in (("history.transplant_share", "70536003"), ("history.transplant_share", "18027006")):
            who = self.person_id[rng.random(n) < p[share] / 2]
            self.episode(
                "procedure_occurrence",
                who,
                self.concept("SNOMED", code),
                self.snapshot - rng.integers(400 * day, 5000 * day, len(who)),
                np.full(len(who), -1),
            )
        dialysis = self.person_id[rng.random(n) < p["history.dialysis_share"]]
        self.table("observation").add(
            observation_id=self.new_ids("observation", len(dialysis)),
            person_id=dialysis,
            observation_concept_id=np.full(len(dialysis), self.concept("SNOMED", "105502003")),
            observation_date=self.snapshot - rng.integers(30 * day, 2000 * day, len(dialysis)),
            observation_datetime=np.full(len(dialysis), -1),
        )
        # drugs: chemotherapy or immunotherapy in the last year, endocrine therapy, and the rest
        chemo = self.person_id[rng.random(n) < p["history.chemo_last_year_share"]]
        drugs = np.array([self.concept("RxNorm", c) for c in ("40048", "56946", "1547545")])
        start = self.snapshot - rng.integers(day, 365 * day, len(chemo))
        self.drug(chemo, drugs[rng.integers(0, 3, len(chemo))], start, start + day)
        hormonal = self.person_id[rng.random(n) < p["history.hormonal_share"]]
        drugs = np.array([self.concept("RxNorm", c) for c in ("10324", "72965")])
        start = self.snapshot - rng.integers(10 * day, 400 * day, len(hormonal))
        self.drug(
            hormonal,
            drugs[rng.integers(0, 2, len(hormonal))],
            start,
            start + rng.integers(90, 720, len(hormonal)) * day,
        )
        common = self.person_id[rng.random(n) < 0.4]
        start = self.snapshot - rng.integers(day, 365 * day, len(common))
        self.drug(common, self.concept("RxNorm", "161"), start, start + 5 * day)

    def drug(self, person: np.ndarray, concept: int | np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        size = len(person)
        start = start - start % US_PER_DAY
        end = end - end % US_PER_DAY
        self.table("drug_exposure").add(
            drug_exposure_id=self.new_ids("drug_exposure", size),
            person_id=person,
            drug_concept_id=np.broadcast_to(concept, size),
            drug_exposure_start_date=start,
            drug_exposure_start_datetime=np.full(size, -1),
            drug_exposure_end_date=end,
            drug_exposure_end_datetime=np.full(size, -1),
        )

    # ---- writing

    def write(self, folder: Path) -> dict[str, int]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from iliad7.prescreen.source import TABLES

        folder.mkdir(parents=True, exist_ok=True)
        rows: dict[str, int] = {}
        for name, table in self.tables.items():
            kinds = TABLES[name]
            arrays = {}
            for column, parts in table.columns.items():
                values = np.concatenate([np.asarray(p) for p in parts]) if parts else np.array([])
                kind = kinds.get(column, ("int", False))[0]
                arrays[column] = _arrow(values, kind)
            pq.write_table(pa.table(arrays), folder / f"{name}.parquet", compression="zstd")
            rows[name] = len(next(iter(arrays.values())))
        vocabulary = pa.table(
            {
                "concept_id": pa.array([self.ids[(v, c)] for v, c, _, _ in VOCABULARY], pa.int64()),
                "concept_name": [n for _, _, n, _ in VOCABULARY],
                "domain_id": [d for _, _, _, d in VOCABULARY],
                "vocabulary_id": [v for v, _, _, _ in VOCABULARY],
                "concept_code": [c for _, c, _, _ in VOCABULARY],
                "standard_concept": ["C" if v == "ATC" else "S" for v, _, _, _ in VOCABULARY],
            }
        )
        pq.write_table(vocabulary, folder / "concept.parquet")
        pairs = [(self.ids[k], self.ids[k]) for k in self.ids] + [(self.ids[a], self.ids[d]) for a, d in ANCESTRY]
        pq.write_table(
            pa.table(
                {
                    "ancestor_concept_id": pa.array([a for a, _ in pairs], pa.int64()),
                    "descendant_concept_id": pa.array([d for _, d in pairs], pa.int64()),
                    "min_levels_of_separation": pa.array([0 if a == d else 1 for a, d in pairs], pa.int64()),
                    "max_levels_of_separation": pa.array([0 if a == d else 1 for a, d in pairs], pa.int64()),
                }
            ),
            folder / "concept_ancestor.parquet",
        )
        snapshot = snapshot_time(self.p)
        pq.write_table(
            pa.table(
                {
                    "cdm_source_name": ["iliad7 omop synth (synthetic, stands for no patient)"],
                    "cdm_version": ["v5.4"],
                    "source_release_date": pa.array([snapshot.date()], pa.date32()),
                    "cdm_release_date": pa.array([snapshot.date()], pa.date32()),
                    "source_description": [f"extracted {snapshot.isoformat()}Z; {self.n} persons"],
                }
            ),
            folder / "cdm_source.parquet",
        )
        rows["concept"] = len(VOCABULARY)
        rows["concept_ancestor"] = len(pairs)
        return rows


def _arrow(values: np.ndarray, kind: str) -> Any:
    """One column: -1 marks a null time, date or id; NaN a null number."""
    import pyarrow as pa

    if kind in ("date", "datetime"):
        microseconds = values.astype(np.int64)
        mask = microseconds == -1
        if kind == "date":
            return pa.array((microseconds // US_PER_DAY).astype(np.int32), pa.date32(), mask=mask)
        return pa.array(microseconds, pa.timestamp("us"), mask=mask)
    if kind == "number":
        numbers = values.astype(float)
        return pa.array(numbers, pa.float64(), mask=np.isnan(numbers))
    if kind == "text":
        return pa.array(values.astype(str))
    integers = values.astype(np.int64)
    return pa.array(integers, pa.int64(), mask=integers == -1)


def synthesize(n: int, seed: int, folder: Path, parameters: dict[str, Any] | None = None) -> SynthSummary:
    """Write `n` synthetic persons' OMOP tables to `folder` (Parquet), the same for the same seed."""
    p = parameters if parameters is not None else load_parameters()
    synth = _Synth(n, seed, p)
    synth.persons()
    synth.care()
    synth.support()
    synth.history()
    rows = synth.write(folder)
    return SynthSummary(persons=n, snapshot=snapshot_time(p), rows=rows, folder=folder)


def as_of(summary: SynthSummary) -> str:
    """The snapshot as an --as-of argument (ISO 8601, UTC)."""
    return summary.snapshot.isoformat() + "+00:00"
