"""The participant list: search, filter by site and status, sort (issue 17), within what the user may see."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def _rows(client: Any, query: str = "") -> list[tuple[str, str, str]]:
    """(screening number, site, status) of each row shown."""
    answer = client.get(f"/participants/{query}")
    page = answer.content.decode()
    return re.findall(
        r'<tr><th scope="row"><a href="[^"]+">([^<]+)</a></th><td data-label="USUBJID">[^<]*</td>'
        r'<td data-label="Site">([^<]+)</td><td data-label="Status"><span class="status status-([a-z_]+)">',
        page,
    )


def test_search_filters_and_sorts_never_show_another_sites_participant(staff: Any, trial: Any, login: Any) -> None:
    from iliad7.store.models import Participant

    monitor = login(staff["monitor@MSKCC"])
    everyone = _rows(monitor)
    assert everyone and {site for _, site, _ in everyone} == {"MSKCC"}
    assert [sn for sn, _, _ in everyone] == sorted(sn for sn, _, _ in everyone)
    # Another site's screening number is not found by searching for it, nor by filtering on its site.
    other = trial["randomized@MDACC"].screening_number
    assert _rows(monitor, f"?q={other}") == []
    assert monitor.get("/participants/?site=MDACC").status_code == 400
    # Search by part of the screening number or the USUBJID, either case.
    randomized = trial["randomized@MSKCC"]
    assert [sn for sn, _, _ in _rows(monitor, f"?q={randomized.screening_number.lower()}")] == [
        randomized.screening_number
    ]
    assert randomized.usubjid and [sn for sn, _, _ in _rows(monitor, f"?q={randomized.usubjid[-4:]}")] == [
        randomized.screening_number
    ]
    # Status filter: exactly the participants with that status.
    for status in {s for _, _, s in everyone}:
        expected = set(
            Participant.objects.filter(site__code="MSKCC", status=status).values_list("screening_number", flat=True)
        )
        assert {sn for sn, _, _ in _rows(monitor, f"?status={status}")} == expected, status
    by_status = _rows(monitor, "?sort=status")
    assert [s for _, _, s in by_status] == sorted(s for _, _, s in by_status)
    assert sorted(by_status) == sorted(everyone)  # a sort shows the same rows


def test_an_unknown_filter_is_named_not_ignored(staff: Any, trial: Any, login: Any) -> None:
    client = login(staff["coordinator@MSKCC"])
    for query, field in (("?status=sleeping", "status: "), ("?sort=arm", "sort: "), ("?site=XYZ", "site: ")):
        answer = client.get(f"/participants/{query}")
        assert answer.status_code == 400 and field in answer.content.decode(), query
