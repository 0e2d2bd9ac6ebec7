"""The population form of the criteria: per-person facts from the OMOP tables, as ibis plans.

One definition, compiled by ibis to DuckDB, PostgreSQL and Spark SQL: each plan selects the rows a
screening-record field is built from (the ALC counts in the 72 h before T0, the latest ALT, the
device under way at T0, ...) and returns them to Python, where `iliad7.prescreen.records` turns
them into records with the pure functions of `iliad7.prescreen.mapping`. The engines do the work
that scales with the population (scans, joins, windows over millions of rows); what they return is
small and engine-independent (64-bit ids, doubles, dates, UTC timestamps), and rows are sorted in
Python, so every engine gives the same records.

Times are three-valued here too: a row with a date but no time on T0's date is neither known to
be at or before T0 nor known to be after it ("maybe", code 1), and what depends on it is left
missing rather than guessed. OMOP datetimes without an offset are UTC; OMOP dates are the site's
calendar dates, read in T0's own offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from iliad7.prescreen.mapping import DEVICE_RANK, HISTORY, MEASURED
from iliad7.prescreen.source import Source
from iliad7.protocol.prescreen import Prescreen

YES, MAYBE, NO = 2, 1, 0
ALC_LOOKBACK = timedelta(hours=72)  # INC-ALC's window; the rows outside it cannot change any criterion


@dataclass(frozen=True)
class Moment:
    """T0 as the engines compare it: a UTC timestamp without offset, and T0's date in its own offset."""

    t0: datetime

    @property
    def utc(self) -> datetime:
        offset = self.t0.utcoffset()
        assert offset is not None
        return (self.t0 - offset).replace(tzinfo=None)

    @property
    def day(self) -> date:
        return self.t0.date()

    @property
    def alc_from_utc(self) -> datetime:
        return self.utc - ALC_LOOKBACK

    @property
    def alc_from_day(self) -> date:
        return (self.t0 - ALC_LOOKBACK).date()


@dataclass
class Concepts:
    """The concept ids of each mapping (with descendants where concept_ancestor is present)."""

    by_mapping: dict[str, list[int]]
    values: dict[str, list[int]]  # value_as_concept ids per mapping (COVID-TEST: Detected)
    units: dict[int, str]  # unit concept id -> UCUM code, for every unit a mapping accepts
    gender: dict[str, list[int]]
    not_found: list[str] = field(default_factory=list)  # "LOINC 94531-1": codes absent from this vocabulary

    def ids(self, *mapping_ids: str) -> list[int]:
        return sorted({i for m in mapping_ids for i in self.by_mapping.get(m, [])})


# The latest values come as tuples (a million persons have a few million): these columns, in this order.
LATEST_COLUMNS = ("measurement_id", "measurement_datetime", "value_as_number", "unit_concept_id", "range_high")
L_ID, L_TIME, L_VALUE, L_UNIT, L_ULN = range(5)


@dataclass
class Features:
    """What the engine returned, as plain Python rows keyed by person_id."""

    persons: list[tuple[int, datetime | None, int | None, int | None, int | None, str | None]]
    hospitalized: dict[int, tuple[int, int]] = field(default_factory=dict)  # code, visit_occurrence_id
    alc: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    covid: dict[int, tuple[str, int]] = field(default_factory=dict)  # table, row id
    latest: dict[tuple[int, str], tuple[Any, ...]] = field(default_factory=dict)  # (person, mapping) -> LATEST_COLUMNS
    support: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    history: dict[tuple[int, str], tuple[str, int]] = field(default_factory=dict)
    chemo: dict[int, tuple[date, int]] = field(default_factory=dict)
    hormonal: dict[int, int] = field(default_factory=dict)
    unit_codes: dict[int, str] = field(default_factory=dict)  # unit concept id -> concept_code, as found


