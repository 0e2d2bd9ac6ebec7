"""The participant's page in sections (issue 17): overview, calendar, doses, data, each loaded on its own.

What matters: every section a role is shown opens for that role (never a 403 behind a shown link);
the overview no longer carries the calendar, the doses or every value; the data section pages through
everything without losing a row; a refused value or dose is shown again with what was typed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

TAB_LINK = re.compile(r'<nav aria-label="Participant sections".*?</nav>', re.S)


def _post(client: Any, url: str, data: dict[str, str]) -> Any:
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def _tab_links(page: str) -> list[str]:
    nav = TAB_LINK.search(page)
    assert nav is not None, page[:2000]
    return re.findall(r'<a href="([^"]+)"', nav.group(0))


def test_every_section_shown_to_a_role_opens_for_it(staff: Any, trial: Any, login: Any) -> None:
    opened: dict[str, set[str]] = {}
    for name, user in staff.items():
        client = login(user)
        site = name.split("@")[1] if "@" in name else "MSKCC"
        sn = trial[f"randomized@{site}"].screening_number
        overview = client.get(f"/participants/{sn}/")
        if overview.status_code != 200:
            continue  # a role that sees no participant (the administrator) is shown no section
        links = _tab_links(overview.content.decode())
        for url in links:
            answer = client.get(url)
            assert answer.status_code == 200, (name, url)
            # Each section carries the same tab bar, the one it was reached from marked current.
            assert _tab_links(answer.content.decode()) == links, (name, url)
            assert f'href="{url}" aria-current="page"' in answer.content.decode(), (name, url)
        opened[name] = {url.removeprefix(f"/participants/{sn}/") for url in links}
    assert {"", "calendar/", "doses/", "data/", "casebook/"} <= opened["coordinator@MSKCC"]
    assert "pharmacy/" in opened["unblinded-pharmacist@MSKCC"] and "pharmacy/" not in opened["coordinator@MSKCC"]


def test_the_overview_leaves_the_calendar_doses_and_values_to_their_sections(
    staff: Any, trial: Any, login: Any
) -> None:
    sn = trial["randomized@MSKCC"].screening_number
    client = login(staff["coordinator@MSKCC"])
    overview = client.get(f"/participants/{sn}/").content.decode()
    for elsewhere in ('id="syringes"', "Record a dose given", "Record or correct a value", "<caption>Visits"):
        assert elsewhere not in overview, elsewhere
    assert 'id="syringes"' in client.get(f"/participants/{sn}/doses/").content.decode()
    assert "Record or correct a value" in client.get(f"/participants/{sn}/data/").content.decode()
    # Sections swap with HTMX inside one region that every section page has once.
    for section in ("", "calendar/", "doses/", "data/", "casebook/"):
        page = client.get(f"/participants/{sn}/{section}").content.decode()
        assert page.count('id="participant-section"') == 1, section
        assert 'hx-select="#participant-section"' in TAB_LINK.search(page).group(0), section  # type: ignore[union-attr]


def test_the_data_section_pages_through_every_value_and_filters_by_form_and_visit(
    staff: Any, trial: Any, login: Any, capture_values: Any
) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.schedule import visit_forms
    from iliad7.web.participant_views import ROWS_PER_PAGE
    from iliad7.web.reads import items_with_history

    participant = trial["randomized@MSKCC"]
    coordinator = staff["coordinator@MSKCC"]
    for visit in visit_forms(load_protocol()):
        if len(items_with_history(participant)) > ROWS_PER_PAGE + 10:
            break
        capture_values.fill_visit(participant, visit, coordinator)
    rows = items_with_history(participant)
    assert len(rows) > ROWS_PER_PAGE
    client = login(coordinator)
    url = f"/participants/{participant.screening_number}/data/"

    def shown(query: str) -> list[tuple[str, str, str]]:
        page = client.get(url + query).content.decode()
        table = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
        assert table is not None, page[-2000:]
        return re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><th scope=\"row\">([^<]*)</th>", table.group(1))

    first, second = shown(""), shown("?page=2")
    assert len(first) == ROWS_PER_PAGE
    everything = first + second
    for number in range(3, len(rows) // ROWS_PER_PAGE + 2):
        everything += shown(f"?page={number}")
    assert len(everything) == len(rows) and len(set(everything)) == len(rows)  # no row lost, none twice
    assert shown("?page=999") == shown(f"?page={(len(rows) - 1) // ROWS_PER_PAGE + 1}")  # past the end: the last
    vitals = shown("?form=VITALS")
    assert vitals and {form for form, _, _ in vitals} == {"VITALS"}
    assert len(vitals) == sum(1 for r in rows if r.form == "VITALS")
    baseline_labs = shown("?form=LAB&visit=BASELINE")
    assert baseline_labs and {(f, v) for f, v, _ in baseline_labs} == {("LAB", "BASELINE")}


def test_a_refused_value_keeps_what_was_typed_and_a_recorded_one_shows_its_form(
    staff: Any, trial: Any, login: Any
) -> None:
    from iliad7.store.models import ItemValue

    participant = trial["randomized@MSKCC"]
    client = login(staff["coordinator@MSKCC"])
    url = f"/participants/{participant.screening_number}/items/"
    typed = {"form": "LAB", "visit": "DOSE3", "item": "alc", "value": "650", "unit": "cells/uL",
             "instance": "1", "reason": ""}  # fmt: skip
    before = ItemValue.objects.count()
    refused = _post(client, url, {**typed, "value": "-1"})
    assert refused.status_code == 400 and ItemValue.objects.count() == before
    page = refused.content.decode()
    assert 'id="it-value" name="value" value="-1"' in page and 'id="it-unit" name="unit" value="cells/uL"' in page
    assert '<option value="LAB" selected>' in page and 'id="it-visit" name="visit" value="DOSE3"' in page
    assert re.search(r'<span id="it-value-msg" class="field-msg">alc: -1[^<]*</span>', page), page[-3000:]
    recorded = _post(client, url, typed)
    assert recorded.status_code == 302 and recorded["Location"].endswith("/data/?form=LAB&visit=DOSE3#items-h")
    assert ItemValue.objects.filter(participant=participant, form="LAB", item="alc", value="650").exists()


def test_a_refused_dose_correction_keeps_what_was_typed_but_never_the_password(
    staff: Any, trial: Any, login: Any
) -> None:
    from iliad7.store.models import DoseCorrection

    participant = trial["randomized@MSKCC"]  # dose 1 given
    client = login(staff["investigator@MSKCC"])
    url = f"/participants/{participant.screening_number}/doses/correct"
    answer = _post(client, url, {"dose_number": "1", "volume_ml": "3.4", "reason": "", "password": "secret-typed",
                                 "otp_token": "123456"})  # fmt: skip
    assert answer.status_code == 400
    page = answer.content.decode()
    assert 'id="c-vol" name="volume_ml" inputmode="decimal" size="6" value="3.4"' in page
    assert "secret-typed" not in page and "123456" not in page
    assert re.search(r'<span id="c-reason-msg" class="field-msg">[^<]+</span>', page), page[-3000:]
    assert not DoseCorrection.objects.exists()
