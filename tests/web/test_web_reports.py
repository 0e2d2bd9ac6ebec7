"""The DSMB reports page: who may write which report, and who may read it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(make_user: Any, settings: Any, tmp_path: Path, login: Any) -> dict[str, Any]:
    from iliad7.store.simulation import run_simulated_cohort

    settings.ILIAD7_HOME = tmp_path
    run_simulated_cohort(n=6, seed=5, allocation_seed=5005, course_key=5)
    return {
        "blinded": make_user("bstat", ["blinded-statistician"]),
        "unblinded": make_user("ustat", ["unblinded-statistician"]),
        "dsmb": make_user("dsmb", ["dsmb-member"]),
        "coordinator": make_user("coord", ["coordinator"], ["MSKCC"]),
        "sign_in": login,
        "home": tmp_path,
    }


def _write(client: Any, **fields: str) -> Any:
    return client.post("/reports/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value, **fields})


def test_blinded_reader_gets_the_open_report_only(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["blinded"])
    page = client.get("/reports/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/reports/"' in html and 'value="closed"' not in html
    written = _write(client, kind="open")
    assert written.status_code == 302
    report = client.get(written["Location"])
    assert report.status_code == 200
    assert report["Content-Security-Policy"].startswith("default-src 'none'")
    text = b"".join(report.streaming_content).decode()
    assert "Open report" in text and "CYT107" not in text and "placebo" not in text
    assert _write(client, kind="closed").status_code == 403
    assert "None yet" not in client.get("/reports/").content.decode()
    # The folder is named by the account's id, never by what was typed as its name.
    assert [p.name for p in (readers["home"] / "reports").iterdir()] == [f"user-{readers['blinded'].pk}"]


def test_unblinded_statistician_gets_the_closed_report_and_others_cannot_read_it(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["unblinded"])
    written = _write(client, kind="closed")
    assert written.status_code == 302
    text = b"".join(client.get(written["Location"]).streaming_content).decode()
    assert "Closed report" in text and "CYT107" in text
    # Titled for what it is: the unblinded statistician's, not a DSMB session's (issue 17).
    assert "<title>ILIAD-7-US-O Closed report (by arm) for the unblinded statistician ustat</title>" in text
    assert "DSMB session" not in text
    ard = client.get(written["Location"].replace("report.html", "ard.json"))
    assert ard.status_code == 200 and b'"gmr"' in b"".join(ard.streaming_content)
    # Another reader's folder is not reachable, whatever the name.
    assert readers["sign_in"](readers["blinded"]).get(written["Location"]).status_code == 404
    assert client.get(written["Location"].replace("report.html", "../../secret_key")).status_code == 404


def test_dsmb_writes_the_closed_report_only_in_a_scheduled_closed_session(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["dsmb"])
    page = client.get("/reports/").content.decode()
    assert 'value="closed"' not in page and 'name="closed_session"' not in page  # no self-declared session
    refused = _write(client, kind="closed", closed_session="yes")
    assert refused.status_code == 400 and "closed session" in refused.content.decode()
    # The unblinded statistician schedules the session on the same page; it is open at once.
    statistician = readers["sign_in"](readers["unblinded"])
    now = datetime.now(UTC)
    scheduled = _write(
        statistician, step="schedule", members="dsmb", purpose="interim safety review",
        starts_at=(now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        ends_at=(now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    )  # fmt: skip
    assert scheduled.status_code == 302, scheduled.content.decode()[-800:]
    assert 'value="closed"' in client.get("/reports/").content.decode()
    written = _write(client, kind="closed")
    assert written.status_code == 302
    served = client.get(written["Location"])
    assert served.status_code == 200
    assert "Closed report (by arm) for the DSMB in closed session (dsmb)" in b"".join(served.streaming_content).decode()
    # After the window the closed report is no longer served, not even the member's own.
    from iliad7.store.models import ClosedSession

    ClosedSession.objects.update(ends_at=now - timedelta(seconds=1))
    assert client.get(written["Location"]).status_code == 403


def test_only_the_unblinded_statistician_schedules_and_a_bad_window_is_named(readers: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    fields = {"step": "schedule", "members": "dsmb", "purpose": "review",
              "starts_at": now.strftime("%Y-%m-%dT%H:%M"), "ends_at": (now + timedelta(hours=13)).strftime("%Y-%m-%dT%H:%M")}  # fmt: skip
    too_long = _write(readers["sign_in"](readers["unblinded"]), **fields)
    assert (
        too_long.status_code == 400
        and 'id="cs-end-msg" class="field-msg">a closed session lasts' in too_long.content.decode()
    )
    dsmb = readers["sign_in"](readers["dsmb"])
    assert dsmb.post("/api/dsmb/sessions", data="{}", content_type="application/json",
                     HTTP_X_CSRFTOKEN=dsmb.cookies["csrftoken"].value).status_code in (403, 422)  # fmt: skip
    from iliad7.store.models import ClosedSession

    assert not ClosedSession.objects.exists()


def test_site_staff_have_no_reports(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["coordinator"])
    assert client.get("/reports/").status_code == 403
    assert 'href="/reports/"' not in client.get("/").content.decode()


def test_report_form_shows_a_spinner_and_disables_its_button_while_writing(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["blinded"])
    page = client.get("/reports/").content.decode()
    assert 'hx-indicator="#report-spinner"' in page and 'hx-disabled-elt="find button"' in page
    assert 'id="report-spinner" class="htmx-indicator spinner"' in page
    token = client.cookies["csrftoken"].value
    written = client.post("/reports/", {"csrfmiddlewaretoken": token, "kind": "open"}, HTTP_HX_REQUEST="true")
    assert written.status_code == 200 and written["HX-Redirect"].endswith("/report.html")
    assert client.get(written["HX-Redirect"]).status_code == 200
    # A refusal comes back as the form with its message (htmx swaps 2xx answers only).
    refused = client.post("/reports/", {"csrfmiddlewaretoken": token, "kind": "sideways"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200 and "Choose the open or the closed report." in refused.content.decode()
