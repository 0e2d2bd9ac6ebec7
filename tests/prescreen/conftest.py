"""Fixtures of the pre-screening tests: a small synthetic population (more inpatients with COVID-19
than a real cancer centre has, so that every path is taken), a PostgreSQL server holding it, and
a way to run one engine over a source."""

from __future__ import annotations

import io
import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from omop_builder import T0

from iliad7.prescreen.run import Summary, parse_as_of, run
from iliad7.prescreen.synth import load_parameters, synthesize

SYNTH_PERSONS = 300


def enriched_parameters() -> dict[str, object]:
    """The cited parameters, with a hospital ward's share of inpatients: a few hundred persons then
    reach every device, every unit and the candidates."""
    p = load_parameters()
    p["care.inpatient_share"] = 0.35
    p["care.covid_share_of_inpatients"] = 0.6
    p["care.outpatient_visits_mean"] = 1.0
    return p


@pytest.fixture(scope="session")
def synthetic_omop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("omop") / "synthetic"
    synthesize(SYNTH_PERSONS, 20210115, folder, enriched_parameters())
    return folder


@pytest.fixture(scope="session")
def synthetic_postgresql(postgresql_base_url: str, synthetic_omop: Path) -> str:
    """The synthetic population copied into its own database, schema `cdm`."""
    import psycopg
    from omop_databases import copy_to_postgresql

    with psycopg.connect(f"{postgresql_base_url}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS iliad7_omop_test")
        conn.execute("CREATE DATABASE iliad7_omop_test")
    url = f"{postgresql_base_url}/iliad7_omop_test"
    copy_to_postgresql(synthetic_omop, url, schema="cdm")
    return f"{url}?schema=cdm"


def prescreen(
    source: str | Path, engine: str = "duckdb", as_of: str = T0, jobs: int = 1
) -> tuple[bytes, bytes, Summary]:
    """Run the pre-screening in this process: (JSON Lines, records JSON, summary)."""
    out, records = io.BytesIO(), io.BytesIO()
    summary, _ = run(str(source), parse_as_of(as_of), engine=engine, out=out, records=records, jobs=jobs)  # type: ignore[arg-type]
    return out.getvalue(), records.getvalue(), summary


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)