def _rows(expr: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = expr.to_pyarrow().to_pylist()
    return rows


def resolve_concepts(source: Source, prescreen: Prescreen) -> Concepts:
    """Find every mapping's concepts by vocabulary and code, then their descendants."""
    import ibis

    concept = source.tables["concept"]
    wanted: set[tuple[str, str]] = {("Gender", "F"), ("Gender", "M")}
    for mapping in prescreen.mappings:
        for group in (*mapping.concepts, *mapping.values):
            wanted.update((group.vocabulary, code) for code in group.codes)
        wanted.update(("UCUM", unit) for unit in mapping.units)
    by_vocabulary: dict[str, list[str]] = {}
    for vocabulary, code in sorted(wanted):
        by_vocabulary.setdefault(vocabulary, []).append(code)
    condition = ibis.or_(
        *((concept.vocabulary_id == v) & concept.concept_code.isin(codes) for v, codes in by_vocabulary.items())
    )
    found: dict[tuple[str, str], list[int]] = {}
    for row in _rows(concept.filter(condition).select("concept_id", "vocabulary_id", "concept_code")):
        found.setdefault((row["vocabulary_id"], row["concept_code"]), []).append(row["concept_id"])
    descendants: dict[int, set[int]] = {}
    roots = sorted({i for (v, _), ids in found.items() if v not in ("UCUM", "Gender") for i in ids})
    if "concept_ancestor" in source.tables and roots:
        ancestor = source.tables["concept_ancestor"]
        plan = ancestor.filter(ancestor.ancestor_concept_id.isin(roots)).select(
            "ancestor_concept_id", "descendant_concept_id"
        )
        for row in _rows(plan):
            descendants.setdefault(row["ancestor_concept_id"], set()).add(row["descendant_concept_id"])

    def expand(groups: Iterable[Any], with_descendants: bool) -> list[int]:
        ids: set[int] = set()
        for group in groups:
            for code in group.codes:
                for concept_id in found.get((group.vocabulary, code), []):
                    ids.add(concept_id)
                    if with_descendants:
                        ids.update(descendants.get(concept_id, ()))
        return sorted(ids)

    units = {i: code for (v, code), ids in found.items() if v == "UCUM" for i in ids}
    not_found = sorted(f"{v} {c}" for v, c in wanted if (v, c) not in found)
    return Concepts(
        by_mapping={m.id: expand(m.concepts, True) for m in prescreen.mappings},
        values={m.id: expand(m.values, False) for m in prescreen.mappings if m.values},
        units=units,
        gender={"female": found.get(("Gender", "F"), []), "male": found.get(("Gender", "M"), [])},
        not_found=not_found,
    )


# ---------------------------------------------------------------- three-valued times, as expressions


def at_or_before(ts: Any, day: Any, moment: Moment) -> Any:
    """YES if known at or before T0, NO if known after it, MAYBE for a date without time on T0's date."""
    import ibis

    t0, d0 = ibis.literal(moment.utc, type="timestamp"), ibis.literal(moment.day, type="date")
    return ibis.cases(
        (ts.notnull() & (ts <= t0), YES),
        (ts.notnull(), NO),
        (day.isnull(), MAYBE),
        (day < d0, YES),
        (day == d0, MAYBE),
        else_=NO,
    )


def not_ended(ts: Any, day: Any, moment: Moment) -> Any:
    """YES if the episode had not ended at T0 (no end recorded: under way), NO if it had, else MAYBE."""
    import ibis

    t0, d0 = ibis.literal(moment.utc, type="timestamp"), ibis.literal(moment.day, type="date")
    return ibis.cases(
        (ts.notnull() & (ts > t0), YES),
        (ts.notnull(), NO),
        (day.isnull(), YES),
        (day > d0, YES),
        (day == d0, MAYBE),
        else_=NO,
    )


def _which(column: Any, concepts: Concepts, mapping_ids: Iterable[str], default: Any = None) -> Any:
    import ibis

    branches = [(column.isin(concepts.by_mapping[m]), m) for m in mapping_ids if concepts.by_mapping.get(m)]
    if not branches:
        return ibis.literal(default, type="string")
    return ibis.cases(*branches, else_=ibis.literal(default, type="string"))


# ---------------------------------------------------------------- the plans


def person_plan(source: Source, concepts: Concepts) -> Any:
    import ibis

    person = source.tables["person"]
    female, male = concepts.gender["female"], concepts.gender["male"]
    sex = ibis.cases(
        (person.gender_concept_id.isin(female or [-1]), "female"),
        (person.gender_concept_id.isin(male or [-1]), "male"),
        else_=ibis.literal(None, type="string"),
    )
    return person.select(
        "person_id", "birth_datetime", "year_of_birth", "month_of_birth", "day_of_birth", sex=sex
    ).order_by("person_id")


def hospitalized_plan(source: Source, concepts: Concepts, moment: Moment) -> Any:
    import ibis

    visit = source.tables["visit_occurrence"]
    ids = concepts.ids("INPATIENT-VISIT")
    covers = ibis.least(
        at_or_before(visit.visit_start_datetime, visit.visit_start_date, moment),
        not_ended(visit.visit_end_datetime, visit.visit_end_date, moment),
    )
    rows = visit.filter(visit.visit_concept_id.isin(ids or [-1])).mutate(covers=covers)
    rows = rows.filter(rows.covers >= MAYBE)
    order = [ibis.desc(rows.covers), ibis.desc(rows.visit_occurrence_id)]
    rows = rows.mutate(rn=ibis.row_number().over(group_by=rows.person_id, order_by=order))
    return rows.filter(rows.rn == 0).select("person_id", "covers", "visit_occurrence_id")


def alc_plan(source: Source, concepts: Concepts, moment: Moment) -> Any:
    import ibis

    m = source.tables["measurement"]
    start, t0 = ibis.literal(moment.alc_from_utc, type="timestamp"), ibis.literal(moment.utc, type="timestamp")
    d_start, d0 = ibis.literal(moment.alc_from_day, type="date"), ibis.literal(moment.day, type="date")
    in_window = ibis.ifelse(
        m.measurement_datetime.notnull(),
        (m.measurement_datetime >= start) & (m.measurement_datetime <= t0),
        m.measurement_date.isnull() | ((m.measurement_date >= d_start) & (m.measurement_date <= d0)),
    )
    rows = m.filter(m.measurement_concept_id.isin(concepts.ids("ALC") or [-1]) & in_window)
    return rows.select(
        "person_id", "measurement_id", "measurement_date", "measurement_datetime", "value_as_number", "unit_concept_id"
    )


def covid_plan(source: Source, concepts: Concepts, moment: Moment) -> Any:
    import ibis

    c = source.tables["condition_occurrence"]
    m = source.tables["measurement"]
    diagnoses = c.filter(
        c.condition_concept_id.isin(concepts.ids("COVID-DIAGNOSIS") or [-1])
        & (at_or_before(c.condition_start_datetime, c.condition_start_date, moment) == YES)
    ).select(
        "person_id",
        table=ibis.literal("condition_occurrence"),
        row_id=c.condition_occurrence_id,
        day=c.condition_start_date,
    )
    detected = concepts.values.get("COVID-TEST", [])
    tests = m.filter(
        m.measurement_concept_id.isin(concepts.ids("COVID-TEST") or [-1])
        & m.value_as_concept_id.isin(detected or [-1])
        & (at_or_before(m.measurement_datetime, m.measurement_date, moment) == YES)
    ).select("person_id", table=ibis.literal("measurement"), row_id=m.measurement_id, day=m.measurement_date)
    rows = diagnoses.union(tests)
    order = [ibis.desc(rows.day), rows.table, ibis.desc(rows.row_id)]
    rows = rows.mutate(rn=ibis.row_number().over(group_by=rows.person_id, order_by=order))
    return rows.filter(rows.rn == 0).select("person_id", "table", "row_id")


def latest_plan(source: Source, concepts: Concepts, moment: Moment) -> Any:
    """The latest ALT, AST, weight, height and oxygen flow at or before T0, per person.

    "Latest" orders by date, then time (a date without time counts as the start of its day), then
    id; `maybe` flags a row on T0's date without a time, which might be the latest before T0.
    """
    import ibis

    m = source.tables["measurement"]
    which = [x for x in MEASURED if x != "ALC"]
    rows = m.filter(m.measurement_concept_id.isin(concepts.ids(*which) or [-1])).mutate(
        which=_which(m.measurement_concept_id, concepts, which),
        when=at_or_before(m.measurement_datetime, m.measurement_date, moment),
    )
    rows = rows.filter(rows.when >= MAYBE)
    group = [rows.person_id, rows.which]
    order = [
        ibis.desc(rows.measurement_date),
        ibis.desc(ibis.coalesce(rows.measurement_datetime, rows.measurement_date.cast("timestamp"))),
        ibis.desc(rows.measurement_id),
    ]
    rows = rows.mutate(
        rn=ibis.row_number().over(group_by=group, order_by=order),
        maybe=ibis.ifelse(rows.when == MAYBE, 1, 0).max().over(group_by=group),
    )
    # A latest value that a same-day row without a time might supersede is dropped: missing.
    rows = rows.filter((rows.rn == 0) & (rows.maybe == 0))
    # Weight and height go into the record without their time: not fetched (millions of values).
    timed = ibis.ifelse(rows.which.isin(["WEIGHT", "HEIGHT"]), ibis.null("timestamp"), rows.measurement_datetime)
    return rows.select(
        "person_id",
        "which",
        "measurement_id",
        "value_as_number",
        "unit_concept_id",
        "range_high",
        measurement_datetime=timed,
    )


def _episodes(source: Source, concepts: Concepts, moment: Moment, ranks: dict[str, int]) -> Any:
    import ibis

    parts = []
    for table, kind in (("device_exposure", "device"), ("procedure_occurrence", "procedure")):
        if table not in source.tables:
            continue
        t = source.tables[table]
        if kind == "device":
            concept, row_id = t.device_concept_id, t.device_exposure_id
            start_d, start_ts = t.device_exposure_start_date, t.device_exposure_start_datetime
            end_d, end_ts = t.device_exposure_end_date, t.device_exposure_end_datetime
        else:
            concept, row_id = t.procedure_concept_id, t.procedure_occurrence_id
            start_d, start_ts, end_d, end_ts = (
                t.procedure_date,
                t.procedure_datetime,
                t.procedure_end_date,
                t.procedure_end_datetime,
            )
        ids = concepts.ids(*ranks)
        rank = ibis.cases(
            *((concept.isin(concepts.ids(m) or [-1]), r) for m, r in sorted(ranks.items(), key=lambda x: -x[1])),
            else_=0,
        )
        parts.append(
            t.filter(concept.isin(ids or [-1])).select(
                t.person_id,
                table=ibis.literal(table),
                row_id=row_id,
                rank=rank,
                start_date=start_d,
                start_datetime=start_ts,
                end_date=end_d,
                end_datetime=end_ts,
                started=at_or_before(start_ts, start_d, moment),
                covers=ibis.least(at_or_before(start_ts, start_d, moment), not_ended(end_ts, end_d, moment)),
            )
        )
    if not parts:
        return None
    rows = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    return rows


def support_plan(source: Source, concepts: Concepts, moment: Moment) -> Any:
    """Respiratory support rows of the persons with support possibly under way at T0: those rows,
    and every support row they started at or before T0 (to join an episode's records)."""
    ranks = {m: i + 1 for i, m in enumerate(DEVICE_RANK)}
    rows = _episodes(source, concepts, moment, ranks)
    if rows is None:
        return None
    current = rows.filter(rows.covers >= MAYBE).select("person_id").distinct()
    return rows.filter(rows.started >= MAYBE).semi_join(current, "person_id")


def history_plan(source: Source, concepts: Concepts, moment: Moment) -> Any:
    import ibis

    parts = []
    for table, concept, row_id, day, ts in (
        (
            "condition_occurrence",
            "condition_concept_id",
            "condition_occurrence_id",
            "condition_start_date",
            "condition_start_datetime",
        ),
        (
            "procedure_occurrence",
            "procedure_concept_id",
            "procedure_occurrence_id",
            "procedure_date",
            "procedure_datetime",
        ),
        ("observation", "observation_concept_id", "observation_id", "observation_date", "observation_datetime"),
    ):
        if table not in source.tables:
            continue
        t = source.tables[table]
        parts.append(
            t.filter(
                t[concept].isin(concepts.ids(*HISTORY) or [-1]) & (at_or_before(t[ts], t[day], moment) == YES)
            ).select(
                "person_id",
                which=_which(t[concept], concepts, HISTORY),
                table=ibis.literal(table),
                row_id=t[row_id],
                day=t[day],
            )
        )
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.union(part)
    order = [ibis.desc(rows.day), rows.table, ibis.desc(rows.row_id)]
    rows = rows.mutate(rn=ibis.row_number().over(group_by=[rows.person_id, rows.which], order_by=order))
    return rows.filter(rows.rn == 0).select("person_id", "which", "table", "row_id")


def drug_plans(source: Source, concepts: Concepts, moment: Moment) -> tuple[Any, Any] | None:
    import ibis

    if "drug_exposure" not in source.tables:
        return None
    d = source.tables["drug_exposure"]
    d0 = ibis.literal(moment.day, type="date")
    chemo = d.filter(
        d.drug_concept_id.isin(concepts.ids("CHEMO-IMMUNOTHERAPY") or [-1])
        & (at_or_before(d.drug_exposure_start_datetime, d.drug_exposure_start_date, moment) == YES)
    )
    order = [ibis.desc(chemo.drug_exposure_start_date), ibis.desc(chemo.drug_exposure_id)]
    chemo = chemo.mutate(rn=ibis.row_number().over(group_by=chemo.person_id, order_by=order))
    chemo = chemo.filter(chemo.rn == 0).select("person_id", "drug_exposure_start_date", "drug_exposure_id")
    hormonal = d.filter(
        d.drug_concept_id.isin(concepts.ids("HORMONAL-THERAPY") or [-1])
        & (d.drug_exposure_start_date <= d0)
        & (d.drug_exposure_end_date.isnull() | (d.drug_exposure_end_date >= d0))
    )
    hormonal = hormonal.group_by("person_id").agg(drug_exposure_id=hormonal.drug_exposure_id.max())
    return chemo, hormonal


# ---------------------------------------------------------------- running them

STEPS = ("concepts", "persons", "visits", "ALC", "COVID-19", "latest values", "support", "history", "drugs")
# Each result's sort: by person, then a unique id, in Arrow (the same whatever the engine's collation).
_SORT = {
    "persons": ("person_id",),
    "hospitalized": ("person_id",),
    "alc": ("person_id", "measurement_id"),
    "covid": ("person_id",),
    "latest": ("person_id", "which"),
    "support": ("person_id", "table", "row_id"),
    "history": ("person_id", "which"),
    "chemo": ("person_id",),
    "hormonal": ("person_id",),
}


@dataclass
class Extracted:
    """The engine's results as Arrow tables sorted by person; `features` turns a range of persons into
    Python rows (in the worker that judges them: the conversion is the costly part and runs in parallel)."""

    tables: dict[str, Any]
    unit_codes: dict[int, str]

    def __post_init__(self) -> None:
        import numpy as np

        self._ids = {name: np.asarray(t.column("person_id").to_numpy()) for name, t in self.tables.items()}

    @property
    def person_count(self) -> int:
        return int(self.tables["persons"].num_rows)

    def _columns(self, name: str, low: int, high: int) -> dict[str, list[Any]] | None:
        import numpy as np

        if name not in self.tables:
            return None
        ids = self._ids[name]
        first, last = int(np.searchsorted(ids, low, "left")), int(np.searchsorted(ids, high, "right"))
        part = self.tables[name].slice(first, last - first)
        return {c: part.column(c).to_pylist() for c in part.column_names}

    def _slice(self, name: str, low: int, high: int) -> list[dict[str, Any]] | None:
        columns = self._columns(name, low, high)
        if columns is None:
            return None
        return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]

    def features(self, start: int, stop: int) -> Features:
        """Python rows of persons[start:stop] (by position in person_id order)."""
        persons = self.tables["persons"].slice(start, stop - start)
        columns = [
            persons.column(c).to_pylist()
            for c in ("person_id", "birth_datetime", "year_of_birth", "month_of_birth", "day_of_birth", "sex")
        ]
        features = Features(persons=list(zip(*columns, strict=True)), unit_codes=self.unit_codes)
        if not features.persons:
            return features
        low, high = features.persons[0][0], features.persons[-1][0]
        for row in self._slice("hospitalized", low, high) or ():
            features.hospitalized[row["person_id"]] = (row["covers"], row["visit_occurrence_id"])
        for row in self._slice("alc", low, high) or ():
            features.alc.setdefault(row["person_id"], []).append(row)
        for rows in features.alc.values():
            rows.sort(
                key=lambda r: (
                    r["measurement_date"] or date.min,
                    _sortable(r["measurement_datetime"]),
                    r["measurement_id"],
                )
            )
        for row in self._slice("covid", low, high) or ():
            features.covid[row["person_id"]] = (row["table"], row["row_id"])
        latest = self._columns("latest", low, high)
        if latest is not None:
            keys = zip(latest["person_id"], latest["which"], strict=True)
            values = zip(*(latest[c] for c in LATEST_COLUMNS), strict=True)
            features.latest = dict(zip(keys, values, strict=True))
        for row in self._slice("support", low, high) or ():
            features.support.setdefault(row["person_id"], []).append(row)
        for row in self._slice("history", low, high) or ():
            features.history[(row["person_id"], row["which"])] = (row["table"], row["row_id"])
        for row in self._slice("chemo", low, high) or ():
            features.chemo[row["person_id"]] = (row["drug_exposure_start_date"], row["drug_exposure_id"])
        for row in self._slice("hormonal", low, high) or ():
            features.hormonal[row["person_id"]] = row["drug_exposure_id"]
        return features


