"""A coordinator's day (issue 17): the bugs and rough edges met on the pages, played as the user meets them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def _post(client: Any, url: str, data: dict[str, str]) -> Any:
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_reconsent_banner_shows_when_the_oral_consent_was_obtained_not_when_it_was_saved(
    staff: Any, trial: Any, login: Any
) -> None:
    participant = trial["screened@MSKCC"]
    client = login(staff["coordinator@MSKCC"])
    url = f"/participants/{participant.screening_number}/consent/"
    obtained = (datetime.now(UTC) - timedelta(hours=30)).replace(second=0, microsecond=0)
    saved = _post(
        client, url,
        {"consent_type": "emergency_oral", "given_by": "legally_authorized_representative",
         "obtained_at": obtained.strftime("%Y-%m-%dT%H:%M"), "form_version": "v1.0", "obtained_by": "Dr A"},
    )  # fmt: skip
    assert saved.status_code == 302
    page = client.get(url).content.decode()
    banner = re.search(r"An emergency oral consent was given on ([^:]+:\d\d [A-Z]+)", page)
    assert banner is not None, page
    assert banner.group(1) == obtained.strftime("%Y-%m-%d %H:%M UTC")
    # Readable times everywhere on the page: no isoformat with microseconds.
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+", page)
    tasks = client.get("/api/reconsent-tasks").json()
    (task,) = [t for t in tasks if t["screening_number"] == participant.screening_number]
    assert datetime.fromisoformat(task["consent_obtained_at"]) == obtained
    assert datetime.fromisoformat(task["opened_at"]) > obtained + timedelta(hours=29)


def test_another_sites_pharmacy_is_not_found_without_saying_whether_it_exists(
    staff: Any, trial: Any, login: Any
) -> None:
    client = login(staff["coordinator@MDACC"])
    other = client.get("/pharmacy/MSKCC/")
    missing = client.get("/pharmacy/NOWHERE/")
    assert other.status_code == missing.status_code == 404
    body = other.content.decode()
    assert "There is no such site pharmacy, or it is not yours to keep." in body
    assert "no such participant" not in body
    main = re.compile(r"<main.*</main>", re.S)
    assert main.search(body).group(0) == main.search(missing.content.decode()).group(0)  # type: ignore[union-attr]


def _pharmacy(staff: Any, trial: Any, login: Any) -> tuple[Any, str, Any]:
    participant = trial["randomized@MSKCC"]
    return (
        login(staff["unblinded-pharmacist@MSKCC"]),
        f"/participants/{participant.screening_number}/pharmacy/",
        participant,
    )


def test_lot_is_chosen_from_the_usable_lots_and_an_expired_lot_is_refused_and_flagged(
    staff: Any, trial: Any, login: Any
) -> None:
    from iliad7.store import actions
    from iliad7.store.models import DrugLot, Preparation

    client, url, participant = _pharmacy(staff, trial, login)
    actions.record_drug_receipt(
        site_code="MSKCC", lot="OLD-7", expiry=date.today() + timedelta(days=30), vials=10,
        acting_user=staff["unblinded-pharmacist@MSKCC"], channel="system",
    )  # fmt: skip
    DrugLot.objects.filter(lot="OLD-7").update(expiry=date(2024, 6, 1))  # the lot has since expired
    page = client.get(url).content.decode()
    lot_select = re.search(r'<select id="p-lot" name="lot".*?</select>', page, re.S)
    assert lot_select is not None and '<option value="LOT-1" selected>' in lot_select.group(0)
    assert "OLD-7" not in lot_select.group(0)  # an expired lot is not offered
    assert '<input id="p-lot"' not in page  # no free text
    assert '<tr class="expired"><th scope="row">OLD-7</th>' in page
    # Posted anyway (a stale form, a crafted request): refused beside the lot, what was typed kept.
    refused = _post(client, url, {"dose_number": "2", "weight_kg": "71.5", "concentration_ug_per_ml": "200",
                                  "lot": "OLD-7"})  # fmt: skip
    assert refused.status_code == 409
    body = refused.content.decode()
    assert re.search(r'id="p-lot-msg" class="field-msg">lot OLD-7 expired on 2024-06-01', body)
    assert 'value="71.5"' in body and '<option value="OLD-7" selected>' in body
    assert not Preparation.objects.filter(participant=participant, dose_number=2).exists()


def test_stock_page_says_no_syringe_can_be_prepared_when_every_lot_is_expired(
    staff: Any, trial: Any, login: Any
) -> None:
    from iliad7.store.models import DrugLot

    client, url, _participant = _pharmacy(staff, trial, login)
    DrugLot.objects.filter(site__code="MSKCC").update(expiry=date(2024, 6, 1))
    stock = client.get("/pharmacy/MSKCC/").content.decode()
    assert "everything reconciles" not in stock
    assert "No syringe can be prepared at MSKCC today" in stock and "but no syringe can be prepared" in stock
    worksheet = client.get(url).content.decode()
    assert 'id="no-lot"' in worksheet and re.search(r'<button type="submit" disabled>Record preparation', worksheet)


def test_a_refused_field_names_itself_once(staff: Any, trial: Any, login: Any) -> None:
    client, url, _participant = _pharmacy(staff, trial, login)
    bad = _post(client, url, {"dose_number": "2", "weight_kg": "seventy", "concentration_ug_per_ml": "200",
                              "lot": "LOT-1"})  # fmt: skip
    assert bad.status_code == 400
    body = bad.content.decode()
    assert 'value="seventy"' in body and "weight_kg: weight_kg" not in body


# ------------------------------------------------------------------ the audit trail page


def _older(page: str) -> str | None:
    import html

    found = re.search(r'<a href="([^"]+)" rel="next">Older</a>', page)
    return html.unescape(found.group(1)) if found else None


def test_audit_trail_pages_through_every_record_and_filters(
    staff: Any, trial: Any, login: Any, monkeypatch: Any
) -> None:
    from iliad7.store.models import AuditRecord
    from iliad7.web import reads, views

    monkeypatch.setattr(views, "AUDIT_PAGE_SIZE", 7)
    manager = staff["data-manager"]
    client = login(manager)
    readable = list(reads.audit_query(manager).values_list("id", flat=True))
    assert len(readable) > 7 * 2
    seen: list[int] = []
    url: str | None = "/audit/"
    while url is not None:
        page = client.get(url if url.startswith("/") else "/audit/" + url).content.decode()
        seen += [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", page)]
        url = _older(page)
    assert seen == readable  # every record, newest first, none twice: not only the latest few

    number = trial["randomized@MSKCC"].screening_number
    one = client.get("/audit/", {"participant": number, "action": "dose."}).content.decode()
    ids = [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", one)]
    expected = AuditRecord.objects.filter(action__startswith="dose.", object_id__startswith=number)
    assert ids and sorted(ids) == sorted(r.id for r in expected if r.object_id.split("/")[0] == number)
    by_user = client.get("/audit/", {"actor": staff["coordinator@MSKCC"].username}).content.decode()
    assert set(re.findall(r"<tr><td>\d+</td><td[^>]*>[^<]*</td><td>([^<]+)<br>", by_user)) == {
        staff["coordinator@MSKCC"].username
    }
    # Old and new values readable: field, old → new; moments as "YYYY-MM-DD HH:MM:SS UTC", never isoformat.
    assert '<dl class="changes">' in one and not re.search(r"\d\d:\d\d:\d\d\.\d{3,}", one)
    bad = client.get("/audit/", {"since": "yesterday"})
    assert (
        bad.status_code == 400
        and 'id="a-since-msg" class="field-msg">give a date as YYYY-MM-DD' in bad.content.decode()
    )
    # A monitor still reads only their site's participants' records, filters or not.
    monitor = login(staff["monitor@MDACC"]).get("/audit/", {"participant": number}).content.decode()
    assert "No records." in monitor


def test_audit_changes_are_shown_field_by_field() -> None:
    from iliad7.web.reads import audit_changes

    rows = audit_changes(
        '{"given_at": "2026-12-04T13:05:53.656598+00:00", "volume_ml": "3.50"}',
        '{"given_at": "2026-12-04T13:15:00+00:00", "volume_ml": "3.50", "reason": null}',
    )
    assert rows == [
        {"field": "given_at", "old": "2026-12-04 13:05:53 UTC", "new": "2026-12-04 13:15:00 UTC", "changed": True},
        {"field": "volume_ml", "old": "3.50", "new": "3.50", "changed": False},
        {"field": "reason", "old": "", "new": "—", "changed": True},
    ]


@pytest.mark.parametrize("message", ["given_at: the dose window closed", "the dose window closed"])
def test_a_refusal_names_its_field_once(message: str) -> None:
    from iliad7.errors import InputError
    from iliad7.web.views import _refusal

    assert _refusal(InputError("given_at", message)) == "given_at: the dose window closed"


def test_a_participant_page_dose_refusal_names_the_field_once(staff: Any, trial: Any, login: Any) -> None:
    participant = trial["randomized@MSKCC"]
    client = login(staff["coordinator@MSKCC"])
    answer = _post(client, f"/participants/{participant.screening_number}/doses/",
                   {"dose_number": "2", "given_at": "yesterday", "injection_site": "left_deltoid", "volume_ml": "3.5"})  # fmt: skip
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Dose not recorded: given_at: give a date and time (UTC)" in page
    assert "given_at: given_at" not in page
