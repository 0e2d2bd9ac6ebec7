"""ASVS V4.2.1: no object of the other site is reachable by guessing its id, on any endpoint, by any site role.

Each site role of MSKCC signs in and tries every MDACC participant (the trial's,
in every state, and the screening numbers a guesser would try next) on every
API path of the served OpenAPI document and every participant page, with a
body that passes each schema (so the access check, not validation, answers).
Every answer is 403 or 404 (404 alike for missing and forbidden), no answer
names the participant, and not one row changes. The site-coded pharmacy
endpoints are tried with the other site's code the same way.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.django_db

# One body that fits every POST schema of the API (unknown fields are ignored), so that each call reaches
# the store's access check instead of stopping at validation.
UNIVERSAL_BODY = {
    "site": "MDACC",
    "confirmation": True,
    "form": "LAB",
    "item": "alc",
    "value": "1000",
    "unit": "cells/mm3",
    "visit": "DOSE3",
    "instance": 1,
    "reason": "guessing",
    "consent_type": "written",
    "given_by": "participant",
    "obtained_at": "2026-11-20T14:00:00Z",
    "form_version": "v1.0",
    "obtained_by": "Dr X",
    "otp_token": "123456",
    "dose_number": 1,
    "given_at": "2026-11-21T10:00:00Z",
    "injection_site": "left_deltoid",
    "volume_ml": "1.0",
    "local_reaction": "none",
    "weight_kg": "70",
    "concentration_ug_per_ml": "200",
    "lot": "LOT-1",
    "expiry": "2027-11-01",
    "vials": 1,
    "values": {"alc": "1000", "alc.unit": "cells/mm3"},
    "text": "Is this right?",
    "answer": "yes",
}
SITE_ROLES = ("coordinator", "investigator", "unblinded-pharmacist", "monitor")
MISSING = "NOSUCH-S999"


def fill(route: str, sn: str, site: str = "MSKCC", object_id: str = "1") -> str:
    """A concrete URL for a route of either kind (`<str:screening_number>` or `{screening_number}`)."""
    values = {"screening_number": sn, "site_code": site, "form_id": "ALC"}
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), object_id), route)
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), object_id), route)


def _row_counts() -> dict[str, int]:
    from django.apps import apps

    return {m.__name__: m.objects.count() for m in apps.get_app_config("store").get_models()}


def _call(client, method: str, url: str, token: str):  # type: ignore[no-untyped-def]
    if method == "get":
        return client.get(url)
    body = json.dumps(UNIVERSAL_BODY)
    return getattr(client, method)(url, data=body, content_type="application/json", HTTP_X_CSRFTOKEN=token)


def _refused(response, same_as_missing) -> bool:  # type: ignore[no-untyped-def]
    # 403/404; or a 422 from validation before the store is asked, identical to the answer for an id that
    # does not exist at all (so it tells nothing about the other site's object).
    if response.status_code in (403, 404):
        return True
    return response.status_code == 422 and response.content == same_as_missing().content


@pytest.mark.parametrize("role", SITE_ROLES)
def test_every_other_site_participant_id_on_every_endpoint_is_refused(role, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.web import urls

    client = login(staff[f"{role}@MSKCC"])
    token = client.cookies["csrftoken"].value
    document = client.get("/api/openapi.json").json()
    paths = [(m, p) for p, ops in document["paths"].items() for m in ops if "{screening_number}" in p]
    pages = [str(p.pattern) for p in urls.urlpatterns if "screening_number" in str(p.pattern)]
    assert len(paths) >= 10 and len(pages) >= 8
    targets = {p.screening_number for name, p in trial.items() if name.endswith("@MDACC")}
    targets |= {f"MDACC-S{n:03d}" for n in range(1, 13)}  # what a guesser tries next
    before = _row_counts()
    for sn in sorted(targets):
        for method, path in paths:
            url = fill(path, sn)
            response = _call(client, method, url, token)
            missing = lambda method=method, path=path: _call(client, method, fill(path, MISSING), token)  # noqa: E731
            assert _refused(response, missing), (role, method, url, response.status_code, response.content[:200])
            assert sn.encode() not in response.content, (role, url)
        for page in pages:
            url = "/" + fill(page, sn)
            assert client.get(url).status_code in (403, 404, 405), (role, url)
            response = client.post(url, {"reason": "guessing", "confirmation": "on"}, HTTP_X_CSRFTOKEN=token)
            assert response.status_code in (403, 404), (role, url, response.status_code)
    assert _row_counts() == before


@pytest.mark.parametrize("role", SITE_ROLES)
def test_object_ids_that_are_not_participants_are_refused_too(role, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    # Data queries and other objects addressed by a number: every small id, none of them this user's.
    client = login(staff[f"{role}@MSKCC"])
    token = client.cookies["csrftoken"].value
    document = client.get("/api/openapi.json").json()
    paths = [
        (m, p)
        for p, ops in document["paths"].items()
        for m in ops
        if re.search(r"\{\w+_id\}", p) and "{screening_number}" not in p
    ]
    # The user's own site's objects are theirs to reach; every other id (the other site's, or none) is not.
    everything = login(staff["data-manager"]).get("/api/queries").json()
    own = {q["id"] for q in everything if q["site"] == "MSKCC"}
    before = _row_counts()
    for object_id in sorted(set(range(1, 13)) - own):
        for method, path in paths:
            url = fill(path, "", object_id=str(object_id))
            response = _call(client, method, url, token)
            missing = lambda m=method, p=path: _call(client, m, fill(p, "", object_id="999999"), token)  # noqa: E731
            assert _refused(response, missing), (role, method, url, response.status_code, response.content[:200])
    assert _row_counts() == before


@pytest.mark.parametrize("role", SITE_ROLES)
def test_the_other_sites_pharmacy_is_refused(role, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff[f"{role}@MSKCC"])
    token = client.cookies["csrftoken"].value
    document = client.get("/api/openapi.json").json()
    paths = [(m, p) for p, ops in document["paths"].items() for m in ops if "{site_code}" in p]
    assert paths
    before = _row_counts()
    for method, path in paths:
        url = path.replace("{site_code}", "MDACC")
        if method == "get":
            response = client.get(url)
        else:
            response = client.post(
                url, data=json.dumps(UNIVERSAL_BODY), content_type="application/json", HTTP_X_CSRFTOKEN=token
            )
        assert response.status_code in (403, 404), (role, method, url, response.status_code, response.content[:200])
    for method in ("get", "post"):
        response = getattr(client, method)("/pharmacy/MDACC/", HTTP_X_CSRFTOKEN=token)
        assert response.status_code in (403, 404), (role, method, response.status_code)
    assert _row_counts() == before


def test_the_same_calls_on_the_users_own_site_do_reach_the_store(staff, trial, login, api_post) -> None:  # type: ignore[no-untyped-def]
    # Guard the guard: the universal body passes validation, so the refusals above come from the access check.
    client = login(staff["coordinator@MSKCC"])
    sn = trial["randomized@MSKCC"].screening_number
    response = api_post(client, f"/api/participants/{sn}/items", UNIVERSAL_BODY)
    assert response.status_code == 201, response.content[:300]