def extract(
    source: Source,
    prescreen: Prescreen,
    moment: Moment,
    advance: Callable[[str], None] = lambda step: None,
) -> tuple[Concepts, Extracted]:
    """Run every plan on the source's engine; the results as Arrow tables sorted by person."""
    concepts = resolve_concepts(source, prescreen)
    advance("concepts")
    plans: list[tuple[str, str, Any]] = [
        ("persons", "persons", person_plan(source, concepts)),
        ("hospitalized", "visits", hospitalized_plan(source, concepts, moment)),
        ("alc", "ALC", alc_plan(source, concepts, moment)),
        ("covid", "COVID-19", covid_plan(source, concepts, moment)),
        ("latest", "latest values", latest_plan(source, concepts, moment)),
        ("support", "support", support_plan(source, concepts, moment)),
        ("history", "history", history_plan(source, concepts, moment)),
    ]
    drugs = drug_plans(source, concepts, moment)
    if drugs is not None:
        plans += [("chemo", "drugs", drugs[0]), ("hormonal", "drugs", drugs[1])]
    tables: dict[str, Any] = {}
    for name, step, plan in plans:
        if plan is not None:
            table = plan.to_pyarrow()
            tables[name] = table.sort_by([(c, "ascending") for c in _SORT[name]])
        if name != "chemo":
            advance(step)
    if drugs is None:
        advance("drugs")
    unit_codes = dict(concepts.units)
    used: set[int] = set()
    for name in ("alc", "latest"):
        if name in tables:
            used.update(v for v in tables[name].column("unit_concept_id").unique().to_pylist() if v)
    unknown = sorted(i for i in used if i not in unit_codes)
    if unknown:
        concept = source.tables["concept"]
        for row in _rows(concept.filter(concept.concept_id.isin(unknown)).select("concept_id", "concept_code")):
            unit_codes[row["concept_id"]] = row["concept_code"]
    return concepts, Extracted(tables, unit_codes)


def _sortable(value: datetime | None) -> datetime:
    return datetime.min if value is None else value.replace(tzinfo=None)
