"""Every role signs in through the login page and gets each page as the store's access rules say."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_login_with_csrf_lands_on_the_home_page(staff, login) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {
            "username": staff["coordinator@MSKCC"].username,
            "password": "correct-horse-battery-staple",
            "csrfmiddlewaretoken": page.cookies["csrftoken"].value,
        },
    )
    # With no page asked for, a coordinator starts at the record-status dashboard (issue 17).
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200
    home = client.get("/")
    assert home.status_code == 200
    assert b"Study coordinator" in home.content and b"New participant" not in home.content


def test_pages_need_a_signed_in_user(trial) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    sn = trial["randomized@MSKCC"].screening_number
    for url in ("/", "/participants/", f"/participants/{sn}/", "/audit/", "/screening-log/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    assert client.get("/api/participants").status_code == 401


def test_a_role_that_needs_totp_reaches_no_page_before_it(staff) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    client.post(
        "/accounts/login/",
        {
            "username": staff["unblinded-pharmacist@MSKCC"].username,
            "password": "correct-horse-battery-staple",
            "csrfmiddlewaretoken": page.cookies["csrftoken"].value,
        },
    )
    blocked = client.get("/participants/")
    assert blocked.status_code == 302 and blocked["Location"].startswith("/accounts/second-factor/")


def _expected(user, capability, participant) -> int:  # type: ignore[no-untyped-def]
    from iliad7.store.access import can, visible_participants

    if not visible_participants(user).filter(pk=participant.pk).exists():
        return 404
    return 200 if can(user, capability, participant.site) else 403


def test_every_role_gets_every_page_as_the_access_rules_say(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.accounts.roles import Capability as C
    from iliad7.store.access import can

    from_site = {"MSKCC": trial["randomized@MSKCC"], "MDACC": trial["randomized@MDACC"]}
    seen = set()
    for name, user in staff.items():
        client = login(user)
        participant = from_site[name.split("@")[1]] if "@" in name else from_site["MSKCC"]
        sn = participant.screening_number
        per_participant = {
            f"/participants/{sn}/": C.VIEW_PARTICIPANTS,
            f"/participants/{sn}/calendar/": C.VIEW_PARTICIPANTS,
            f"/participants/{sn}/doses/": C.VIEW_PARTICIPANTS,
            f"/participants/{sn}/data/": C.VIEW_PARTICIPANTS,
            f"/participants/{sn}/screening/": C.SCREEN_PARTICIPANT,
            f"/participants/{sn}/consent/": C.RECORD_CONSENT,
            f"/participants/{sn}/randomize/": C.RANDOMIZE,
            f"/participants/{sn}/unblind/": C.UNBLIND,
            f"/participants/{sn}/pharmacy/": C.PREPARE_DOSE,
        }
        for url, capability in per_participant.items():
            expected = _expected(user, capability, participant)
            assert client.get(url).status_code == expected, (name, url)
            seen.add((url.split("/")[-2] or "detail", expected))
        assert client.get("/").status_code == 200, name
        assert client.get("/participants/").status_code == 200, name
        assert client.get("/screening-log/").status_code == 200, name
        events = 200 if can(user, C.VIEW_UNBLINDING_EVENTS) else 403
        assert client.get("/unblinding-events/").status_code == events, name
        audit = 200 if name.split("@")[0] in ("monitor", "data-manager") else 403
        assert client.get("/audit/").status_code == audit, name
    # The walk met each kind of answer: someone may and someone may not.
    for page in ("screening", "consent", "randomize", "unblind", "pharmacy"):
        assert (page, 200) in seen and (page, 403) in seen, page


def test_home_page_says_what_each_role_can_do(staff, login) -> None:  # type: ignore[no-untyped-def]
    texts = {
        "investigator@MSKCC": b"Randomize an eligible",
        "unblinded-pharmacist@MSKCC": b"Pharmacy worksheet",
        "monitor@MSKCC": b"Read the audit trail",
        "sponsor-viewer": b"Emergency unblinding events",
        "administrator": b"Manage accounts",
    }
    for name, text in texts.items():
        assert text in login(staff[name]).get("/").content, name


def test_participant_page_shows_status_screening_consent_calendar_and_doses(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    participant = trial["randomized@MSKCC"]
    page = login(staff["coordinator@MSKCC"]).get(f"/participants/{participant.screening_number}/").content.decode()
    assert participant.usubjid in page and "on_treatment" in page
    assert "verdict-eligible" in page and "INC-ALC" in page
    assert "Dr Consenter" in page and "v1.0" in page
    assert "Next visit" in page and "1 done" in page
    doses = login(staff["coordinator@MSKCC"]).get(f"/participants/{participant.screening_number}/doses/")
    assert "Left deltoid" in doses.content.decode()  # the STUDY-DRUG label of left_deltoid
    assert "Record a dose given" in doses.content.decode()
    # A participant not yet randomized has no calendar nor doses.
    other = login(staff["coordinator@MSKCC"]).get(f"/participants/{trial['new@MSKCC'].screening_number}/")
    assert "Calendar and forms" not in other.content.decode() and ">Doses<" not in other.content.decode()
    assert "No screening record saved yet" in other.content.decode()
    assert "Next visit" not in other.content.decode()


def test_screening_log_counts_by_failed_criterion(staff, trial, login, example_record) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import save_screening

    save_screening(
        trial["new@MSKCC"],
        {**example_record, "clinical_frailty_scale": 8},
        acting_user=staff["coordinator@MSKCC"],
        channel="web",
    )
    client = login(staff["data-manager"])
    page = client.get("/screening-log/").content.decode()
    assert '<h2 id="log-MSKCC">MSKCC</h2>' in page and '<h2 id="log-MDACC">MDACC</h2>' in page
    assert '<th scope="row">EXC-FRAILTY</th><td>1</td>' in page
    only = client.get("/screening-log/?site=MDACC").content.decode()
    assert "log-MSKCC" not in only and "log-MDACC" in only
    assert client.get("/api/screening-log").json()["MSKCC"]["ineligible_by_criterion"] == {"EXC-FRAILTY": 1}
