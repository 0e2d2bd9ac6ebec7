"""The blinding walk: every blinded role GETs every page and every API GET path, and finds no arm.

Randomized participants are present (with a prepared and given dose and an
emergency unblinding), so an arm that leaked anywhere would be found: no JSON
key named `arm`, no value `placebo` or `CYT107` where it could only be the
arm, and no 500 anywhere.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

BLINDED = (
    "investigator@MSKCC",
    "investigator@MDACC",
    "coordinator@MSKCC",
    "coordinator@MDACC",
    "monitor@MSKCC",
    "monitor@MDACC",
    "data-manager",
    "infection-adjudicator",
    "dsmb-member",
    "blinded-statistician",
    "sponsor-viewer",
    "administrator",
)
PAGES = (
    "/",
    "/participants/",
    "/screening-log/",
    "/unblinding-events/",
    "/audit/",
    "/participants/{sn}/",
    "/participants/{sn}/screening/",
    "/participants/{sn}/consent/",
    "/participants/{sn}/randomize/",
    "/participants/{sn}/unblind/",
    "/participants/{sn}/pharmacy/",
    "/pharmacy/{site_code}/",
    # Data capture (issue 5)
    "/queries/",
    "/sae-clocks/",
    "/participants/{sn}/calendar/",
    "/participants/{sn}/casebook/",
    "/participants/{sn}/forms/LAB/?visit=BASELINE",
    "/participants/{sn}/forms/ADVERSE-EVENT/?instance=1",
    "/participants/{sn}/forms/STUDY-DRUG/?visit=BASELINE",
    "/participants/{sn}/forms/VITALS/",
)
# The arm's names as they would appear in a page. "CYT107" is also the product's
# name in the trial's title and texts, so in pages only a word that can only be
# an arm is searched: "placebo", and "saline" (the placebo syringe's contents).
ARM_IN_PAGE = re.compile(r"\b(placebo|saline)\b", re.IGNORECASE)
# Pages that word the protocol's design in general (the home page names nothing).
ALLOWED_MENTIONS = ("same volume of saline", "Prepare syringes of identical appearance")


def _keys_and_values(value: Any, path: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            found.append((str(k), v))
            found.extend(_keys_and_values(v, f"{path}.{k}"))
    elif isinstance(value, list):
        for v in value:
            found.extend(_keys_and_values(v, path))
    return found


def _api_get_paths(client) -> list[str]:  # type: ignore[no-untyped-def]
    document = client.get("/api/openapi.json").json()
    return [path for path, ops in document["paths"].items() if "get" in ops]


def _fill(template: str, sn: str, site: str) -> str:
    url = template.replace("{screening_number}", sn).replace("{site_code}", site).replace("{sn}", sn)
    # API paths of the data capture: a form that has data in the walk's trial, and its first query.
    url = url.replace("{form_id}", "LAB").replace("{query_id}", "1")
    if url.endswith("/forms/LAB"):
        url += "?visit=BASELINE"
    return url


def test_openapi_document_is_served_and_names_its_paths(staff, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for expected in (
        "/api/sites",
        "/api/participants",
        "/api/participants/{screening_number}",
        "/api/screening/evaluate",
        "/api/participants/{screening_number}/screening",
        "/api/participants/{screening_number}/consent",
        "/api/participants/{screening_number}/randomize",
        "/api/participants/{screening_number}/items",
        "/api/audit/verify",
        "/api/participants/{screening_number}/unblind",
        "/api/participants/{screening_number}/pharmacy/worksheet",
        "/api/participants/{screening_number}/calendar",
        "/api/participants/{screening_number}/forms/{form_id}",
        "/api/participants/{screening_number}/queries",
        "/api/queries",
        "/api/queries/{query_id}/answer",
        "/api/participants/{screening_number}/casebook/signature",
        "/api/sae-clocks",
    ):
        assert expected in paths, expected
    assert "post" in paths["/api/participants"] and "get" in paths["/api/participants"]


@pytest.mark.parametrize("who", BLINDED)
def test_blinded_user_finds_no_arm_on_any_page_or_api_path(who, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.access import roles_of

    assert not {"unblinded-pharmacist", "unblinded-statistician"} & roles_of(staff[who])
    client = login(staff[who])
    numbers = sorted({p.screening_number for p in trial.values()})
    api_paths = _api_get_paths(client)
    assert len(api_paths) >= 10
    answered_200 = 0
    for template in PAGES + tuple(api_paths):
        per_participant = "{sn}" in template or "{screening_number}" in template
        for sn in numbers if per_participant else ["-"]:
            for site in ("MSKCC", "MDACC"):
                if site != "MSKCC" and "{site_code}" not in template:
                    continue
                url = _fill(template, sn, site)
                response = client.get(url)
                assert response.status_code < 500, (who, url)
                assert response.status_code in (200, 403, 404), (who, url, response.status_code)
                answered_200 += response.status_code == 200
                body = response.content.decode()
                if url.startswith("/api/"):
                    data = json.loads(body)
                    for key, value in _keys_and_values(data):
                        assert key.lower() not in ("arm", "allocation", "treatment", "contents"), (who, url, key)
                        assert not (isinstance(value, str) and value.strip().lower() in ("placebo", "cyt107")), (
                            who,
                            url,
                            key,
                        )
                    assert "placebo" not in body.lower(), (who, url)
                else:
                    text = body
                    for allowed in ALLOWED_MENTIONS:
                        text = text.replace(allowed, "")
                    assert not ARM_IN_PAGE.search(text), (who, url, ARM_IN_PAGE.search(text))
    # Administrators see no participant; everyone else reads plenty.
    assert answered_200 > (3 if who == "administrator" else 10), who


def test_the_walk_would_find_an_arm_where_one_is_shown(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    # Guard the guard: the unblinded pharmacist's worksheet does show it, and the walk's checks see it.
    from iliad7.store.access import access_allocation

    pharmacist = staff["unblinded-pharmacist@MSKCC"]
    participant = trial["randomized@MSKCC"]
    arm = access_allocation(pharmacist, participant)
    client = login(pharmacist)
    page = client.get(f"/participants/{participant.screening_number}/pharmacy/").content.decode()
    assert f"<dd>{arm}</dd>" in page
    worksheet = client.get(f"/api/participants/{participant.screening_number}/pharmacy/worksheet").json()
    assert any(key == "contents" for key, _ in _keys_and_values(worksheet))
