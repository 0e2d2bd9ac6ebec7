"""A coordinator's day (issue 17): the honest calendar, the navigation by role, the worklist.

Played as the users: each role signs in through the login page and follows what it is shown.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"  # the fixtures' users (tests/web/conftest.py)


def _visits(client: Any, screening_number: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/participants/{screening_number}/calendar")
    assert response.status_code == 200
    return {v["visit"]: v for v in response.json()["visits"]}


def test_a_visit_is_done_only_when_its_forms_are_saved_and_screening_is_done_once_randomized(
    staff: Any, trial: Any, login: Any, capture_values: Any
) -> None:

    participant = trial["randomized@MSKCC"]  # dose 1 given minutes ago (STUDY-DRUG at BASELINE), a LAB saved
    client = login(staff["coordinator@MSKCC"])
    visits = _visits(client, participant.screening_number)
    assert visits["SCREENING"]["status"] == "done"  # its screening record allowed the randomization
    # Dose 1 given is not the baseline visit done: its vitals, SOFA, ... are not saved yet.
    assert visits["BASELINE"]["status"] == "due" and visits["BASELINE"]["started"]
    page = client.get(f"/participants/{participant.screening_number}/calendar/").content.decode()
    assert "(started)" in page and "status-done" in page
    # Save every other baseline form: the visit is done.
    capture_values.fill_visit(participant, "BASELINE", staff["coordinator@MSKCC"])
    from iliad7.web.reads import full_calendar

    assert not full_calendar(participant).progress["BASELINE"].missing
    visits = _visits(client, participant.screening_number)
    assert visits["BASELINE"]["status"] == "done" and not visits["BASELINE"]["started"]
    assert visits["D45"]["status"] == "upcoming"


def _nav_links(body: str) -> list[tuple[str, str]]:
    import re

    nav = body.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return [
        (href, re.sub(r"<[^>]+>", "", text).strip()) for href, text in re.findall(r'<a href="([^"]+)">(.*?)</a>', nav)
    ]


@pytest.mark.parametrize("who", ["coordinator@MSKCC", "investigator@MSKCC", "unblinded-pharmacist@MSKCC",
                                 "monitor@MSKCC", "data-manager", "infection-adjudicator", "dsmb-member",
                                 "blinded-statistician", "unblinded-statistician", "sponsor-viewer", "administrator"])  # fmt: skip
def test_every_navigation_link_of_every_role_opens(staff: Any, trial: Any, login: Any, who: str) -> None:
    """The navigation shows only what the role may open: following every link never answers 403."""
    from iliad7.web.reads import may_read_audit

    client = login(staff[who])
    links = _nav_links(client.get("/").content.decode())
    assert links and links[0][1] == "Home"
    for href, text in links:
        assert client.get(href).status_code == 200, (who, text, href)
    labels = {text.split()[0] for _, text in links}
    # The audit trail is linked exactly for its readers (it was linked for everyone, answering 403).
    assert ("Audit" in labels) == may_read_audit(staff[who])
    if ("Audit" not in labels) and who != "administrator":
        assert client.get("/audit/").status_code == 403


def test_queries_and_sae_clocks_are_in_the_navigation_with_their_counts(staff: Any, trial: Any, login: Any) -> None:
    # trial: a LAB query raised by the monitor (open, waiting on the site staff) and a serious AE not reported.
    coordinator = login(staff["coordinator@MSKCC"])
    links = dict((text.split()[0], text) for _, text in _nav_links(coordinator.get("/").content.decode()))
    assert links["Queries"].startswith("Queries 1") and links["SAE"].startswith("SAE clocks 1")
    # The monitor raised it: it waits on the site, not on them, until answered.
    monitor = login(staff["monitor@MSKCC"])
    links = dict((text.split()[0], text) for _, text in _nav_links(monitor.get("/").content.decode()))
    assert links["Queries"].startswith("Queries 0")
    # The other site's coordinator sees neither.
    other = login(staff["coordinator@MDACC"])
    links = dict((text.split()[0], text) for _, text in _nav_links(other.get("/").content.decode()))
    assert links["Queries"].startswith("Queries 0") and links["SAE"].startswith("SAE clocks 0")


def test_the_worklist_shows_due_visits_queries_clocks_and_re_consents(staff: Any, trial: Any, login: Any) -> None:
    participant = trial["randomized@MSKCC"]
    body = login(staff["coordinator@MSKCC"]).get("/worklist/").content.decode()
    due = body.split('id="due-h"', 1)[1].split("</section>", 1)[0]
    assert participant.screening_number in due and "Day 0 / baseline" in due and "VITALS" in due  # forms still to save
    queries = body.split('id="queries-h"', 1)[1].split("</section>", 1)[0]
    assert f"{participant.screening_number} LAB" in queries and "alc" in queries
    clocks = body.split('id="clocks-h"', 1)[1].split("</section>", 1)[0]
    assert participant.screening_number in clocks
    # The other site's coordinator sees none of it.
    other = login(staff["coordinator@MDACC"]).get("/worklist/").content.decode()
    assert participant.screening_number not in other


def test_an_open_query_is_flagged_beside_its_item_with_a_link_to_the_thread(
    staff: Any, trial: Any, login: Any, capture_values: Any
) -> None:
    import re

    from iliad7.store.models import DataQuery

    participant = trial["randomized@MSKCC"]
    query = DataQuery.objects.get(participant=participant, form="LAB", item="alc")
    visit, _ = capture_values.valid_values("LAB")
    body = (
        login(staff["coordinator@MSKCC"])
        .get(f"/participants/{participant.screening_number}/forms/LAB/?visit={visit}")
        .content.decode()
    )
    fields = dict(re.findall(r'<div class="field[^"]*" id="field-([^"]+)">(.*?)</div>', body, re.S))
    assert f'href="#q-{query.pk}-h"' in fields["alc"] and "Open query" in fields["alc"]
    assert f'id="q-{query.pk}-h"' in body  # the link's target: the thread
    assert not [item for item, html in fields.items() if item != "alc" and "query-flag" in html]


def _cells(body: str) -> dict[str, dict[str, str]]:
    """{screening number: {visit: cell state class}} of the record-status table."""
    import re

    head = re.findall(r'<th scope="col"><abbr title="[^"]*">([^<]+)</abbr></th>', body)
    found = {}
    for number, cells in re.findall(
        r"<tr><th scope=\"row\"><a href=\"[^\"]+\">([^<]+)</a>.*?</td>\s*(.*?)</tr>", body, re.S
    ):
        found[number] = dict(zip(head, re.findall(r'class="cell cell-([a-z_]+)"', cells), strict=True))
    return found


def test_the_record_status_dashboard_shows_each_visits_state_with_filters(
    staff: Any, trial: Any, login: Any, api_post: Any
) -> None:
    participant = trial["randomized@MSKCC"]  # BASELINE: STUDY-DRUG (dose 1) and a LAB with an open query
    number = participant.screening_number
    coordinator = login(staff["coordinator@MSKCC"])
    cells = _cells(coordinator.get("/dashboard/").content.decode())
    assert cells[number]["BASELINE"] == "open_query" and cells[number]["D45"] == "not_started"
    assert trial["randomized@MDACC"].screening_number not in cells  # another site's participants are not listed
    # Filters: by screening number, by visit (one column), by cell state.
    only = _cells(coordinator.get(f"/dashboard/?q={number}&visit=BASELINE").content.decode())
    assert list(only) == [number] and list(only[number]) == ["BASELINE"]
    queried = _cells(coordinator.get("/dashboard/?state=open_query").content.decode())
    assert list(queried) == [number]
    # The monitor sees the same; the site's pharmacist (no query rights) sees the visit incomplete, not queried.
    pharmacist = login(staff["unblinded-pharmacist@MSKCC"])
    assert _cells(pharmacist.get("/dashboard/").content.decode())[number]["BASELINE"] == "incomplete"
    # Answer and close the query: the visit is incomplete (only 2 of its 6 forms saved).
    from iliad7.store import actions
    from iliad7.store.models import DataQuery

    query = DataQuery.objects.get(participant=participant)
    actions.answer_query(query, text="560 confirmed", acting_user=staff["coordinator@MSKCC"], channel="web")
    actions.close_query(query, acting_user=staff["monitor@MSKCC"], channel="web")
    cells = _cells(login(staff["monitor@MSKCC"]).get(f"/dashboard/?q={number}").content.decode())
    assert cells[number]["BASELINE"] == "incomplete"
    # Bad filter input is no error: an unknown visit shows no column, nothing matches an unknown state.
    assert coordinator.get("/dashboard/?visit=../x&state=bogus&status=x%27&q=" + "x" * 500).status_code == 200


def test_statuses_are_shown_in_words_and_the_phone_layout_keeps_the_status_column(
    staff: Any, trial: Any, login: Any
) -> None:
    participant = trial["randomized@MSKCC"]  # dose 1 given: on_treatment
    client = login(staff["coordinator@MSKCC"])
    listing = client.get("/participants/").content.decode()
    assert ">On treatment</span>" in listing and ">on_treatment<" not in listing
    assert '<table class="stack">' in listing and 'data-label="Status"' in listing  # cards at 390 px (iliad7.css)
    page = client.get(f"/participants/{participant.screening_number}/").content.decode()
    assert ">On treatment</span>" in page
    calendar = client.get(f"/participants/{participant.screening_number}/calendar/").content.decode()
    assert '<table class="calendar stack">' in calendar and ">Upcoming</span>" in calendar


def test_a_signed_casebook_changed_after_its_signature_is_no_longer_shown_as_signed(
    staff: Any, trial: Any, login: Any, capture_values: Any, totp: Any
) -> None:
    from datetime import datetime

    from iliad7.store import actions
    from iliad7.store.actions.pharmacy import site_zone
    from iliad7.store.models import DataQuery

    participant = trial["randomized@MSKCC"]
    number = participant.screening_number
    coordinator, investigator = staff["coordinator@MSKCC"], staff["investigator@MSKCC"]
    query = DataQuery.objects.get(participant=participant)
    actions.answer_query(query, text="560 confirmed", acting_user=coordinator, channel="web")
    actions.close_query(query, acting_user=staff["monitor@MSKCC"], channel="web")
    saved_vitals = capture_values.fill_visit(participant, "BASELINE", coordinator)["VITALS"]
    today = datetime.now(site_zone(participant.site)).date().isoformat()  # the site's day, not the server's
    actions.save_form(
        participant, "END-OF-STUDY", {"end_status": "completed", "end_date": today}, acting_user=coordinator,
        channel="web",
    )  # fmt: skip
    # The trial fixture's emergency unblinding used this 30-s step's code (a code is accepted once):
    # let the step pass as if the investigator signed a minute later.
    investigator.totpdevice_set.update(last_t=-1)
    actions.sign_casebook(participant, acting_user=investigator, password=PASSWORD, otp_token=totp(investigator))
    monitor = login(staff["monitor@MSKCC"])
    assert _cells(monitor.get(f"/dashboard/?q={number}").content.decode())[number]["BASELINE"] == "signed"
    # A correction after the signature breaks it: the visit is complete again, waiting for a new signature.
    changed = dict(saved_vitals, pulse=str(int(saved_vitals["pulse"]) + 1))
    actions.save_form(
        participant, "VITALS", changed, visit="BASELINE", acting_user=coordinator, channel="web",
        reason="transcription error",
    )  # fmt: skip
    assert _cells(monitor.get(f"/dashboard/?q={number}").content.decode())[number]["BASELINE"] == "complete"
