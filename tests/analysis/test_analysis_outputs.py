"""ARD rows exactly as shared/spec/interfaces.md, byte-identical outputs, the open report without arms, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from iliad7.analysis import analyses
from iliad7.analysis.ard import ARD_FIELDS, ard_rows, provenance, snapshot_hash
from iliad7.analysis.from_simulation import SimulatedTrial, simulated_trial
from iliad7.analysis.report import write_report

FIXED = {
    "ALC-ANCOVA": {"gmr", "p_value"},
    "ALC-WILCOXON": {"p_value"},
    "MORTALITY-D45-KM": {"survival_cyt107", "survival_placebo"},
    "MORTALITY-D45-LOGRANK": {"p_value"},
    "MORTALITY-D45-COX": {"hr", "p_value"},
    "OSFD-WILCOXON": {"p_value"},
    "WHO-D30-POLR": {"or", "p_value"},
}
ARM_WORDS = re.compile(r"cyt107|placebo|by arm|TRT01", re.IGNORECASE)


@pytest.fixture(scope="module")
def results48(trial48: SimulatedTrial) -> list:
    return analyses.run_all(trial48.data)


def test_closed_ard_rows_have_exactly_the_interface_fields_and_fixed_ids(results48: list) -> None:
    rows = ard_rows(results48, closed=True)
    for row in rows:
        assert tuple(row) == ARD_FIELDS
        assert isinstance(row["analysis_id"], str) and isinstance(row["n"], int)
        for key in ("value", "ci_lower", "ci_upper"):
            assert row[key] is None or isinstance(row[key], float)
    for analysis_id, statistics in FIXED.items():
        present = {r["statistic"] for r in rows if r["analysis_id"] == analysis_id}
        assert statistics <= present, analysis_id
    gmr = next(r for r in rows if r["analysis_id"] == "ALC-ANCOVA" and r["statistic"] == "gmr")
    assert gmr["ci_lower"] < gmr["value"] < gmr["ci_upper"]
    assert gmr["population"] == "MITT"
    km = next(r for r in rows if r["analysis_id"] == "MORTALITY-D45-KM" and r["statistic"] == "survival_cyt107")
    assert km["population"] == "ITT"
    p = next(r for r in rows if r["analysis_id"] == "ALC-WILCOXON" and r["statistic"] == "p_value")
    assert p["ci_lower"] is None and p["ci_upper"] is None


def test_open_ard_has_no_arm_level_row(results48: list) -> None:
    rows = ard_rows(results48, closed=False)
    assert rows
    for row in rows:
        assert tuple(row) == ARD_FIELDS
        assert row["statistic"].endswith("[pooled]")
        assert row["method"] == "descriptive, pooled over arms (blinded)"
        assert not ARM_WORDS.search(json.dumps(row))
    assert not {r["statistic"] for r in rows} & {"gmr", "hr", "or", "p_value"}


def test_snapshot_hash_changes_with_any_value(trial48: SimulatedTrial) -> None:
    data = trial48.data
    changed = type(data)(**{**data.frames(), "adsl": data.adsl.with_columns(pl.col("AGE") + 1)})
    assert snapshot_hash(data) != snapshot_hash(changed)
    prov = provenance(data, source="test")
    assert set(prov) == {"snapshot_sha256", "protocol_sha256", "protocol_version", "code_version", "source"}
    assert re.fullmatch(r"[0-9a-f]{64}", prov["protocol_sha256"])


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_same_inputs_give_byte_identical_ard_datasets_and_reports(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        trial = simulated_trial(10, 11)
        write_report(
            tmp_path / run, trial.data, analyses.run_all(trial.data), trial.consort, closed=True, source="simulated"
        )
        outputs.append(_files(tmp_path / run))
    assert outputs[0].keys() == outputs[1].keys()
    assert {"ard.json", "report.html", "report.pdf", "provenance.json", "datasets/adsl.csv"} <= outputs[0].keys()
    for name in outputs[0]:
        assert outputs[0][name] == outputs[1][name], name


def test_open_report_contains_no_arm_anywhere(trial48: SimulatedTrial, results48: list, tmp_path: Path) -> None:
    paths = write_report(tmp_path, trial48.data, results48, trial48.consort, closed=False, source="simulated")
    html = paths["html"].read_text()
    assert "Open report" in html
    assert not ARM_WORDS.search(html)
    assert not ARM_WORDS.search(paths["ard"].read_text())
    for csv in (tmp_path / "datasets").glob("*.csv"):
        assert not ARM_WORDS.search(csv.read_text()), csv.name
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    assert "http://" not in html and "https://" not in html  # no external requests


def test_closed_report_has_arms_tables_and_figures(trial48: SimulatedTrial, results48: list, tmp_path: Path) -> None:
    paths = write_report(tmp_path, trial48.data, results48, trial48.consort, closed=True, source="simulated")
    html = paths["html"].read_text()
    for text in ("CYT107", "placebo", "Forest plot", "Kaplan-Meier", "CONSORT", "WHO scale", "ALC-ANCOVA", "Baseline"):
        assert text in html
    assert html.count("data:image/png;base64,") == 5
    assert "http://" not in html and "https://" not in html


def _app() -> typer.Typer:
    from iliad7.cli.analysis import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `report` a sub-command, as in the real app
        """Nothing."""

    return app


def test_cli_simulated_trial_of_one_participant_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["report", "--out", str(tmp_path), "--simulated", "--n", "1"])
    assert result.exit_code == 2
    assert "--n" in result.output
    assert not list(tmp_path.iterdir())


def test_cli_simulated_open_and_closed(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        _app(), ["report", "--out", str(tmp_path / "open"), "--simulated", "--n", "10", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert {"report.html", "report.pdf", "ard.json"} <= {p.name for p in (tmp_path / "open").iterdir()}
    assert not ARM_WORDS.search((tmp_path / "open" / "ard.json").read_text())
    result = runner.invoke(
        _app(), ["report", "--out", str(tmp_path / "closed"), "--simulated", "--n", "10", "--seed", "3", "--closed"]
    )
    assert result.exit_code == 0, result.output
    ard = json.loads((tmp_path / "closed" / "ard.json").read_text())
    assert any(r["analysis_id"] == "ALC-ANCOVA" and r["statistic"] == "gmr" for r in ard)
