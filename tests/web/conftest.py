"""Fixtures of the web tests: the protocol's sites, one user per role at each site, signed-in clients.

Users are made through the same `add_user` / `add_totp_device` actions the app
uses; clients sign in through the real login page (with its CSRF token) and,
for roles that need it, the TOTP step.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

PASSWORD = "correct-horse-battery-staple"
REPO = Path(__file__).resolve().parents[2]
PROTOCOL_FILE = REPO / "protocols" / "iliad-7-us-o.yaml"

SITE_ROLES = ("investigator", "coordinator", "unblinded-pharmacist", "monitor")
TRIAL_ROLES = (
    "data-manager",
    "infection-adjudicator",
    "dsmb-member",
    "blinded-statistician",
    "unblinded-statistician",
    "sponsor-viewer",
    "administrator",
)
BLINDED_ROLES = (
    "investigator",
    "coordinator",
    "monitor",
    "data-manager",
    "infection-adjudicator",
    "dsmb-member",
    "blinded-statistician",
    "sponsor-viewer",
    "administrator",
)


def spec_example_record() -> dict[str, Any]:
    """The screening record printed in clinical-rules section 3 (eligible), as copied into the test vectors."""
    return json.loads((REPO / "tests" / "vectors" / "screening_record_contract.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def sites(db: None) -> dict[str, Any]:
    from iliad7.store.actions import load_protocol_version
    from iliad7.store.models import Site

    load_protocol_version(PROTOCOL_FILE, channel="system")
    return {s.code: s for s in Site.objects.all()}


@pytest.fixture
def make_user(sites: dict[str, Any]) -> Callable[..., Any]:
    """make_user("ann", ["coordinator"], ["MSKCC"]); a TOTP device is enrolled for roles that need one."""
    from iliad7.accounts.roles import needs_totp
    from iliad7.store.actions import add_totp_device, add_user

    def make(username: str, roles: Sequence[str], site_codes: Sequence[str] = ()) -> Any:
        user = add_user(
            username,
            password=PASSWORD,
            roles=roles,
            sites=site_codes,
            full_name=username.title(),
            acting_user=None,
            channel="system",
        )
        if needs_totp(roles):
            add_totp_device(user, acting_user=None, channel="system")
        return user

    return make


def totp_now(user: Any) -> str:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user).first()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def sign_in(user: Any) -> Client:
    """A client signed in as `user` through the login page (CSRF enforced) and, if needed, TOTP."""
    from iliad7.store.access import second_factor_required

    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/",
        {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302, response.content[:500]
    if second_factor_required(user):
        form = client.get(response["Location"])
        assert form.status_code == 200
        verified = client.post(
            "/accounts/second-factor/",
            {"otp_token": totp_now(user), "csrfmiddlewaretoken": client.cookies["csrftoken"].value, "next": "/"},
        )
        assert verified.status_code == 302, verified.content[:500]
    return client


def csrf(client: Client) -> str:
    return client.cookies["csrftoken"].value


def post_json(client: Client, path: str, body: Any) -> Any:
    return client.post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf(client),
    )


@pytest.fixture
def staff(make_user: Callable[..., Any]) -> dict[str, Any]:
    """One user per role: site roles at each site (`coordinator@MSKCC`), trial-wide roles once."""
    users: dict[str, Any] = {}
    for role in SITE_ROLES:
        for site in ("MSKCC", "MDACC"):
            users[f"{role}@{site}"] = make_user(f"{role.replace('-', '')}_{site.lower()}", [role], [site])
    for role in TRIAL_ROLES:
        users[role] = make_user(role.replace("-", ""), [role])
    return users


# Test modules are imported in importlib mode (no sys.path entry for this folder),
# so the helpers above reach them as fixtures.
@pytest.fixture
def login() -> Callable[[Any], Client]:
    return sign_in


@pytest.fixture
def totp() -> Callable[[Any], str]:
    return totp_now


@pytest.fixture
def example_record() -> dict[str, Any]:
    return spec_example_record()


@pytest.fixture
def api_post() -> Callable[[Client, str, Any], Any]:
    return post_json


def _load_capture_values() -> Any:
    spec = importlib.util.spec_from_file_location(
        "iliad7_web_capture_values", Path(__file__).with_name("capture_values.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CAPTURE_VALUES = _load_capture_values()


@pytest.fixture
def capture_values() -> Any:
    """The module `capture_values.py`: valid values of every form, and one wrong value per form."""
    return CAPTURE_VALUES


@pytest.fixture
def trial(staff: dict[str, Any], example_record: dict[str, Any]) -> dict[str, Any]:
    """Participants at both sites in every state the pages show, built through the store's actions.

    Per site: one screened without a record, one with a saved record, one
    consented, and one randomized; at MSKCC the randomized participant also
    has a prepared and given dose 1 and was unblinded in an emergency (so the
    walk covers every page with an arm nearby). Returns {name: participant}.
    """
    from datetime import UTC, date, datetime, timedelta
    from decimal import Decimal

    from iliad7.store import actions

    actions.generate_allocation_list(
        seed=20261125, acting_user=staff["unblinded-statistician"], channel="system", slots_per_stratum=8
    )
    made: dict[str, Any] = {}
    for site in ("MSKCC", "MDACC"):
        coordinator = staff[f"coordinator@{site}"]
        investigator = staff[f"investigator@{site}"]

        def new(record: dict[str, Any] | None, consent: bool, coordinator: Any = coordinator, site: str = site) -> Any:
            participant = actions.create_participant(site=site, acting_user=coordinator, channel="web")
            if record is not None:
                actions.save_screening(participant, record, acting_user=coordinator, channel="web")
            if consent:
                actions.record_consent(
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

        made[f"new@{site}"] = new(None, False)
        made[f"screened@{site}"] = new(example_record, False)
        made[f"consented@{site}"] = new(example_record, True)
        randomized = new(example_record, True)
        # Randomized two hours ago, so that the doses the tests record (an hour ago and since) come after it.
        actions.randomize_participant(
            randomized, acting_user=investigator, confirmation=True, channel="web",
            randomized_at=datetime.now(UTC) - timedelta(hours=2),
        )  # fmt: skip
        randomized.refresh_from_db()
        made[f"randomized@{site}"] = randomized

    participant = made["randomized@MSKCC"]
    pharmacist = staff["unblinded-pharmacist@MSKCC"]
    actions.record_drug_receipt(
        site_code="MSKCC",
        lot="LOT-1",
        expiry=date.today() + timedelta(days=365),
        vials=20,
        acting_user=pharmacist,
        channel="system",
    )
    prepared = actions.prepare_dose(
        participant,
        1,
        weight_kg=Decimal("70"),
        concentration_ug_per_ml=Decimal("200"),
        lot="LOT-1",
        acting_user=pharmacist,
        channel="system",
    )
    actions.record_dose_given(
        participant,
        1,
        given_at=datetime.now(UTC) - timedelta(minutes=5),
        injection_site="left_deltoid",
        volume_ml=prepared.volume_ml,
        local_reaction="none",
        acting_user=staff["coordinator@MSKCC"],
        channel="system",
    )
    investigator = staff["investigator@MSKCC"]
    actions.add_totp_device(investigator, acting_user=None, channel="system")
    actions.unblind_participant(
        participant, acting_user=investigator, reason="anaphylaxis", otp_token=totp_now(investigator), channel="system"
    )
    # Captured data with a query and a serious adverse event, so that the capture pages have content.
    visit, lab = CAPTURE_VALUES.valid_values("LAB")
    lab["collected_at"] += "+00:00"
    coordinator = staff["coordinator@MSKCC"]
    actions.save_form(participant, "LAB", lab, visit=visit, acting_user=coordinator, channel="web")
    actions.raise_query(
        participant, form="LAB", item="alc", visit=visit, text="Source says 560?", acting_user=staff["monitor@MSKCC"],
        channel="web",
    )  # fmt: skip
    _, ae = CAPTURE_VALUES.valid_values("ADVERSE-EVENT")
    ae.update(serious="true", sae_hospitalization="true", awareness_at=datetime.now(UTC).isoformat())
    actions.save_form(participant, "ADVERSE-EVENT", ae, acting_user=coordinator, channel="web")
    participant.refresh_from_db()
    return made
