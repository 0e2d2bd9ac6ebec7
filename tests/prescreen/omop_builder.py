"""A tiny OMOP CDM folder written from Python rows, for the edge cases the synthetic population is too
coarse to reach. Concepts are named by (vocabulary, code); their ids are made up here (and differ from
the synthetic population's), as a real vocabulary release's would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from iliad7.prescreen.source import TABLES

ARROW = {
    "int": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "text": pa.string(),
}
T0 = "2021-01-15T12:00:00+00:00"
T0_NAIVE = datetime(2021, 1, 15, 12)


@dataclass
class Omop:
    concepts: dict[tuple[str, str], int] = field(default_factory=dict)
    ancestry: list[tuple[tuple[str, str], tuple[str, str]]] = field(default_factory=list)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 900_000_001

    def concept(self, vocabulary: str, code: str) -> int:
        key = (vocabulary, code)
        if key not in self.concepts:
            self.concepts[key] = self.next_id
            self.next_id += 7
        return self.concepts[key]

    def descendant(self, ancestor: tuple[str, str], child: tuple[str, str]) -> None:
        self.concept(*ancestor)
        self.concept(*child)
        self.ancestry.append((ancestor, child))

    def add(self, table: str, **values: Any) -> int:
        rows = self.rows.setdefault(table, [])
        key = next(iter(TABLES[table]))
        values.setdefault(key, len(rows) + 1)
        rows.append(values)
        return int(values[key])

    def person(
        self,
        person_id: int,
        *,
        born: datetime | None = datetime(1960, 5, 1, 8),
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        sex: str = "F",
    ) -> int:
        if born is not None:
            year, month, day = born.year, born.month, born.day
        return self.add(
            "person",
            person_id=person_id,
            gender_concept_id=self.concept("Gender", sex),
            year_of_birth=year,
            month_of_birth=month,
            day_of_birth=day,
            birth_datetime=born,
        )

    def inpatient(
        self,
        person_id: int,
        start: datetime = datetime(2021, 1, 10, 8),
        end: datetime | None = None,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
        code: str = "IP",
    ) -> int:
        return self.add(
            "visit_occurrence",
            person_id=person_id,
            visit_concept_id=self.concept("Visit", code),
            visit_start_date=start_date or start.date(),
            visit_start_datetime=None if start_date else start,
            visit_end_date=end_date or (end.date() if end else None),
            visit_end_datetime=None if end_date else end,
        )

    def measurement(
        self,
        person_id: int,
        code: str,
        when: datetime | date,
        value: float | None = None,
        *,
        unit: str | None = None,
        vocabulary: str = "LOINC",
        value_concept: tuple[str, str] | None = None,
        range_high: float | None = None,
    ) -> int:
        timed = isinstance(when, datetime)
        return self.add(
            "measurement",
            person_id=person_id,
            measurement_concept_id=self.concept(vocabulary, code),
            measurement_date=when.date() if timed else when,
            measurement_datetime=when if timed else None,
            value_as_number=value,
            value_as_concept_id=self.concept(*value_concept) if value_concept else 0,
            unit_concept_id=self.concept("UCUM", unit) if unit else 0,
            range_high=range_high,
        )

    def condition(self, person_id: int, code: str, when: datetime | date, vocabulary: str = "SNOMED") -> int:
        timed = isinstance(when, datetime)
        return self.add(
            "condition_occurrence",
            person_id=person_id,
            condition_concept_id=self.concept(vocabulary, code),
            condition_start_date=when.date() if timed else when,
            condition_start_datetime=when if timed else None,
        )

    def device(self, person_id: int, code: str, start: datetime | date, end: datetime | date | None = None) -> int:
        return self.add(
            "device_exposure",
            person_id=person_id,
            device_concept_id=self.concept("SNOMED", code),
            device_exposure_start_date=start.date() if isinstance(start, datetime) else start,
            device_exposure_start_datetime=start if isinstance(start, datetime) else None,
            device_exposure_end_date=end.date() if isinstance(end, datetime) else end,
            device_exposure_end_datetime=end if isinstance(end, datetime) else None,
        )

    def procedure(self, person_id: int, code: str, start: datetime | date, end: datetime | date | None = None) -> int:
        return self.add(
            "procedure_occurrence",
            person_id=person_id,
            procedure_concept_id=self.concept("SNOMED", code),
            procedure_date=start.date() if isinstance(start, datetime) else start,
            procedure_datetime=start if isinstance(start, datetime) else None,
            procedure_end_date=end.date() if isinstance(end, datetime) else end,
            procedure_end_datetime=end if isinstance(end, datetime) else None,
        )

    def drug(self, person_id: int, vocabulary: str, code: str, start: date, end: date | None = None) -> int:
        return self.add(
            "drug_exposure",
            person_id=person_id,
            drug_concept_id=self.concept(vocabulary, code),
            drug_exposure_start_date=start,
            drug_exposure_end_date=end,
        )

    def write(self, folder: Path, *, csv: bool = False, skip: tuple[str, ...] = ()) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, kinds in TABLES.items():
            if name in skip or name == "concept_ancestor" or name == "concept":
                continue
            rows = self.rows.get(name, [])
            table = pa.table({c: pa.array([r.get(c) for r in rows], ARROW[k]) for c, (k, _) in kinds.items()})
            self._write(folder, name, table, csv)
        concept = pa.table(
            {
                "concept_id": pa.array(list(self.concepts.values()), pa.int64()),
                "vocabulary_id": [v for v, _ in self.concepts],
                "concept_code": [c for _, c in self.concepts],
                "concept_name": [f"{v} {c}" for v, c in self.concepts],
            }
        )
        if "concept" not in skip:
            self._write(folder, "concept", concept, csv)
        if "concept_ancestor" not in skip:
            pairs = [(i, i) for i in self.concepts.values()] + [
                (self.concepts[a], self.concepts[d]) for a, d in self.ancestry
            ]
            table = pa.table(
                {
                    "ancestor_concept_id": pa.array([a for a, _ in pairs], pa.int64()),
                    "descendant_concept_id": pa.array([d for _, d in pairs], pa.int64()),
                }
            )
            self._write(folder, "concept_ancestor", table, csv)
        return folder

    @staticmethod
    def _write(folder: Path, name: str, table: pa.Table, csv: bool) -> None:
        if csv:
            pacsv.write_csv(table, folder / f"{name}.csv")
        else:
            pq.write_table(table, folder / f"{name}.parquet")
