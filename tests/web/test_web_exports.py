"""Exports from the web app and the API (issue 17): a zip built in the background, audited, blinded for the blinded."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def inline(settings: Any, tmp_path: Path) -> Path:
    settings.ILIAD7_HOME = tmp_path
    settings.ILIAD7_EXPORT_INLINE = True  # the thread's work, run in the request: the test's transaction sees it
    return tmp_path


def _post(client: Any, url: str, data: dict[str, str]) -> Any:
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def _zip(response: Any) -> zipfile.ZipFile:
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def _arms(archive: zipfile.ZipFile) -> set[str]:
    import polars as pl

    adsl = pl.read_csv(archive.read("iliad7-csv/adsl.csv"), infer_schema_length=0)
    return {v for v in adsl["TRT01P"].to_list() if v}


def test_blinded_statistician_downloads_a_blinded_zip_and_the_unblinded_one_gets_the_arms(
    staff: Any, trial: Any, login: Any, inline: Path
) -> None:
    from iliad7.store.models import AuditRecord

    client = login(staff["blinded-statistician"])
    assert 'value="csv"' in client.get("/exports/").content.decode()
    started = _post(client, "/exports/", {"kind": "csv"})
    assert started.status_code == 302
    page = client.get(started["Location"]).content.decode()
    assert "Step 3 of 3: ready to download" in page and '<progress max="3" value="3">' in page
    link = re.search(r'href="([^"]+/download)" id="export-download"', page)
    assert link is not None
    blinded = _zip(client.get(link.group(1)))
    assert "iliad7-csv/adsl.csv" in blinded.namelist() and _arms(blinded) == set()
    record = AuditRecord.objects.filter(action="read.export", actor=staff["blinded-statistician"].username).get()
    assert record.channel == "web" and '"blinded":true' in record.new_value.replace(" ", "")
    # Another user cannot reach the job, whatever its name; the unblinded statistician gets the arms.
    unblinded = login(staff["unblinded-statistician"])
    assert unblinded.get(started["Location"]).status_code == 404
    assert unblinded.get(link.group(1)).status_code == 404
    own = _post(unblinded, "/exports/", {"kind": "csv"})
    archive = _zip(unblinded.get(own["Location"] + "download"))
    assert _arms(archive) <= {"CYT107", "placebo"} and _arms(archive)


def test_site_staff_do_not_export_and_a_bad_kind_is_named(staff: Any, trial: Any, login: Any, inline: Path) -> None:
    coordinator = login(staff["coordinator@MSKCC"])
    assert coordinator.get("/exports/").status_code == 403
    assert _post(coordinator, "/exports/", {"kind": "csv"}).status_code == 403
    manager = login(staff["data-manager"])
    bad = _post(manager, "/exports/", {"kind": "everything"})
    assert bad.status_code == 400 and "kind: one of sdtm, adam, csv, odm" in bad.content.decode()
    assert not (inline / "exports" / f"user-{staff['data-manager'].pk}").exists() or not any(
        (inline / "exports" / f"user-{staff['data-manager'].pk}").iterdir()
    )


def test_the_api_starts_an_export_reports_progress_and_serves_the_zip(
    staff: Any, trial: Any, login: Any, inline: Path, api_post: Any
) -> None:
    client = login(staff["data-manager"])
    started = api_post(client, "/api/exports", {"kind": "odm"})
    assert started.status_code == 202, started.content
    job = started.json()
    assert job["kind"] == "odm" and job["state"] == "done" and job["zip"] == "iliad7-odm.zip"
    status = client.get(f"/api/exports/{job['job']}").json()
    assert status["step"] == status["steps"] == 3
    archive = _zip(client.get(f"/api/exports/{job['job']}/download"))
    assert archive.namelist() == ["iliad7-odm/odm.xml"] and b"<ODM" in archive.read("iliad7-odm/odm.xml")
    assert api_post(client, "/api/exports", {"kind": "zip"}).status_code == 422
    assert client.get("/api/exports/..%2F..%2Fsecret_key").status_code == 404
    assert api_post(login(staff["monitor@MSKCC"]), "/api/exports", {"kind": "csv"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_export_runs_in_the_background_and_the_page_polls_it(
    staff: Any, trial: Any, login: Any, settings: Any, tmp_path: Path
) -> None:
    import threading

    settings.ILIAD7_HOME = tmp_path
    client = login(staff["data-manager"])
    started = _post(client, "/exports/", {"kind": "csv"})
    assert started.status_code == 302
    for thread in threading.enumerate():  # the export's own thread, named after its job
        if thread.name.startswith("export-"):
            thread.join(timeout=300)
    poll = client.get(started["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert poll.startswith('<div id="export-status"') and "ready to download" in poll
    assert 'hx-trigger="every 1s"' not in poll  # done: the polling stops
    assert "iliad7-csv/adsl.csv" in _zip(client.get(started["Location"] + "download")).namelist()
