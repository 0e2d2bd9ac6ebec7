"""`iliad7 report --as USER`: the SAP analyses of the trial database, for what that user may see.

A simulated cohort is entered through the actions; the report of the database must (a) give the
primary GMR that an independent ANCOVA on the exported ADaM datasets gives, (b) hold no arm for a
blinded reader and be the same open report whoever asks, (c) be refused by arm to a blinded user,
(d) be reproducible byte for byte from the same database, and (e) be audited without the arm.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"
N, SEED = 10, 11
ALLOCATION_SEED = 1_011_011  # the test statistician's own seed: a reproducible trial


@pytest.fixture
def trial(db: None) -> dict[str, Any]:
    from iliad7.store.actions import add_user, load_protocol_version
    from iliad7.store.models import User
    from iliad7.store.simulation import run_simulated_cohort

    load_protocol_version(REPO / "protocols" / "iliad-7-us-o.yaml", channel="system")
    run = run_simulated_cohort(n=N, seed=SEED, allocation_seed=ALLOCATION_SEED, course_key=SEED)

    def make(username: str, roles: list[str], sites: list[str]) -> Any:
        return add_user(username, password=PASSWORD, roles=roles, sites=sites, full_name=username.title(),
                        acting_user=None, channel="system")  # fmt: skip

    return {
        "unblinded": User.objects.get(username="sim-statistician"),
        "blinded": make("bstat", ["blinded-statistician"], []),
        "dsmb": make("dsmb", ["dsmb-member"], []),
        "coordinator": User.objects.get(username="sim-coordinator-mskcc"),
        "cohort": run.cohort,
    }


def _open_session(trial: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from iliad7.store.actions.dsmb import schedule_closed_session

    now = datetime.now(UTC)
    schedule_closed_session(members=["dsmb"], starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1),
                            purpose="interim review", acting_user=trial["unblinded"], channel="cli")  # fmt: skip


def _ard(folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((folder / "ard.json").read_text())
    return rows


def _value(rows: list[dict[str, Any]], analysis_id: str, statistic: str) -> float:
    found = [r["value"] for r in rows if r["analysis_id"] == analysis_id and r["statistic"] == statistic]
    assert len(found) == 1, (analysis_id, statistic, found)
    return float(found[0])


def test_closed_report_primary_gmr_equals_an_independent_ancova_on_the_adam_export(
    trial: dict[str, Any], tmp_path: Path
) -> None:
    import statsmodels.api as sm

    from iliad7.standards.exports import adam_datasets
    from iliad7.store.actions.reports import write_trial_report

    written = write_trial_report(trial["unblinded"], tmp_path, channel="cli")
    assert written.closed and written.participants == N
    rows = _ard(tmp_path)
    gmr = _value(rows, "ALC-ANCOVA", "gmr")
    _, datasets = adam_datasets(trial["unblinded"])
    frames = {d.name: d.frame for d in datasets}
    adsl = {r["USUBJID"]: r for r in frames["ADSL"].to_dicts()}
    primary = [
        r for r in frames["ADLB"].to_dicts()
        if r["PARAMCD"] == "LYM" and r["ANL01FL"] == "Y" and adsl[r["USUBJID"]]["MITTFL"] == "Y"
    ]  # fmt: skip
    assert len(primary) >= 6, "the cohort must give an estimable primary analysis"
    sites = sorted({adsl[r["USUBJID"]]["SITEID"] for r in primary})
    design = np.array(
        [
            [1.0, float(adsl[r["USUBJID"]]["TRT01P"] == "CYT107"), math.log(r["BASE"])]
            + [float(adsl[r["USUBJID"]]["SITEID"] == s) for s in sites[1:]]
            for r in primary
        ]
    )
    fitted = sm.OLS(np.log([r["AVAL"] for r in primary]), design).fit()
    assert gmr == pytest.approx(math.exp(fitted.params[1]), rel=1e-9)
    assert _value(rows, "ALC-ANCOVA", "p_value") == pytest.approx(fitted.pvalues[1], rel=1e-6)
    assert {"MORTALITY-D45-KM", "MORTALITY-D45-LOGRANK", "OSFD-WILCOXON"} <= {r["analysis_id"] for r in rows}


def test_open_report_holds_no_arm_and_is_the_same_whoever_asks(trial: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.store.actions.reports import write_trial_report

    blinded = write_trial_report(trial["blinded"], tmp_path / "blinded", channel="cli")
    unblinded = write_trial_report(trial["unblinded"], tmp_path / "unblinded", closed=False, channel="cli")
    dsmb = write_trial_report(trial["dsmb"], tmp_path / "dsmb", channel="cli")
    assert not blinded.closed and not unblinded.closed and not dsmb.closed
    assert (tmp_path / "blinded" / "ard.json").read_bytes() == (tmp_path / "unblinded" / "ard.json").read_bytes()
    rows = _ard(tmp_path / "blinded")
    assert rows and all(r["statistic"].endswith("[pooled]") for r in rows)
    for path in (tmp_path / "blinded").rglob("*"):
        if path.suffix in (".json", ".csv", ".html"):
            text = path.read_text().lower()
            assert "cyt107" not in text.replace("cyt107 versus placebo", ""), path
            assert "placebo" not in text.replace("cyt107 versus placebo", ""), path


def test_closed_report_is_refused_to_blinded_users_and_given_to_the_dsmb_only_in_closed_session(
    trial: dict[str, Any], tmp_path: Path
) -> None:
    from iliad7.errors import AccessDenied
    from iliad7.store.actions.reports import write_trial_report

    with pytest.raises(AccessDenied, match="closed report"):
        write_trial_report(trial["blinded"], tmp_path / "b", closed=True, channel="cli")
    with pytest.raises(AccessDenied, match="closed report"):
        write_trial_report(trial["dsmb"], tmp_path / "d", closed=True, channel="cli")
    with pytest.raises(AccessDenied, match=r"report\.view"):
        write_trial_report(trial["coordinator"], tmp_path / "c", channel="cli")
    assert not (tmp_path / "b").exists() and not (tmp_path / "d").exists() and not (tmp_path / "c").exists()
    # Saying that the board sits closed is not enough: the unblinded statistician schedules the session.
    with pytest.raises(AccessDenied, match="closed report"):
        write_trial_report(trial["dsmb"], tmp_path / "d", closed=True, closed_session=True, channel="cli")
    _open_session(trial)
    session = write_trial_report(trial["dsmb"], tmp_path / "session", closed_session=True, channel="cli")
    statistician = write_trial_report(trial["unblinded"], tmp_path / "stat", channel="cli")
    assert session.closed and statistician.closed
    assert (tmp_path / "session" / "ard.json").read_bytes() == (tmp_path / "stat" / "ard.json").read_bytes()


def test_same_database_same_outputs_and_the_report_is_audited_without_the_arm(
    trial: dict[str, Any], tmp_path: Path
) -> None:
    from iliad7.audit.trail import verify
    from iliad7.store.actions.reports import write_trial_report
    from iliad7.store.models import AuditRecord

    first = write_trial_report(trial["unblinded"], tmp_path / "1", channel="cli")
    second = write_trial_report(trial["unblinded"], tmp_path / "2", channel="cli")
    for name in ("ard.json", "datasets/adsl.csv", "datasets/adlb.csv", "datasets/adtte.csv"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    assert first.snapshot_sha256 == second.snapshot_sha256
    provenance = json.loads((tmp_path / "1" / "provenance.json").read_text())
    assert provenance["snapshot_sha256"] == first.snapshot_sha256 and provenance["protocol_sha256"]
    records = list(AuditRecord.objects.filter(action="report.written"))
    assert len(records) == 2
    for record in records:
        assert record.actor == "sim-statistician" and record.object_id == "closed"
        assert "CYT107" not in record.new_value and "placebo" not in record.new_value
    assert verify().ok


def test_consort_counts_come_from_the_screening_log(trial: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.store.actions.reports import write_trial_report
    from iliad7.store.models import Participant

    write_trial_report(trial["blinded"], tmp_path, channel="cli")
    html = (tmp_path / "report.html").read_text()
    screened = Participant.objects.count()
    failed = Participant.objects.filter(status="screen_failed").count()
    assert f"<td>Screened</td><td>{screened}</td>" in html
    assert f"<td>Randomized (ITT)</td><td>{N}</td>" in html
    assert failed == screened - N


@pytest.fixture
def app() -> typer.Typer:
    from iliad7.cli import analysis

    application = typer.Typer()
    analysis.register(application)
    application.command("noop")(lambda: None)  # a second command keeps `report` a sub-command
    return application


def test_report_command_writes_the_interface_files_and_names_bad_input(
    trial: dict[str, Any], app: typer.Typer, tmp_path: Path
) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["report", "--out", str(tmp_path / "r"), "--as", "bstat"])
    assert done.exit_code == 0, done.output
    for name in ("report.html", "report.pdf", "ard.json"):
        assert (tmp_path / "r" / name).stat().st_size > 0
    refused = runner.invoke(app, ["report", "--out", str(tmp_path / "x"), "--as", "bstat", "--closed"])
    assert refused.exit_code == 1 and "closed report" in refused.output
    missing = runner.invoke(app, ["report", "--out", str(tmp_path / "x"), "--as", "nobody"])
    assert missing.exit_code == 2 and "--as" in missing.output
    unnamed = runner.invoke(app, ["report", "--out", str(tmp_path / "x")])
    assert unnamed.exit_code == 2 and "--as" in unnamed.output
    assert not (tmp_path / "x").exists()


def test_the_database_path_reproduces_the_simulation_path(trial: dict[str, Any], tmp_path: Path) -> None:
    """The same simulated trial analysed twice: from the simulator's own datasets, and from what the
    real actions stored (forms, doses, stays, adjudicated infections) read back through SDTM."""
    from iliad7.analysis.analyses import run_all
    from iliad7.analysis.from_simulation import simulated_trial
    from iliad7.store.actions.reports import write_trial_report

    write_trial_report(trial["unblinded"], tmp_path, channel="cli")
    from_database = {(r["analysis_id"], r["statistic"]): r["value"] for r in _ard(tmp_path)}
    simulated = {
        (result.analysis_id, estimate.statistic): estimate.value
        for result in run_all(simulated_trial(N, SEED, trial["cohort"]).data)
        for estimate in result.estimates
    }
    compared = [
        ("ALC-ANCOVA", "gmr"),
        ("ALC-ANCOVA", "p_value"),
        ("ALC-WILCOXON", "p_value"),
        ("MORTALITY-D45-KM", "survival_cyt107"),
        ("MORTALITY-D45-KM", "survival_placebo"),
        ("OSFD-WILCOXON", "p_value"),
        ("SECONDARY-INFECTIONS-FISHER", "p_value"),
    ]
    # The cohort enters laboratory values to 4 significant digits, as a laboratory reports them.
    for key in compared:
        assert from_database[key] == pytest.approx(simulated[key], rel=1e-3), key
