"""Queries through the pages and the API, the open-queries list, the casebook signature and the SAE clocks."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def _post(client: Any, url: str, data: dict[str, str]) -> Any:
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def _query_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<h4 id="q-(\d+)-h">', page)]


@pytest.fixture
def lab(staff: Any, trial: Any, login: Any, capture_values: Any) -> Any:
    """A LAB form saved at BASELINE for the randomized MDACC participant; returns the participant."""
    participant = trial["randomized@MDACC"]
    visit, values = capture_values.valid_values("LAB", "MDACC")
    client = login(staff["coordinator@MDACC"])
    url = f"/participants/{participant.screening_number}/forms/LAB/?visit={visit}"
    assert _post(client, url, {**values, "visit": visit}).status_code == 302
    return participant


def test_query_lifecycle_through_the_pages(staff: Any, lab: Any, login: Any) -> None:
    sn = lab.screening_number
    url = f"/participants/{sn}/forms/LAB/?visit=BASELINE&instance=1"
    monitor = login(staff["monitor@MDACC"])
    raised = _post(
        monitor,
        f"/participants/{sn}/forms/LAB/queries",
        {"item": "alc", "text": "Source document says 560", "visit": "BASELINE", "instance": "1"},
    )
    assert raised.status_code == 302
    page = monitor.get(url).content.decode()
    [qid] = _query_ids(page)
    assert "status-open" in page and "Source document says 560" in page
    assert f"/queries/{qid}/" in page and "Answer to query" not in page  # monitors do not answer
    listed = monitor.get("/queries/").content.decode()
    assert sn in listed and "alc" in listed
    coordinator = login(staff["coordinator@MDACC"])
    page = coordinator.get(url).content.decode()
    assert "Answer to query" in page and "Raise a query" not in page and "Close query" not in page
    assert _post(coordinator, f"/queries/{qid}/", {"step": "close"}).status_code == 403
    assert _post(coordinator, f"/queries/{qid}/", {"step": "answer", "text": "Corrected"}).status_code == 302
    assert "status-answered" in monitor.get(url).content.decode()
    assert _post(monitor, f"/queries/{qid}/", {"step": "close", "text": "OK"}).status_code == 302
    assert "status-closed" in monitor.get(url).content.decode()
    assert sn not in monitor.get("/queries/").content.decode()
    # Reopen needs a reason; the message says so and nothing changes.
    _post(monitor, f"/queries/{qid}/", {"step": "reopen", "text": " "})
    assert "status-closed" in monitor.get(url).content.decode()
    assert _post(monitor, f"/queries/{qid}/", {"step": "reopen", "text": "New source"}).status_code == 302
    assert "status-open" in monitor.get(url).content.decode()
    # Another site's monitor reaches neither the query nor the form.
    other = login(staff["monitor@MSKCC"])
    assert _post(other, f"/queries/{qid}/", {"step": "close"}).status_code == 404
    assert other.get(url).status_code == 404
    from iliad7.store.models import AuditRecord

    steps = AuditRecord.objects.filter(object_type="query", object_id=str(qid)).values_list("action", flat=True)
    assert list(steps) == ["query.raise", "query.answer", "query.close", "query.reopen"]


def test_query_lifecycle_through_the_api(staff: Any, lab: Any, login: Any, api_post: Any) -> None:
    sn = lab.screening_number
    monitor = login(staff["monitor@MDACC"])
    bad = api_post(monitor, f"/api/participants/{sn}/queries", {"form": "LAB", "item": "nope", "text": "?"})
    assert bad.status_code == 400 and bad.json()["field"] == "item"
    empty = api_post(monitor, f"/api/participants/{sn}/queries", {"form": "LAB", "item": "alc", "text": ""})
    assert empty.status_code == 422 and empty.json()["field"] == "text"
    raised = api_post(
        monitor, f"/api/participants/{sn}/queries", {"form": "LAB", "item": "alc", "visit": "BASELINE", "text": "560?"}
    )
    assert raised.status_code == 201, raised.content
    qid = raised.json()["id"]
    assert raised.json()["status"] == "open"
    assert [q["id"] for q in monitor.get("/api/queries").json()] == [qid]
    coordinator = login(staff["coordinator@MDACC"])
    assert api_post(coordinator, f"/api/queries/{qid}/close", {}).status_code == 403
    answered = api_post(coordinator, f"/api/queries/{qid}/answer", {"text": "Corrected"})
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    assert api_post(coordinator, f"/api/queries/{qid}/answer", {"text": "Again"}).status_code == 409
    closed = api_post(monitor, f"/api/queries/{qid}/close", {"text": ""})
    assert closed.json()["status"] == "closed"
    assert [s["kind"] for s in closed.json()["steps"]] == ["raise", "answer", "close"]
    reopened = api_post(monitor, f"/api/queries/{qid}/reopen", {"text": "New source"})
    assert reopened.json()["status"] == "open"
    assert monitor.get(f"/api/participants/{sn}/queries").json()[0]["status"] == "open"
    other = login(staff["monitor@MSKCC"])
    assert other.get(f"/api/queries/{qid}").status_code == 404
    assert api_post(other, f"/api/queries/{qid}/close", {}).status_code == 404
    assert other.get(f"/api/participants/{sn}/queries").status_code == 404
    assert login(staff["sponsor-viewer"]).get("/api/queries").json() == []


def test_casebook_signature_is_refused_with_an_open_query_and_given_once_closed(
    staff: Any, lab: Any, login: Any, api_post: Any, totp: Any, capture_values: Any
) -> None:
    from iliad7.store import actions

    sn = lab.screening_number
    coordinator = login(staff["coordinator@MDACC"])
    _, eos = capture_values.valid_values("END-OF-STUDY", "MDACC")
    assert _post(coordinator, f"/participants/{sn}/forms/END-OF-STUDY/?instance=1", eos).status_code == 302
    query = actions.raise_query(
        lab, form="LAB", item="alc", visit="BASELINE", text="560?", acting_user=staff["monitor@MDACC"], channel="web"
    )
    investigator = staff["investigator@MDACC"]
    actions.add_totp_device(investigator, acting_user=None, channel="system")
    client = login(investigator)
    page = client.get(f"/participants/{sn}/casebook/").content.decode()
    assert "1 query(ies) not closed" in page and "I approve this casebook" in page
    refused = _post(
        client, f"/participants/{sn}/casebook/", {"step": "sign", "password": PASSWORD, "otp_token": totp(investigator)}
    )
    assert refused.status_code == 409 and "cannot be signed" in refused.content.decode()
    api_refused = api_post(
        client, f"/api/participants/{sn}/casebook/signature", {"password": PASSWORD, "otp_token": "000000"}
    )
    assert api_refused.status_code == 409
    actions.close_query(query, acting_user=staff["monitor@MDACC"], channel="web")
    wrong = _post(
        client,
        f"/participants/{sn}/casebook/",
        {"step": "sign", "password": "wrong-password", "otp_token": totp(investigator)},
    )
    assert wrong.status_code == 400 and "Not signed" in wrong.content.decode()
    signed = _post(
        client, f"/participants/{sn}/casebook/", {"step": "sign", "password": PASSWORD, "otp_token": totp(investigator)}
    )
    assert signed.status_code == 302
    page = client.get(f"/participants/{sn}/casebook/").content.decode()
    assert "Signed by <strong>Investigatormdacc</strong>" in page or "Signed by <strong>" in page
    assert "“I approve this casebook”" in page and "valid" in page
    body = client.get(f"/api/participants/{sn}/casebook").json()
    assert body["problems"] == [] and body["signatures"][0]["valid"] is True
    assert body["signatures"][0]["meaning"] == "I approve this casebook"
    # Only the investigator signs: a coordinator is refused.
    refused_role = api_post(
        coordinator, f"/api/participants/{sn}/casebook/signature", {"password": PASSWORD, "otp_token": "1"}
    )
    assert refused_role.status_code == 403


def test_casebook_lock_refuses_every_form(staff: Any, lab: Any, login: Any, api_post: Any, capture_values: Any) -> None:
    sn = lab.screening_number
    manager = login(staff["data-manager"])
    no_reason = _post(manager, f"/participants/{sn}/casebook/", {"step": "lock", "reason": ""})
    assert no_reason.status_code == 400
    assert (
        _post(manager, f"/participants/{sn}/casebook/", {"step": "lock", "reason": "Database lock"}).status_code == 302
    )
    coordinator = login(staff["coordinator@MDACC"])
    _, vitals = capture_values.valid_values("VITALS")
    refused = _post(coordinator, f"/participants/{sn}/forms/VITALS/?instance=1", vitals)
    assert refused.status_code == 409 and "casebook" in refused.content.decode()
    unlocked = api_post(manager, f"/api/participants/{sn}/casebook/lock", {"locked": False, "reason": "Reopened"})
    assert unlocked.status_code == 200 and unlocked.json()["locked"] is False


def test_sae_clock_list_shows_deadline_and_overdue(staff: Any, trial: Any, login: Any, capture_values: Any) -> None:
    from datetime import UTC, datetime, timedelta

    participant = trial["randomized@MDACC"]
    client = login(staff["coordinator@MDACC"])
    _, ae = capture_values.valid_values("ADVERSE-EVENT", "MDACC")
    late = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M")
    ae.update(serious="true", sae_life_threatening="true", awareness_at=late)
    assert (
        _post(client, f"/participants/{participant.screening_number}/forms/ADVERSE-EVENT/?instance=1", ae).status_code
        == 302
    )
    investigator = login(staff["investigator@MDACC"])
    page = investigator.get("/sae-clocks/").content.decode()
    assert participant.screening_number in page and "overdue" in page
    assert "MSKCC" not in page  # the other site's SAE (in the trial fixture) is not listed
    clocks = investigator.get("/api/sae-clocks").json()
    assert [c["overdue"] for c in clocks] == [True]
    pharmacist = login(staff["unblinded-pharmacist@MDACC"])
    assert pharmacist.get("/sae-clocks/").status_code == 403
    assert pharmacist.get("/api/sae-clocks").status_code == 403


def test_the_participant_page_links_the_calendar_and_the_casebook(staff: Any, trial: Any, login: Any) -> None:
    sn = trial["randomized@MSKCC"].screening_number
    page = login(staff["coordinator@MSKCC"]).get(f"/participants/{sn}/").content.decode()
    assert f"/participants/{sn}/calendar/" in page and f"/participants/{sn}/casebook/" in page
    home = login(staff["monitor@MSKCC"]).get("/").content.decode()
    assert "/queries/" in home and "/sae-clocks/" in home
