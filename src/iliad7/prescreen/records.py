"""From the rows the engine returned to one screening record per person, with each value's source.

Pure: the rows come from `iliad7.prescreen.features`, the values go through
`iliad7.prescreen.mapping`, and the record is the input contract of `iliad7 screen`
(`iliad7.eligibility.record`), built as its validator would build it from JSON (aware datetimes,
dates, floats), so judging it here and judging its JSON with `iliad7 screen` agree by construction
(tests/prescreen check it on every record they make). What the EHR does not show is left out:
missing, never false.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from iliad7.eligibility.calendar import completed_years, days_in_month, months_before
from iliad7.eligibility.criteria import inc_age
from iliad7.eligibility.record import MAX_AGE_YEARS, ScreeningRecord
from iliad7.prescreen.features import L_ID, L_TIME, L_ULN, L_UNIT, L_VALUE, MAYBE, YES, Features, Moment
from iliad7.prescreen.mapping import DEVICE_RANK, BadValue, measurement_value, utc
from iliad7.prescreen.source import OmopInputError
from iliad7.protocol.prescreen import Prescreen

ONCOLOGY_MONTHS = 6  # INC-ONCOLOGY (a): a last chemotherapy older than this is left missing (see the protocol note)
HISTORY_FIELDS = {
    "LYMPHOID-MALIGNANCY": "lymphoid_malignancy_history",
    "SOLID-ORGAN-TRANSPLANT": "solid_organ_transplant_history",
    "CHRONIC-DIALYSIS": "chronic_dialysis",
}
VENTILATION_RANK = DEVICE_RANK.index("DEVICE-INVASIVE-VENTILATION") + 1


@dataclass
class Built:
    person_id: int
    record: ScreeningRecord
    sources: dict[str, str]  # record field -> where its value came from


class RecordBuilder:
    """Builds each person's record from the extracted features (one builder per run)."""

    def __init__(self, features: Features, prescreen: Prescreen, moment: Moment) -> None:
        self.f, self.moment = features, moment
        self.mappings = {m.id: m for m in prescreen.mappings}
        self.local: tzinfo = moment.t0.tzinfo or UTC
        self.t0_utc = moment.utc.replace(tzinfo=UTC)
        self.device_values = {i + 1: self.mappings[m].value for i, m in enumerate(DEVICE_RANK)}

    # ---- one person

    def build(self, person: tuple[Any, ...], *, with_sources: bool = False) -> Built:
        """The person's record; with each value's source only if asked (the worklist's candidates)."""
        person_id = person[0]
        record: dict[str, Any] = {"baseline_time": self.moment.t0}
        sources: dict[str, str] | None = {} if with_sources else None
        self._birth(person, record, sources)
        if person[5] is not None:
            record["sex"] = person[5]
            if sources is not None:
                sources["sex"] = f"person {person_id} (gender_concept_id)"
        self._oncology(person_id, record, sources)
        self._hospitalized(person_id, record, sources)
        self._alc(person_id, record, sources)
        self._support(person_id, record, sources)
        if person_id in self.f.covid:
            table, row = self.f.covid[person_id]
            record["covid_confirmed"] = True
            if sources is not None:
                sources["covid_confirmed"] = f"{table} {row}"
        for name in ("ALT", "AST"):
            self._latest(person_id, name, record, sources)
        for mapping_id, field in HISTORY_FIELDS.items():
            found = self.f.history.get((person_id, mapping_id))
            if found is not None:
                record[field] = True
                if sources is not None:
                    sources[field] = f"{found[0]} {found[1]} ({mapping_id})"
        for name in ("WEIGHT", "HEIGHT"):
            self._latest(person_id, name, record, sources)
        return Built(person_id, record, sources or {})  # type: ignore[arg-type]

    # ---- the fields

    def _birth(self, person: tuple[Any, ...], record: dict[str, Any], sources: dict[str, str] | None) -> None:
        person_id, birth_datetime, year, month, day = person[:5]
        d0 = self.moment.day
        row = f"person_id={person_id}"
        if birth_datetime is not None:
            earliest = latest = birth_datetime.date()
            column, what = "birth_datetime", "birth_datetime"
        elif year is None:
            return
        elif month is not None and day is not None:
            try:
                earliest = latest = date(year, month, day)
            except ValueError:
                raise OmopInputError(
                    "person", f"{year}-{month}-{day} is not a date", column="day_of_birth", row=row
                ) from None
            column, what = "year_of_birth", "year, month and day of birth"
        else:
            try:
                earliest = date(year, month or 1, 1)
                latest = date(year, month or 12, days_in_month(year, month or 12))
            except ValueError:
                raise OmopInputError(
                    "person", f"month {month} is not a month", column="month_of_birth", row=row
                ) from None
            column, what = "year_of_birth", "year of birth only" if month is None else "year and month of birth only"
        if earliest > d0:
            return  # born after T0: no age at T0
        latest = min(latest, d0)
        if completed_years(latest, d0) > MAX_AGE_YEARS:
            raise OmopInputError("person", f"an age over {MAX_AGE_YEARS} years at T0", column=column, row=row)
        if earliest != latest:
            # Only the year (or month) is known: decided only where both possible ages agree on INC-AGE.
            younger = inc_age({"baseline_time": self.moment.t0, "birth_date": latest})
            older = inc_age({"baseline_time": self.moment.t0, "birth_date": earliest})
            if younger.status != older.status:
                return
        record["birth_date"] = latest
        if sources is not None:
            sources["birth_date"] = f"person {person_id} ({what}" + (
                ", the latest possible date)" if earliest != latest else ")"
            )

    def _oncology(self, person_id: int, record: dict[str, Any], sources: dict[str, str] | None) -> None:
        oncology: dict[str, Any] = {}
        chemo = self.f.chemo.get(person_id)
        d0 = self.moment.day
        if chemo is not None and months_before(d0, ONCOLOGY_MONTHS) <= chemo[0] <= d0:
            oncology["last_chemo_or_immunotherapy_date"] = chemo[0]
            if sources is not None:
                sources["oncology.last_chemo_or_immunotherapy_date"] = f"drug_exposure {chemo[1]} (CHEMO-IMMUNOTHERAPY)"
        hormonal = self.f.hormonal.get(person_id)
        if hormonal is not None:
            oncology["on_hormonal_therapy"] = True
            if sources is not None:
                sources["oncology.on_hormonal_therapy"] = f"drug_exposure {hormonal} (HORMONAL-THERAPY)"
        if oncology:
            record["oncology"] = oncology

    def _hospitalized(self, person_id: int, record: dict[str, Any], sources: dict[str, str] | None) -> None:
        found = self.f.hospitalized.get(person_id)
        if found is None:
            # visit_occurrence is the hospital's complete list of stays: none under way is "not hospitalized"
            record["hospitalized"] = False
            if sources is not None:
                sources["hospitalized"] = "visit_occurrence (no inpatient stay under way at T0)"
        elif found[0] == YES:
            record["hospitalized"] = True
            if sources is not None:
                sources["hospitalized"] = f"visit_occurrence {found[1]} (INPATIENT-VISIT)"
        # MAYBE: a stay whose start or end is a date without time on T0's date leaves it missing

    def _unit(self, table: str, row_id: int, unit_concept_id: int | None) -> str | None:
        if unit_concept_id is None or unit_concept_id == 0:
            return None
        code = self.f.unit_codes.get(unit_concept_id)
        if code is None:
            raise OmopInputError(
                table,
                f"unit concept {unit_concept_id} is not in the concept table",
                column="unit_concept_id",
                row=f"measurement_id={row_id}",
            )
        return code

    def _value(
        self,
        mapping_id: str,
        row_id: int,
        value: float | None,
        unit_id: int | None,
        time: datetime | None,
        uln: float | None = None,
    ) -> tuple[str, Any]:
        unit = self._unit("measurement", row_id, unit_id)
        try:
            return measurement_value(self.mappings[mapping_id], value, unit, time, uln=uln)
        except BadValue as exc:
            column = "unit_concept_id" if "unit" in exc.message else "value_as_number"
            if exc.field.endswith(".uln"):
                column = "range_high"
            raise OmopInputError(
                "measurement",
                f"{exc.message} ({mapping_id}, record field {exc.field})",
                column=column,
                row=f"measurement_id={row_id}",
            ) from None

    def _alc(self, person_id: int, record: dict[str, Any], sources: dict[str, str] | None) -> None:
        # measurement is the hospital's complete list of counts: none in the window is an empty list
        entries = []
        for index, row in enumerate(self.f.alc.get(person_id, ())):
            entries.append(
                self._value(
                    "ALC",
                    row["measurement_id"],
                    row["value_as_number"],
                    row["unit_concept_id"],
                    row["measurement_datetime"],
                )[1]
            )
            if sources is not None:
                sources[f"alc[{index}]"] = f"measurement {row['measurement_id']} (ALC)"
        record["alc"] = entries

    def _latest(self, person_id: int, mapping_id: str, record: dict[str, Any], sources: dict[str, str] | None) -> None:
        row = self.f.latest.get((person_id, mapping_id))
        if row is None:
            return  # none recorded, or one on T0's date without a time might be the latest (dropped): missing
        if row[L_VALUE] is None and mapping_id not in ("ALT", "AST"):
            return
        field, value = self._value(mapping_id, row[L_ID], row[L_VALUE], row[L_UNIT], row[L_TIME], row[L_ULN])
        record[field] = value
        if sources is not None:
            sources[field] = f"measurement {row[L_ID]} ({mapping_id})"

    def _support(self, person_id: int, record: dict[str, Any], sources: dict[str, str] | None) -> None:
        rows = self.f.support.get(person_id)
        if not rows:
            return
        definite = max((r["rank"] for r in rows if r["covers"] == YES), default=0)
        possible = max((r["rank"] for r in rows if r["covers"] >= MAYBE), default=0)
        start = self._episode_start([r for r in rows if r["rank"] == VENTILATION_RANK])
        if start is not None:
            record["mechanical_ventilation_start"] = start[0]
            if sources is not None:
                sources["mechanical_ventilation_start"] = start[1]
        if definite == 0 or definite < possible:
            return  # no support known to be under way, or a higher one may be: the device is missing
        support: dict[str, Any] = {"device": self.device_values[definite]}
        current = [r for r in rows if r["rank"] == definite and r["covers"] == YES]
        if sources is not None:
            sources["respiratory_support.device"] = "; ".join(f"{r['table']} {r['row_id']}" for r in current)
        since = self._episode_start([r for r in rows if r["rank"] == definite], exact=False)
        flow = self.f.latest.get((person_id, "OXYGEN-FLOW"))
        usable = flow is not None and flow[L_TIME] is not None and flow[L_VALUE] is not None
        if flow is not None and usable and since is not None and utc(flow[L_TIME]) >= since[0]:  # type: ignore[operator]
            _, value = self._value("OXYGEN-FLOW", flow[L_ID], flow[L_VALUE], flow[L_UNIT], flow[L_TIME])
            support["oxygen_flow_lpm"] = value
            if sources is not None:
                sources["respiratory_support.oxygen_flow_lpm"] = f"measurement {flow[L_ID]} (OXYGEN-FLOW)"
        record["respiratory_support"] = support

    # ---- episodes

    def _bounds(self, day: date | None, moment: datetime | None) -> tuple[datetime, datetime] | None:
        """The earliest and latest instant (UTC) a recorded time or date can stand for."""
        if moment is not None:
            exact = utc(moment)
            assert exact is not None
            return exact, exact
        if day is None:
            return None
        first = datetime.combine(day, time(), self.local).astimezone(UTC)
        return first, first + timedelta(days=1)

    def _episode_start(self, rows: list[dict[str, Any]], exact: bool = True) -> tuple[datetime, str] | None:
        """The start of the episode (overlapping or abutting records joined) under way at T0.

        Computed twice, with every uncertain time at its earliest and at its latest; `exact` asks
        for a start both agree on and that is a recorded time (a date alone is not a start time),
        otherwise the latest of the two (a bound: nothing of this episode is known before it).
        """
        found = []
        for late in (False, True):
            intervals = []
            for r in rows:
                start = self._bounds(r["start_date"], r["start_datetime"])
                if start is None:
                    return None
                end = self._bounds(r["end_date"], r["end_datetime"])
                begin = start[1] if late else start[0]
                finish = None if end is None else (end[0] if late else end[1])
                if begin <= self.t0_utc:
                    intervals.append((begin, finish, r))
            episode = _episode_at(sorted(intervals, key=lambda x: (x[0], x[2]["table"], x[2]["row_id"])), self.t0_utc)
            if episode is None:
                return None
            found.append(episode)
        (early, early_row), (late_start, late_row) = found
        if exact:
            if early != late_start or early_row["start_datetime"] is None:
                return None
            return early, f"{early_row['table']} {early_row['row_id']} (start of the episode under way at T0)"
        return late_start, f"{late_row['table']} {late_row['row_id']}"


def _episode_at(
    intervals: list[tuple[datetime, datetime | None, dict[str, Any]]], t0: datetime
) -> tuple[datetime, dict[str, Any]] | None:
    """The start (and its row) of the merged interval that contains T0; None if none does."""
    start: datetime | None = None
    first: dict[str, Any] | None = None
    end: datetime | None = None
    open_ended = False
    result = None
    for begin, finish, row in intervals:
        if start is None or (not open_ended and end is not None and begin > end):
            start, first, end, open_ended = begin, row, finish, finish is None
        elif finish is None:
            open_ended = True
        elif end is not None and finish > end:
            end = finish
        if start <= t0 and (open_ended or (end is not None and end > t0)):
            assert first is not None
            result = (start, first)
    return result
