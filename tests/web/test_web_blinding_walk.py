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
    # A coordinator's day (issue 17)
    "/worklist/",
    "/dashboard/",
    "/dashboard/?state=open_query&visit=BASELINE",
    "/trial/",
    "/participants/{sn}/doses/",
    "/participants/{sn}/data/",
    "/participants/{sn}/data/?form=VITALS&page=2",
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
    # Administrators see no participant, the infection adjudicator only the reported infections;
    # everyone else reads plenty.
    assert answered_200 > (3 if who in ("administrator", "infection-adjudicator") else 10), who


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


# ---- Issue 19: arm-dependent values, not only arm names --------------------------------------------------------
#
# A blinded role must not be able to tell the arms apart by anything it reads. The strongest check
# is a counterfactual one: crawl everything the role reads, swap the arms in the allocation list
# (a test instrument: guards dropped, every slot's arm flipped, nothing else touched), crawl again,
# and require every page, API object, audit record, open report and export to be byte-identical. A
# page that reads the arm to compute anything it shows (a count, a hash, a kit-code pattern, a
# colour) changes and fails. The participant an investigator unblinded in an emergency is flipped
# separately, and that investigator's views of it are allowed to change (they may know that arm).

KIT_TOKEN = re.compile(r"\b[ABCDEFGHJKMNPQRSTUVWXYZ2-9]{6}\b")
_VOLATILE = (
    re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'),
    re.compile(r'"X-CSRFToken": "[^"]*"'),
    re.compile(r'nonce="[^"]*"'),
)
LIST_SEED = 20261125  # the seed the `trial` fixture's statistician chose (tests/web/conftest.py)


def _normalized(url: str, body: str, cutoff: int) -> str:
    for pattern in _VOLATILE:
        body = pattern.sub("", body)
    if url.startswith("/api/audit/records") and body.startswith("["):
        return json.dumps([r for r in json.loads(body) if r["id"] <= cutoff], sort_keys=True)
    if url.startswith("/api/audit/verify"):
        # The flip itself is tampering, which verify rightly reports; what it says is not the arm.
        return "verify"
    if url.startswith("/audit/"):
        # Only the records written before the first crawl (the page is read from there: ?before=): the reports and
        # exports made between come after, and so do the actions and the count they add.
        body = re.sub(r"<tr><td>(\d+)</td>.*?</tr>", lambda m: m.group(0) if int(m.group(1)) <= cutoff else "", body,
                      flags=re.S)  # fmt: skip
        body = re.sub(r"\d+ records? you may read", "records you may read", body)
        body = re.sub(r'<datalist id="a-actions">.*?</datalist>', "", body, flags=re.S)
        body = "\n".join(line for line in body.splitlines() if line.strip())
    return body


