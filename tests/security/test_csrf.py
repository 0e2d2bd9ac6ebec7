"""ASVS V4.2.2/V3.5: every state-changing page and API call needs the CSRF token; without it nothing is stored.

The routes are enumerated, not listed by hand: every page URL of `iliad7.web.urls`
(and the sign-in pages) and every non-GET operation of the served OpenAPI
document, so a new endpoint is covered as soon as it exists.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

# Pages that take a POST, by their URL pattern names in iliad7.web.urls (GET-only pages are left out).
GET_ONLY_PAGES = {"home", "participants", "participant", "screening-log", "unblinding-events", "audit"}


def _row_counts() -> dict[str, int]:
    from django.apps import apps

    return {m.__name__: m.objects.count() for m in apps.get_app_config("store").get_models()}


def fill(route: str, sn: str, site: str = "MSKCC") -> str:
    """A concrete URL for a route of either kind (`<str:screening_number>` or `{screening_number}`)."""
    values = {"screening_number": sn, "site_code": site, "form_id": "ALC"}
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), route)


def _page_posts(trial) -> list[str]:  # type: ignore[no-untyped-def]
    from iliad7.web import urls

    sn = trial["consented@MSKCC"].screening_number
    paths = ["/" + fill(str(p.pattern), sn) for p in urls.urlpatterns if p.name not in GET_ONLY_PAGES]
    return [*paths, "/accounts/second-factor/", "/accounts/logout/"]


def _api_posts(client: Client, trial) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    sn = trial["consented@MSKCC"].screening_number
    document = client.get("/api/openapi.json").json()
    return [
        (method, fill(path, sn))
        for path, ops in document["paths"].items()
        for method in ops
        if method in ("post", "put", "patch", "delete")
    ]


@pytest.mark.parametrize("who", ["coordinator@MSKCC", "investigator@MSKCC", "unblinded-pharmacist@MSKCC"])
def test_every_state_change_without_the_csrf_token_is_refused_and_stores_nothing(who, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff[who])
    assert client.cookies.get("csrftoken"), "signed-in clients hold a CSRF cookie"
    pages = _page_posts(trial)
    api_calls = _api_posts(client, trial)
    assert len(pages) >= 10 and len(api_calls) >= 10
    before = _row_counts()
    for path in pages:
        response = client.post(path, {"reason": "x", "confirmation": "on", "otp_token": "123456"})
        assert response.status_code == 403, (path, response.status_code)
    for method, path in api_calls:
        body = json.dumps({"site": "MSKCC", "confirmation": True, "form": "ALC", "item": "alc", "value": "1"})
        response = getattr(client, method)(path, data=body, content_type="application/json")
        assert response.status_code == 403, (method, path, response.status_code, response.content[:200])
    # A wrong token is no better than none.
    response = client.post(
        "/api/participants",
        data=json.dumps({"site": "MSKCC"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN="x" * 64,
    )
    assert response.status_code == 403
    assert _row_counts() == before


def test_the_same_call_with_the_token_goes_through(staff, trial, login, api_post) -> None:  # type: ignore[no-untyped-def]
    # Guard the guard: the refusals above are for the missing token, not for the call itself.
    client = login(staff["coordinator@MSKCC"])
    assert api_post(client, "/api/participants", {"site": "MSKCC"}).status_code == 201


def test_sign_in_without_the_token_is_refused(staff) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": staff["coordinator@MSKCC"].username, "password": "x"})
    assert response.status_code == 403
