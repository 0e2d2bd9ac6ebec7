"""The DSMB reports page: who may write which report, and who may read it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(make_user: Any, settings: Any, tmp_path: Path, login: Any) -> dict[str, Any]:
    from iliad7.store.simulation import run_simulated_cohort

    settings.ILIAD7_HOME = tmp_path
    run_simulated_cohort(n=6, seed=5)
    return {
        "blinded": make_user("bstat", ["blinded-statistician"]),
        "unblinded": make_user("ustat", ["unblinded-statistician"]),
        "dsmb": make_user("dsmb", ["dsmb-member"]),
        "coordinator": make_user("coord", ["coordinator"], ["MSKCC"]),
        "sign_in": login,
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


def test_unblinded_statistician_gets_the_closed_report_and_others_cannot_read_it(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["unblinded"])
    written = _write(client, kind="closed")
    assert written.status_code == 302
    text = b"".join(client.get(written["Location"]).streaming_content).decode()
    assert "Closed report" in text and "CYT107" in text
    ard = client.get(written["Location"].replace("report.html", "ard.json"))
    assert ard.status_code == 200 and b'"gmr"' in b"".join(ard.streaming_content)
    # Another reader's folder is not reachable, whatever the name.
    assert readers["sign_in"](readers["blinded"]).get(written["Location"]).status_code == 404
    assert client.get(written["Location"].replace("report.html", "../../secret_key")).status_code == 404


def test_dsmb_writes_the_closed_report_only_in_closed_session(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["dsmb"])
    assert 'name="closed_session"' in client.get("/reports/").content.decode()
    refused = _write(client, kind="closed")
    assert refused.status_code == 400 and "closed session" in refused.content.decode()
    assert _write(client, kind="closed", closed_session="yes").status_code == 302


def test_site_staff_have_no_reports(readers: dict[str, Any]) -> None:
    client = readers["sign_in"](readers["coordinator"])
    assert client.get("/reports/").status_code == 403
    assert 'href="/reports/"' not in client.get("/").content.decode()