def _crawl(client, numbers: list[str], cutoff: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    seen = {}
    for template in PAGES + tuple(_api_get_paths(client)):
        per_participant = "{sn}" in template or "{screening_number}" in template
        for sn in numbers if per_participant else ["-"]:
            for site in ("MSKCC", "MDACC") if "{site_code}" in template else ("MSKCC",):
                url = _fill(template, sn, site)
                if url == "/audit/":  # every record up to the first crawl, whatever the crawls added since
                    url = f"/audit/?before={cutoff + 1}"
                response = client.get(url)
                assert response.status_code < 500, url
                seen[url] = f"{response.status_code}\n" + _normalized(url, response.content.decode(), cutoff)
    return seen


def _files(user, folder) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """The open report and the CSV exports the user may make, as bytes (timestamps of the run removed)."""
    from iliad7.accounts.roles import Capability
    from iliad7.standards.exports import export_tables
    from iliad7.store import access
    from iliad7.store.actions.reports import write_trial_report

    made: dict[str, bytes] = {}
    if access.visible_participants(user).exists():
        for which in ("sdtm", "adam"):
            result = export_tables(user, folder / which, fmt="csv", which=which)  # type: ignore[arg-type]
            made.update({f"{which}/{name}": (folder / which / name).read_bytes() for name in result.files})
    if access.can(user, Capability.VIEW_REPORTS):
        write_trial_report(user, folder / "report", closed=False, channel="cli")
        made["ard.json"] = (folder / "report" / "ard.json").read_bytes()
    return made


def _flip_arms(participant_ids: set[int] | None, keep: set[int]) -> None:
    """Swap CYT107 and placebo in the slots of `participant_ids` (None: every slot but those of `keep`)."""
    from django.db import connection

    from iliad7.store.triggers import guard_create_statements, guard_drop_statements

    flip = "arm = CASE WHEN arm = 'CYT107' THEN 'placebo' ELSE 'CYT107' END"
    with connection.cursor() as cursor:
        for sql in guard_drop_statements(connection.vendor, ("store_allocationslot",)):
            cursor.execute(sql)
        if participant_ids is None:
            kept = ",".join(str(k) for k in keep) or "0"
            cursor.execute(
                f"UPDATE store_allocationslot SET {flip} WHERE participant_id IS NULL OR participant_id NOT IN ({kept})"
            )
        else:
            cursor.execute(
                f"UPDATE store_allocationslot SET {flip} WHERE participant_id IN ({','.join(map(str, participant_ids))})"
            )
        for sql in guard_create_statements(connection.vendor, ("store_allocationslot",)):
            cursor.execute(sql)


@pytest.mark.parametrize("who", BLINDED)
def test_nothing_a_blinded_role_reads_depends_on_the_arms(who, staff, trial, login, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from iliad7.protocol import load_protocol
    from iliad7.web import views

    monkeypatch.setattr(views, "AUDIT_PAGE_SIZE", 5000)  # the whole trail on one page, as the walk reads it
    from iliad7.randomization import SeededKitCodes, generate_allocation_list, protocol_strata
    from iliad7.store.actions import export_allocation_list
    from iliad7.store.actions.reports import write_trial_report
    from iliad7.store.models import AuditRecord, UnblindingEvent

    # The unblinded side leaves its marks in the trail first: a closed report and an export of the list.
    closed = write_trial_report(staff["unblinded-statistician"], tmp_path / "closed", closed=True, channel="cli")
    export_allocation_list(acting_user=staff["unblinded-pharmacist@MSKCC"], channel="cli")
    user = staff[who]
    client = login(user)
    cutoff = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first()
    numbers = sorted({p.screening_number for p in trial.values()})
    unblinded = set(UnblindingEvent.objects.values_list("participant_id", flat=True))
    knows = set(
        UnblindingEvent.objects.filter(unblinded_by=user).values_list("participant__screening_number", flat=True)
    )

    before = _crawl(client, numbers, cutoff)
    before_files = _files(user, tmp_path / "before")
    _flip_arms(None, keep=unblinded)
    after = _crawl(client, numbers, cutoff)
    after_files = _files(user, tmp_path / "after")
    changed = [url for url in before if before[url] != after[url]]
    assert changed == [], (who, changed[:5])
    assert [n for n in before_files if before_files[n] != after_files.get(n)] == [], who

    # The emergency-unblinded participant: only the investigator who unblinded them may see a change.
    _flip_arms(unblinded, keep=set())
    again = _crawl(client, numbers, cutoff)
    changed = [url for url in after if after[url] != again[url] and not any(n in url for n in knows)]
    assert changed == [], (who, changed[:5])
    if not knows:
        again_files = _files(user, tmp_path / "again")
        assert [n for n in after_files if after_files[n] != again_files.get(n)] == [], who

    # Kit codes a blinded role sees map to nothing the list's own seed derives, and no digest of
    # arm-dependent data (the closed report's plain hash), nor the seed itself, appears anywhere.
    text = "\n".join([*before.values(), *(b.decode(errors="replace") for b in before_files.values())])
    protocol = load_protocol()
    strata = protocol_strata(protocol.sites)
    derived = {
        s.kit_code
        for kits in (SeededKitCodes(LIST_SEED), None)
        for s in generate_allocation_list(
            protocol.randomization, strata, seed=LIST_SEED, slots_per_stratum=8,
            **({"kit_codes": kits} if kits else {}),
        )
    }  # fmt: skip
    assert not set(KIT_TOKEN.findall(text)) & derived
    assert closed.snapshot_sha256 not in text
    assert str(LIST_SEED) not in text


def test_the_counterfactual_walk_sees_the_arm_where_one_is_shown(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    # Guard the guard: the unblinded pharmacist's worksheet page shows the arm, so flipping the arms changes it.
    from iliad7.store.models import AuditRecord

    client = login(staff["unblinded-pharmacist@MSKCC"])
    cutoff = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first()
    url = f"/participants/{trial['randomized@MSKCC'].screening_number}/pharmacy/"
    before = _normalized(url, client.get(url).content.decode(), cutoff)
    _flip_arms({trial["randomized@MSKCC"].pk}, keep=set())
    assert _normalized(url, client.get(url).content.decode(), cutoff) != before
