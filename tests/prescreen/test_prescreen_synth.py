"""`iliad7 omop synth`: deterministic per seed, every parameter documented, a rare candidate fraction."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import prescreen
from iliad7.prescreen.synth import PARAMETERS_FILE, load_parameters, synthesize


def _tables(folder: Path) -> dict[str, object]:
    return {p.stem: pq.read_table(p) for p in sorted(folder.glob("*.parquet"))}


def test_the_same_seed_gives_the_same_population_and_another_seed_another(tmp_path: Path) -> None:
    synthesize(2000, 11, tmp_path / "a")
    synthesize(2000, 11, tmp_path / "b")
    synthesize(2000, 12, tmp_path / "c")
    a, b, c = _tables(tmp_path / "a"), _tables(tmp_path / "b"), _tables(tmp_path / "c")
    assert a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)  # type: ignore[attr-defined]
    assert not a["measurement"].equals(c["measurement"])  # type: ignore[attr-defined]


def test_every_parameter_says_what_kind_of_number_it_is() -> None:
    from ruamel.yaml import YAML

    raw = YAML(typ="safe").load(PARAMETERS_FILE.read_text())
    entries = [e for section, group in raw.items() if section != "snapshot" for e in group.values()]
    assert all(e["kind"] in ("quoted", "estimate", "assumption") for e in entries)
    assert any(e["kind"] == "estimate" for e in entries)  # the cited ones
    load_parameters()  # sources are those of simulation-sources.md, estimates have derivations


def test_a_realistic_population_has_rare_candidates_and_no_one_eligible_from_the_ehr(tmp_path: Path) -> None:
    synthesize(20_000, 3, tmp_path / "omop")
    lines, _, summary = prescreen(tmp_path / "omop")
    verdicts = [orjson.loads(line)["verdict"] for line in lines.splitlines()]
    candidates = sum(v != "ineligible" for v in verdicts)
    assert summary.persons == 20_000
    assert 0 < candidates < 0.01 * len(verdicts)  # a few per thousand
    assert "eligible" not in verdicts  # consent, contraception... are never in the EHR


def test_the_command_prints_the_as_of_to_use(tmp_path: Path) -> None:
    from iliad7.cli import app

    result = CliRunner().invoke(app, ["omop", "synth", "--patients", "50", "--seed", "1", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "--as-of 2021-01-15T12:00:00+00:00" in result.stdout
    assert (tmp_path / "o" / "person.parquet").is_file() and (tmp_path / "o" / "cdm_source.parquet").is_file()
    bad = CliRunner().invoke(app, ["omop", "synth", "--patients", "0", "--seed", "1", "--out", str(tmp_path / "p")])
    assert bad.exit_code == 2


@pytest.mark.parametrize("persons", [1, 7])
def test_tiny_populations_work(tmp_path: Path, persons: int) -> None:
    synthesize(persons, 5, tmp_path / "omop")
    lines, _, _ = prescreen(tmp_path / "omop")
    assert len(lines.splitlines()) == persons
