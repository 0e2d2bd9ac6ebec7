"""`iliad7 protocol check` and `iliad7 protocol show`: exit codes, standard streams, content."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from iliad7.cli.protocol import register

REAL = Path(__file__).resolve().parents[2] / "protocols" / "iliad-7-us-o.yaml"

Broken = Callable[[str, str], Any]


@pytest.fixture
def app() -> typer.Typer:
    # A bare app with only this group: the test does not depend on the other sub-commands.
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test harness."""

    register(app)
    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_ok_prints_id_version_and_sha256(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "check", str(REAL)])
    assert result.exit_code == 0
    digest = hashlib.sha256(REAL.read_bytes()).hexdigest()
    assert result.stdout == f"ok ILIAD-7-US-O version 1.0.0 sha256 {digest} ({REAL})\n"
    assert result.stderr == ""


def test_check_broken_file_exits_2_naming_file_path_and_line(
    app: typer.Typer, runner: CliRunner, broken: Broken
) -> None:
    case = broken("  planned: 48 #", "  planed: 48 #")
    result = runner.invoke(app, ["protocol", "check", str(case.path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{case.path}: enrollment.planed (line {case.line}): unknown key 'planed' (did you mean 'planned'?)"
    )
    assert lines[1].startswith(f"{case.path}: enrollment.planned (line ")
    assert "Traceback" not in result.output


def test_check_yaml_syntax_error_exits_2(app: typer.Typer, runner: CliRunner, broken: Broken) -> None:
    case = broken("  nct_id: NCT04426201", "  nct_id: [NCT04426201")
    result = runner.invoke(app, ["protocol", "check", str(case.path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{case.path}: $ (line ")
    assert "invalid YAML" in result.stderr


def test_check_missing_file_exits_2(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["protocol", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{tmp_path / 'nope.yaml'}: $: cannot read the file")


def test_check_requires_a_file(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "check"])
    assert result.exit_code == 2


def test_show_lists_sites_arms_criteria_and_outcomes(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["protocol", "show", str(REAL)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "NCT04426201",
        "MSKCC",
        "Memorial Sloan Kettering Cancer Center",
        "MDACC",
        "Houston, TX 77030",
        "CYT107",
        "placebo",
        "0, 3, 7, 10, 14, 17, 21",
        "48 planned, 10 actual",
        "INC-CONSENT",
        "EXC-NEWS2-RISE",
        "EXC-GUARDIANSHIP",
        "AE-GRADE-3-4",
        "ANCOVA of log ALC",
        "(interpretation)",
    ):
        assert text in out, text
    assert out.index("INC-CONSENT") < out.index("EXC-PREGNANCY") < out.index("EXC-GUARDIANSHIP")


def test_show_without_file_uses_the_environment(app: typer.Typer, runner: CliRunner, broken: Broken) -> None:
    case = broken("  - code: MDACC", "  - code: MSKCC")
    result = runner.invoke(app, ["protocol", "show"], env={"ILIAD7_PROTOCOL": str(case.path)})
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{case.path}: sites[1].code (line {case.line}): duplicate")
    assert result.stdout == ""


def test_iliad7_command_has_the_protocol_group(runner: CliRunner) -> None:
    from iliad7.cli import app as iliad7_app

    result = runner.invoke(iliad7_app, ["protocol", "check", str(REAL)])
    assert result.exit_code == 0
    assert result.stdout.startswith("ok ILIAD-7-US-O ")
