"""Fixtures of the data-capture tests: staff by role and a randomized participant, built through the actions."""

from __future__ import annotations

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


def totp_token(user: Any) -> str:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def staff(db: None) -> dict[str, Any]:
    """One user per role that captures or reviews data, at MSKCC (trial-wide roles have no site)."""
    from iliad7.store.actions import add_totp_device, add_user, load_protocol_version

    load_protocol_version(PROTOCOL_FILE, channel="system")

    def make(username: str, roles: Sequence[str], sites: Sequence[str] = ()) -> Any:
        return add_user(
            username, password=PASSWORD, roles=roles, sites=sites, full_name=username.title(),
            acting_user=None, channel="system",
        )  # fmt: skip

    users = {
        "coord": make("coord", ["coordinator"], ["MSKCC"]),
        "inv": make("inv", ["investigator"], ["MSKCC"]),
        "monitor": make("monitor", ["monitor"], ["MSKCC"]),
        "monitor_mdacc": make("monitor-mdacc", ["monitor"], ["MDACC"]),
        "coord_mdacc": make("coord-mdacc", ["coordinator"], ["MDACC"]),
        "dm": make("dm", ["data-manager"]),
        "stat": make("stat", ["unblinded-statistician"]),
        "sponsor": make("sponsor", ["sponsor-viewer"]),
    }
    add_totp_device(users["inv"], acting_user=None, channel="system")
    return users


@pytest.fixture
def participant(staff: dict[str, Any]) -> Any:
    """An MSKCC participant screened eligible, consented and randomized (T0 = now)."""
    from iliad7.store.actions import (
        create_participant,
        generate_allocation_list,
        randomize_participant,
        record_consent,
        save_screening,
    )

    generate_allocation_list(seed=20261125, acting_user=staff["stat"], channel="cli", slots_per_stratum=4)
    person = create_participant(site="MSKCC", acting_user=staff["coord"], channel="web")
    save_screening(person, ELIGIBLE, acting_user=staff["coord"], channel="web")
    record_consent(
        person, consent_type="written", given_by="participant", obtained_at=datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
        form_version="v1.0", obtained_by="Dr Consenter", acting_user=staff["coord"], channel="web",
    )  # fmt: skip
    randomize_participant(person, acting_user=staff["inv"], confirmation=True, channel="web")
    person.refresh_from_db()
    return person


@pytest.fixture
def save(staff: dict[str, Any], participant: Any) -> Callable[..., Any]:
    """save(form, values, visit="", instance=1, user="coord", reason=""): `save_form` as site staff."""
    from iliad7.store.actions.capture import save_form

    def run(
        form: str, values: dict[str, Any], visit: str = "", instance: int = 1, user: str = "coord", reason: str = ""
    ) -> Any:
        return save_form(
            participant, form, values, visit=visit, instance=instance, acting_user=staff[user], channel="web",
            reason=reason,
        )  # fmt: skip

    return run


@pytest.fixture
def otp() -> Callable[[Any], str]:
    """otp(user): the current TOTP code of the user's enrolled device."""
    return totp_token
