"""`iliad7 export sdtm|adam|csv|odm` and `iliad7 import odm` as commands (in process, on the test database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

pytestmark = pytest.mark.django_db


@pytest.fixture
def app() -> typer.Typer:
    from iliad7.cli import standards

    application = typer.Typer()
    standards.register(application)
    return application


def test_export_commands_write_the_interface_files(cohort: dict[str, Any], app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["export", "sdtm", str(tmp_path / "sdtm"), "--as", "dm", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["blinded"] is True and result["errors"] == 0
    for name in ("dm.xpt", "dm.json", "lb.xpt", "lb.json", "define.xml"):
        assert (tmp_path / "sdtm" / name).is_file()
    done = runner.invoke(app, ["export", "adam", str(tmp_path / "adam"), "--as", "sim-statistician"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "adam" / "adsl.xpt").is_file() and (tmp_path / "adam" / "adtte.json").is_file()
    done = runner.invoke(app, ["export", "csv", str(tmp_path / "pq"), "--as", "dm", "--format", "parquet"])
    assert done.exit_code == 0 and (tmp_path / "pq" / "adlb.parquet").is_file()
    done = runner.invoke(app, ["export", "odm", str(tmp_path / "study.xml"), "--as", "dm", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["schema_errors"] == []
    done = runner.invoke(app, ["import", "odm", str(tmp_path / "study.xml"), "--as", "importer", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["recorded"] == 0


def test_bad_input_exits_2(cohort: dict[str, Any], app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["export", "sdtm", str(tmp_path), "--as", "nobody"]).exit_code == 2
    assert runner.invoke(app, ["export", "csv", str(tmp_path), "--as", "dm", "--format", "xls"]).exit_code == 2
    assert runner.invoke(app, ["import", "odm", str(tmp_path / "missing.xml"), "--as", "dm"]).exit_code == 2
    (tmp_path / "other.xml").write_text(
        "<ODM xmlns='http://www.cdisc.org/ns/odm/v1.3'><ClinicalData StudyOID='X'/></ODM>"
    )
    assert runner.invoke(app, ["import", "odm", str(tmp_path / "other.xml"), "--as", "importer"]).exit_code == 2


def test_fhir_import_then_confirm(cohort: dict[str, Any], app: typer.Typer, tmp_path: Path, fhir_bundle: Any) -> None:
    from iliad7.store.models import ItemValue, Participant

    person = Participant.objects.filter(site__code="MSKCC", usubjid__isnull=False).order_by("usubjid").first()
    bundle, _ = fhir_bundle(person)
    source = tmp_path / "bundle.json"
    source.write_text(json.dumps(bundle))
    runner = CliRunner()
    args = ["import", "fhir", str(source), "--participant", person.screening_number, "--as", "sim-coordinator-mskcc"]
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    proposal = json.loads(done.stdout)["proposal_file"]
    assert not ItemValue.objects.filter(participant=person, form="LAB", visit="SCREENING").exists()
    confirm = ["import", "fhir-confirm", proposal, "--visit", "SCREENING", "--as", "sim-coordinator-mskcc"]
    done = runner.invoke(app, confirm)
    assert done.exit_code == 0, done.output
    assert ItemValue.objects.filter(participant=person, visit="SCREENING", item="alc").exists()
    # A coordinator of the other site cannot pre-fill this participant (not found, exit 1).
    done = runner.invoke(app, [*args[:-1], "sim-coordinator-mdacc"])
    assert done.exit_code == 1
