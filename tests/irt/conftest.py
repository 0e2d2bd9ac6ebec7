"""Fixtures of the IRT tests: the protocol's sites, staff by role, an allocation list, ready participants.

Participants are built through the same actions the app uses: create,
save the screening record, record consent.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "correct-horse-battery-staple"
REPO = Path(__file__).resolve().parents[2]
PROTOCOL_FILE = REPO / "protocols" / "iliad-7-us-o.yaml"
_VECTORS = json.loads((REPO / "tests" / "vectors" / "contract_examples.json").read_text())
ELIGIBLE: dict[str, Any] = next(
    e["input"] for e in _VECTORS if e["kind"] == "screen" and e["expected"]["verdict"] == "eligible"
)
SEED = 20261125
ARMS = ("CYT107", "placebo")


def eligible_record(**changes: Any) -> dict[str, Any]:
    """The spec's eligible example, with top-level fields changed (None removes one)."""
    record = copy.deepcopy(ELIGIBLE)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def totp_token(user: Any) -> str:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def sites(db: None) -> dict[str, Any]:
    from iliad7.store.actions import load_protocol_version
    from iliad7.store.models import Site

    load_protocol_version(PROTOCOL_FILE, channel="system")
    return {s.code: s for s in Site.objects.all()}


@pytest.fixture
def make_user(sites: dict[str, Any]) -> Callable[..., Any]:
    from iliad7.store.actions import add_user

    def make(username: str, roles: Sequence[str], site_codes: Sequence[str] = ()) -> Any:
        return add_user(
            username,
            password=PASSWORD,
            roles=roles,
            sites=site_codes,
            full_name=username.title(),
            acting_user=None,
            channel="system",
        )

    return make


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> dict[str, Any]:
    """One user per role at MSKCC (trial-wide roles have no site), plus MDACC site staff."""
    from iliad7.store.actions import add_totp_device

    users = {
        "coord": make_user("coord", ["coordinator"], ["MSKCC"]),
        "inv": make_user("inv", ["investigator"], ["MSKCC"]),
        "inv_mdacc": make_user("inv-mdacc", ["investigator"], ["MDACC"]),
        "coord_mdacc": make_user("coord-mdacc", ["coordinator"], ["MDACC"]),
        "rx": make_user("rx", ["unblinded-pharmacist"], ["MSKCC"]),
        "rx_mdacc": make_user("rx-mdacc", ["unblinded-pharmacist"], ["MDACC"]),
        "monitor": make_user("monitor", ["monitor"], ["MSKCC"]),
        "stat": make_user("stat", ["unblinded-statistician"]),
        "bstat": make_user("bstat", ["blinded-statistician"]),
        "dsmb": make_user("dsmb", ["dsmb-member"]),
        "sponsor": make_user("sponsor", ["sponsor-viewer"]),
        "dm": make_user("dm", ["data-manager"]),
        "adjudicator": make_user("adjudicator", ["infection-adjudicator"]),
        "admin": make_user("admin", ["administrator"]),
    }
    add_totp_device(users["inv"], acting_user=None, channel="system")
    return users


@pytest.fixture
def allocation(staff: dict[str, Any]) -> Any:
    """The active allocation list: seed SEED, at least 12 slots per stratum."""
    from iliad7.store.actions import generate_allocation_list

    return generate_allocation_list(seed=SEED, acting_user=staff["stat"], channel="cli", slots_per_stratum=12)


@pytest.fixture
def enrol(staff: dict[str, Any]) -> Callable[..., Any]:
    """enrol(site="MSKCC", record=..., consent=True): a participant screened (and consented) through the actions."""
    from iliad7.store.actions import create_participant, record_consent, save_screening

    def make(site: str = "MSKCC", record: dict[str, Any] | None = None, consent: bool = True) -> Any:
        coordinator = staff["coord"] if site == "MSKCC" else staff["coord_mdacc"]
        participant = create_participant(site=site, acting_user=coordinator, channel="web")
        save_screening(
            participant, eligible_record() if record is None else record, acting_user=coordinator, channel="web"
        )
        if consent:
            record_consent(
                participant,
                consent_type="written",
                given_by="participant",
                obtained_at=datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
                form_version="v1.0",
                obtained_by="Dr Consenter",
                acting_user=coordinator,
                channel="web",
            )
        participant.refresh_from_db()
        return participant

    return make


@pytest.fixture
def cli_app() -> Any:
    """The `iliad7` command with the IRT commands registered (as the lead's cli/__init__.py will)."""
    import typer

    from iliad7.cli import irt, store

    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    store.register(app)
    irt.register(app)
    return app


@pytest.fixture
def drop_triggers() -> Callable[[], None]:
    """drop_triggers(): remove every append-only trigger and transition guard, as an attacker with owner rights would.

    The test database's triggers come back with the next test (each test runs in a rolled-back transaction;
    on PostgreSQL DDL is transactional, on SQLite the flush wrapper and the next migrate recreate them).
    """
    from django.db import connection

    from iliad7.store.triggers import all_create_statements, all_drop_statements

    dropped: list[bool] = []

    def drop() -> None:
        with connection.cursor() as cursor:
            for sql in all_drop_statements(connection.vendor):
                cursor.execute(sql)
        dropped.append(True)

    yield drop  # type: ignore[misc]
    if dropped:
        with connection.cursor() as cursor:
            for sql in all_create_statements(connection.vendor):
                cursor.execute(sql)
