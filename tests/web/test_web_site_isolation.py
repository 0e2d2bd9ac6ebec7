"""A coordinator never sees the other site's participants: not in a page, not in an API answer."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PAGE_TEMPLATES = (
    "/participants/{sn}/",
    "/participants/{sn}/screening/",
    "/participants/{sn}/consent/",
    "/participants/{sn}/randomize/",
    "/participants/{sn}/unblind/",
    "/participants/{sn}/pharmacy/",
    "/participants/{sn}/calendar/",
    "/participants/{sn}/doses/",
    "/participants/{sn}/data/",
)
POST_PAGES = (
    "/participants/{sn}/screening/",
    "/participants/{sn}/screening/evaluate",
    "/participants/{sn}/screening/fail",
    "/participants/{sn}/consent/",
    "/participants/{sn}/randomize/",
    "/participants/{sn}/unblind/",
    "/participants/{sn}/items/",
    "/participants/{sn}/doses/",
    "/participants/{sn}/doses/correct",
    "/participants/{sn}/pharmacy/",
)


def _api_paths(client) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    document = client.get("/api/openapi.json").json()
    return [(method, path) for path, ops in document["paths"].items() for method in ops if "{screening_number}" in path]


def test_coordinator_gets_404_for_every_object_of_the_other_site(staff, trial, login, api_post) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    others = [p for name, p in trial.items() if name.endswith("@MDACC")]
    api_paths = _api_paths(client)
    assert len(api_paths) >= 10
    for participant in others:
        sn = participant.screening_number
        for template in PAGE_TEMPLATES:
            assert client.get(template.format(sn=sn)).status_code == 404, template
        for template in POST_PAGES:
            response = client.post(
                template.format(sn=sn), {"reason": "x"}, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
            )
            assert response.status_code == 404, template
        for method, path in api_paths:
            url = path.replace("{screening_number}", sn)
            missing = path.replace("{screening_number}", "NOSUCH-S999")
            if method == "get":
                response = client.get(url)
                assert response.status_code == 404, (url, response.content[:200])
                assert response.json() == client.get(missing).json()
            else:
                # An empty body may fail the schema (422) before the store is asked, but the
                # answer is then the same as for a number that does not exist: nothing leaks.
                response = api_post(client, url, {})
                assert response.status_code in (404, 422), (url, response.content[:200])
                assert response.json() == api_post(client, missing, {}).json()
            assert sn.encode() not in response.content


def test_lists_and_answers_never_name_the_other_sites_participants(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    theirs = [p.screening_number for name, p in trial.items() if name.endswith("@MDACC")]
    theirs += [p.usubjid for name, p in trial.items() if name.endswith("@MDACC") and p.usubjid]
    mine = trial["randomized@MSKCC"].screening_number
    urls = [
        "/",
        "/participants/",
        f"/participants/{mine}/",
        "/screening-log/",
        "/screening-log/?site=MDACC",
        "/api/participants",
        f"/api/participants/{mine}",
        "/api/screening-log",
        "/api/reconsent-tasks",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        for number in theirs:
            assert number.encode() not in response.content, (url, number)
    listed = {row["screening_number"] for row in client.get("/api/participants").json()}
    assert listed == {p.screening_number for name, p in trial.items() if name.endswith("@MSKCC")}
    assert client.get("/api/screening-log?site=MDACC").status_code == 404


def test_monitor_reads_only_their_sites_audit_records(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    page = login(staff["monitor@MSKCC"]).get("/audit/")
    assert page.status_code == 200
    assert trial["randomized@MSKCC"].screening_number.encode() in page.content
    for name, participant in trial.items():
        if name.endswith("@MDACC"):
            assert participant.screening_number.encode() not in page.content


def test_new_participant_is_created_at_the_users_site_only(staff, sites, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord, Participant

    client = login(staff["coordinator@MSKCC"])
    token = client.cookies["csrftoken"].value
    created = client.post("/participants/new", {"site": "MSKCC", "csrfmiddlewaretoken": token})
    assert created.status_code == 302
    participant = Participant.objects.get()
    assert participant.site.code == "MSKCC" and created["Location"].endswith(
        f"/{participant.screening_number}/screening/"
    )
    assert AuditRecord.objects.filter(action="participant.create", channel="web").exists()
    refused = client.post("/participants/new", {"site": "MDACC", "csrfmiddlewaretoken": token}, follow=True)
    assert Participant.objects.count() == 1
    assert b"no role that allows" in refused.content
