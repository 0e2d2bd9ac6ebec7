"""`iliad7 data-cut set|show`: the data manager sets or lifts a participant's data cut from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.django_db


@pytest.fixture
def cli_app() -> Any:
    from iliad7.cli import app

    return app


def _run(app: Any, *args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_the_data_manager_sets_and_lifts_a_cut_each_change_kept_and_audited(
    cli_app: Any, allocation: Any, staff: dict[str, Any], enrol: Any
) -> None:
    from iliad7.audit.chain import format_time
    from iliad7.store.actions.data_cut import data_cuts
    from iliad7.store.models import AuditRecord, DataCut

    sn = enrol().screening_number
    done = _run(cli_app, "data-cut", "set", sn, "--at", "2026-11-30T12:00:00+00:00", "--reason", "entered to here",
                "--as", "dm")  # fmt: skip
    assert done.exit_code == 0, done.output
    participant = DataCut.objects.get().participant
    assert data_cuts([participant])[participant.pk].isoformat() == "2026-11-30T12:00:00+00:00"
    lifted = _run(cli_app, "data-cut", "set", sn, "--lift", "--reason", "entry resumed", "--as", "dm")
    assert lifted.exit_code == 0 and "lifted" in lifted.stdout
    assert data_cuts([participant]) == {}
    history = json.loads(_run(cli_app, "data-cut", "show", sn, "--as", "coord", "--json").stdout)
    assert [(h["cut_at"], h["set_by"], h["reason"]) for h in history] == [
        (format_time(datetime(2026, 11, 30, 12, tzinfo=UTC)), "dm", "entered to here"),
        (None, "dm", "entry resumed"),
    ]
    assert DataCut.objects.count() == 2  # lifting is a new row: nothing is deleted
    assert AuditRecord.objects.filter(action="data_cut.set", object_id=sn).count() == 2


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--at", "2026-11-30T12:00:00"), "--at"),  # no UTC offset
        (("--at", "yesterday"), "--at"),
        (("--at", "2999-01-01T00:00:00+00:00"), "--at"),  # in the future
        (("--at", "2026-11-30T12:00:00+00:00", "--lift"), "--at"),  # both
        ((), "--at"),  # neither
    ],
)
def test_bad_input_exits_2_naming_the_option_and_writes_nothing(
    cli_app: Any, allocation: Any, staff: dict[str, Any], enrol: Any, args: tuple[str, ...], field: str
) -> None:
    from iliad7.store.models import DataCut

    sn = enrol().screening_number
    done = _run(cli_app, "data-cut", "set", sn, *args, "--reason", "r", "--as", "dm")
    assert done.exit_code == 2 and f"error: {field}" in done.stderr, done.output
    assert not DataCut.objects.exists()


def test_only_the_data_manager_sets_a_cut(cli_app: Any, allocation: Any, staff: dict[str, Any], enrol: Any) -> None:
    from iliad7.store.models import DataCut

    sn = enrol().screening_number
    for user in ("coord", "monitor", "inv"):
        done = _run(cli_app, "data-cut", "set", sn, "--lift", "--reason", "r", "--as", user)
        assert done.exit_code == 1, (user, done.output)
    blank = _run(cli_app, "data-cut", "set", sn, "--lift", "--reason", " ", "--as", "dm")
    assert blank.exit_code == 2 and "--reason" in blank.stderr
    assert not DataCut.objects.exists()
