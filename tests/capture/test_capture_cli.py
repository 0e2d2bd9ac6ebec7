"""The data-capture commands: a rejected form exits 2 naming each field; queries and the signature through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.django_db

LAB = {"collected_at": "2026-11-20T06:00:00-05:00", "alc": "650", "alc.unit": "cells/uL", "alc_lln": "1000"}


@pytest.fixture
def app() -> Any:
    import typer

    from iliad7.cli import capture

    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    capture.register(app)
    return app


def run(app: Any, *args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def write(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "form.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return str(path)


def test_form_save_prints_the_derived_grade(app: Any, participant: Any, tmp_path: Path) -> None:
    number = participant.screening_number
    done = run(
        app,
        "form",
        "save",
        number,
        "LAB",
        "--visit",
        "BASELINE",
        "--input",
        write(tmp_path, LAB),
        "--as",
        "coord",
        "--json",
    )
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["derived"]["ctcae_lymphocyte_count_decreased"] == "2"
    shown = run(app, "form", "show", number, "LAB", "--visit", "BASELINE", "--as", "monitor", "--json")
    assert json.loads(shown.stdout)["values"]["alc"] == {"value": "650", "unit": "cells/uL", "version": 1}


def test_a_rejected_form_exits_2_with_one_line_per_field_and_stores_nothing(
    app: Any, participant: Any, tmp_path: Path
) -> None:
    from iliad7.store.models import ItemValue

    bad = {**LAB, "alc": "many", "alc_lln": "-1"}
    done = run(app, "form", "save", participant.screening_number, "LAB", "--visit", "BASELINE",
               "--input", write(tmp_path, bad), "--as", "coord")  # fmt: skip
    assert done.exit_code == 2
    assert "error: alc: 'many' is not a number" in done.stderr
    assert "error: alc_lln:" in done.stderr
    assert ItemValue.objects.count() == 0


def test_query_raise_answer_close_and_the_signature_refused_meanwhile(
    app: Any, participant: Any, tmp_path: Path, staff: dict[str, Any]
) -> None:
    number = participant.screening_number
    run(app, "form", "save", number, "LAB", "--visit", "BASELINE", "--input", write(tmp_path, LAB), "--as", "coord")
    raised = run(app, "query", "raise", number, "--form", "LAB", "--item", "alc", "--visit", "BASELINE",
                 "--text", "Source says 560", "--as", "monitor")  # fmt: skip
    assert raised.exit_code == 0, raised.output
    query_id = raised.stdout.split()[1]
    assert json.loads(run(app, "query", "list", "--as", "coord", "--json").stdout)[0]["status"] == "open"
    assert (
        run(app, "query", "answer", query_id, "--text", "Corrected", "--as", "coord")
        .stdout.strip()
        .endswith("answered")
    )
    refused = run(app, "casebook", "sign", number, "--as", "inv", "--otp", "000000", "--password-stdin", stdin="x\n")
    assert refused.exit_code == 1 and "not closed" in refused.stderr
    assert run(app, "query", "close", query_id, "--as", "monitor").stdout.strip().endswith("closed")
    assert run(app, "query", "answer", query_id, "--text", "again", "--as", "monitor").exit_code == 1
