"""The trial overview (issue 17): enrolment against the protocol's target, the funnel, the pooled ALC, completeness.

The page's numbers are the store's; the target is the protocol's; a role sees its own sites only;
and, the strongest check of blinding, the page a role reads is byte-identical when the arms of every
participant are swapped in the allocation list (the ALC differs by participant, so a chart split,
ordered or coloured by arm would change).
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from iliad7.web import charts
from iliad7.web.trial_figures import (
    ParticipantFacts,
    alc_by_visit,
    cells_per_mm3,
    completeness,
    cumulative,
    due_forms,
    funnel,
    quartiles,
    stages_reached,
)

db = pytest.mark.django_db

# ---------------------------------------------------------------- the pure numbers and geometry


def test_a_randomized_participant_counts_as_eligible_and_consented_and_completion_needs_randomization() -> None:
    randomized = ParticipantFacts("MSKCC", "completed", False, False, date(2026, 5, 1), True)
    assert stages_reached(randomized) == {"screened", "eligible", "consented", "randomized", "dosed", "completed"}
    screened = ParticipantFacts("MSKCC", "screened", True, False, None, False)
    assert stages_reached(screened) == {"screened", "eligible"}
    counts = funnel([randomized, screened], ["MDACC", "MSKCC"])
    assert counts["eligible"] == {"MDACC": 0, "MSKCC": 2} and counts["randomized"] == {"MDACC": 0, "MSKCC": 1}
    with pytest.raises(ValueError, match="site"):
        funnel([randomized], ["MDACC"])  # a participant of a site not shown is an error, never dropped silently


def test_quartiles_are_linear_between_order_statistics_as_numpy_and_r_type_7() -> None:
    import numpy as np

    for values in ([650.0], [400.0, 900.0], [1.0, 2.0, 3.0, 4.0], [5.0, 1.0, 9.0, 3.0, 7.0, 2.5]):
        q = quartiles(values)
        expected = np.quantile(values, [0.25, 0.5, 0.75])
        assert (q.q1, q.median, q.q3) == pytest.approx(tuple(expected))
    with pytest.raises(ValueError):
        quartiles([])


def test_alc_is_pooled_per_visit_in_cells_per_mm3_one_count_per_participant() -> None:
    visits = [("SCREENING", "Screening", -3), ("BASELINE", "Baseline", 0), ("D21", "Day 21", 21)]
    counts = [
        (1, "BASELINE", 1, "650", "cells/uL"),
        (2, "BASELINE", 1, "0.4", "10^9/L"),  # 400 cells/mm3
        (3, "BASELINE", 2, "2000", "cells/mm3"),
        (3, "BASELINE", 1, "900", "cells/mm3"),  # the first instance counts, not the second
        (4, "BASELINE", 1, "not a number", "cells/mm3"),
        (5, "BASELINE", 1, "700", "g/dL"),  # not a cell count
        (1, "D21", 1, "1200", ""),
    ]
    summaries = alc_by_visit(counts, visits)
    assert [(s.visit, s.day, s.n) for s in summaries] == [("BASELINE", 0, 3), ("D21", 21, 1)]
    assert summaries[0].median == 650 and summaries[0].q1 == 525 and summaries[0].q3 == 775
    assert cells_per_mm3("1.2", "x10^9/L") == 1200 and cells_per_mm3("nan", "cells/mm3") is None


def test_completeness_counts_only_visits_whose_window_opened_and_a_done_visit_whole() -> None:
    assert due_forms("upcoming", 6, 0, done=False) == (0, 0)
    assert due_forms("not_applicable", 6, 2, done=False) == (0, 0)
    assert due_forms("due", 6, 2, done=False) == (6, 2)
    assert due_forms("missed", 6, 0, done=False) == (6, 0)
    assert due_forms("done", 3, 0, done=True) == (3, 3)  # screening: done by the record that allowed randomization
    rows = completeness([("MSKCC", 6, 2), ("MDACC", 3, 3), ("MSKCC", 4, 4)], ["MDACC", "MSKCC"])
    assert [(r.site, r.saved, r.due) for r in rows] == [("MDACC", 3, 3), ("MSKCC", 6, 10), ("Total", 9, 13)]
    assert charts.percent(199, 200) == "99 %" and charts.percent(200, 200) == "100 %" and charts.percent(0, 0) == "—"


def test_cumulative_counts_step_once_per_day() -> None:
    days = [date(2026, 1, 3), date(2026, 1, 1), date(2026, 1, 3)]
    assert cumulative(days) == [(date(2026, 1, 1), 1), (date(2026, 1, 3), 3)]


def test_chart_geometry_maps_data_to_the_box_and_ticks_cover_the_range() -> None:
    assert charts.nice_ticks(0, 48) == [0, 10, 20, 30, 40, 50]
    assert charts.nice_ticks(0, 1, 5, min_step=1) == [0, 1]  # whole days, not 0.2-day ticks
    chart = charts.line_chart(
        [charts.Series("Total", ((0.0, 0.0), (0.0, 1.0), (10.0, 2.0)), step=True)],
        x=(0, 10), y=(0, 2), x_label=str, references=(charts.Reference(48, "Target 48"),), y_min_step=1,
    )  # fmt: skip
    assert chart.y_ticks[-1].label == "50" and chart.references[0].y > chart.top  # the target fits on the axis
    path = chart.series[0].path
    assert path.startswith(f"M{chart.left} {chart.bottom}") and path.endswith(
        f"L{chart.right} {chart.series[0].label_y}"
    )
    assert re.fullmatch(r"M[\d.]+ [\d.]+( L[\d.]+ [\d.]+)+", path)
    # a staircase: every segment is horizontal or vertical
    points = [tuple(map(float, p[1:].split())) for p in path.split(" L")[1:]]
    assert all(a[0] == b[0] or a[1] == b[1] for a, b in itertools.pairwise(points))
    bars = charts.stacked_bars([("Screened", [3, 1]), ("Randomized", [1, 0])], ["A", "B"])
    first = bars.bars[0]
    assert [g.count for g in first.segments] == [3, 1] and first.segments[1].x == first.segments[0].x + first.segments[
        0
    ].width
    assert len(bars.bars[1].segments) == 1  # an empty segment is not drawn


@pytest.mark.parametrize("module", ["iliad7.web.charts", "iliad7.web.trial_figures"])
def test_the_overview_numbers_and_geometry_import_no_web_or_database_code(module: str) -> None:
    forbidden = ["django", "ninja", "psycopg", "sqlite3"]
    code = f"import sys\nimport {module}\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- the page


def _main(body: str) -> str:
    return body.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def _table(body: str, caption: str) -> dict[str, list[str]]:
    """{row header: cells} of the table with `caption`; the header row under the key ""."""
    table = re.search(rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", body, re.S)
    assert table is not None, caption

    def cells(row: str) -> list[str]:
        return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]

    head, rows = table.group(1).split("</thead>", 1)
    found = {"": cells(head)[1:]}
    for row in re.findall(r"<tr>(.*?)</tr>", rows, re.S):
        found[cells(row)[0]] = cells(row)[1:]
    return found


def _randomize_with_alc(staff: dict[str, Any], example_record: dict[str, Any], capture_values: Any,
                        site: str, alc_values: list[str]) -> list[Any]:  # fmt: skip
    """More randomized participants at `site`, each with a baseline ALC, made through the app's actions."""
    from iliad7.store import actions

    coordinator = staff[f"coordinator@{site}"]
    made = []
    for alc in alc_values:
        participant = actions.create_participant(site=site, acting_user=coordinator, channel="web")
        actions.save_screening(participant, example_record, acting_user=coordinator, channel="web")
        actions.record_consent(
            participant, consent_type="written", given_by="participant",
            obtained_at=datetime.now(UTC) - timedelta(hours=3), form_version="v1.0", obtained_by="Dr Consenter",
            acting_user=coordinator, channel="web",
        )  # fmt: skip
        actions.randomize_participant(
            participant, acting_user=staff[f"investigator@{site}"], confirmation=True, channel="web",
            randomized_at=datetime.now(UTC) - timedelta(hours=2),
        )  # fmt: skip
        visit, lab = capture_values.valid_values("LAB")
        lab["collected_at"] += "+00:00"
        lab["alc"] = alc
        actions.save_form(participant, "LAB", lab, visit=visit, acting_user=coordinator, channel="web")
        participant.refresh_from_db()
        made.append(participant)
    return made


@db
def test_the_funnel_and_enrolment_are_what_the_store_holds(staff: Any, trial: Any, login: Any) -> None:
    from iliad7.store.models import Consent, DoseAdministration, Participant

    body = _main(login(staff["data-manager"]).get("/trial/").content.decode())
    funnel_rows = _table(body, "Participants who reached each step")
    assert funnel_rows[""] == ["MDACC", "MSKCC", "Total"]
    # The `trial` fixture: per site one new, one screened (eligible record), one consented, one randomized;
    # dose 1 given at MSKCC only.
    assert funnel_rows["Screened"] == ["4", "4", "8"]
    assert funnel_rows["Eligible"] == ["3", "3", "6"]
    assert funnel_rows["Consented"] == ["2", "2", "4"]
    assert funnel_rows["Randomized"] == ["1", "1", "2"]
    assert funnel_rows["Dose 1 given"] == ["0", "1", "1"]
    assert funnel_rows["Completed day 45"] == ["0", "0", "0"]
    # ... and the same numbers read straight from the store.
    for i, site in enumerate(["MDACC", "MSKCC"]):
        here = Participant.objects.filter(site__code=site)
        assert int(funnel_rows["Screened"][i]) == here.count()
        assert int(funnel_rows["Randomized"][i]) == here.exclude(usubjid=None).count()
        assert (
            int(funnel_rows["Consented"][i])
            == Consent.objects.filter(participant__in=here).values("participant").distinct().count()
        )
        assert (
            int(funnel_rows["Dose 1 given"][i])
            == DoseAdministration.objects.filter(participant__in=here, dose_number=1).count()
        )
    statuses = _table(body, "Participants by their status now")
    assert sum(int(n) for cells in list(statuses.values())[1:] for n in cells) == Participant.objects.count()
    # Enrolment: both randomized 2 h ago, each on its site's day (New York's and Chicago's days differ
    # between 04:00 and 06:00 UTC, so there are one or two days); cumulative per site and in total.
    assert re.search(r"<strong>2</strong> participants randomized", body)
    enrolment = _table(body, "New and cumulative randomized participants on each day with a randomization")
    days = sorted((k, v) for k, v in enrolment.items() if k)
    assert 1 <= len(days) <= 2
    assert [sum(int(cells[i]) for _, cells in days) for i in (0, 2)] == [1, 1]  # one new at each site
    assert days[-1][1][1::2] == ["1", "1"] and days[-1][1][4] == "2"  # cumulative: 1 per site, 2 in all
    assert all(date.fromisoformat(day) >= date.today() - timedelta(days=1) for day, _ in days)
    assert '<svg class="chart"' in body and body.count('role="img"') == 4
    for title in ("enrol-title", "funnel-title", "alc-title", "complete-title"):
        assert f'aria-labelledby="{title}' in body and f'<title id="{title}">' in body


@db
def test_the_target_is_the_protocols(staff: Any, trial: Any, login: Any, monkeypatch: Any) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.web import trial_views

    protocol = load_protocol()
    client = login(staff["sponsor-viewer"])
    body = _main(client.get("/trial/").content.decode())
    assert protocol.enrollment.planned == 48
    assert '<strong id="enrol-target">48</strong>' in body and ">Target 48</text>" in body
    amended = protocol.model_copy(update={"enrollment": protocol.enrollment.model_copy(update={"planned": 60})})
    monkeypatch.setattr(trial_views, "load_protocol", lambda: amended)
    body = _main(client.get("/trial/").content.decode())
    assert '<strong id="enrol-target">60</strong>' in body and ">Target 60</text>" in body
    assert "Target 48" not in body and "target of 48" not in body


@db
def test_a_site_bound_role_sees_only_its_own_site(
    staff: Any, trial: Any, login: Any, example_record: Any, capture_values: Any
) -> None:
    _randomize_with_alc(staff, example_record, capture_values, "MSKCC", ["300", "500"])
    _randomize_with_alc(staff, example_record, capture_values, "MDACC", ["800"])
    for who, site, other in (("coordinator@MDACC", "MDACC", "MSKCC"), ("monitor@MSKCC", "MSKCC", "MDACC")):
        body = _main(login(staff[who]).get("/trial/").content.decode())
        assert other not in body, who
        assert f"your site: {site}" in body
        funnel_rows = _table(body, "Participants who reached each step")
        assert funnel_rows[""] == [site, "Total"]
        mine = {"MDACC": 5, "MSKCC": 6}[site]
        assert funnel_rows["Screened"] == [str(mine), str(mine)]
        alc = _table(body, "Absolute lymphocyte count (cells/mm³) by visit, all participants pooled")
        # The site's baseline counts only: MSKCC the fixture's 650 with 300 and 500; MDACC the 800 alone.
        expected = {"MSKCC": ["0", "3", "400", "500", "575"], "MDACC": ["0", "1", "800", "800", "800"]}[site]
        assert alc["Day 0 / baseline (dose 1)"] == expected, who
    every = _main(login(staff["blinded-statistician"]).get("/trial/").content.decode())
    assert "every site" in every
    alc = _table(every, "Absolute lymphocyte count (cells/mm³) by visit, all participants pooled")
    assert alc["Day 0 / baseline (dose 1)"] == ["0", "4", "450", "575", "688"]


@db
def test_completeness_follows_the_forms_saved_at_due_visits(
    staff: Any, trial: Any, login: Any, capture_values: Any
) -> None:

    client = login(staff["data-manager"])
    caption = "Forms saved of those due, by site"
    before = _table(_main(client.get("/trial/").content.decode()), caption)
    participant = trial["randomized@MSKCC"]
    saved_now = len(capture_values.fill_visit(participant, "BASELINE", staff["coordinator@MSKCC"]))
    assert saved_now > 0
    after = _table(_main(client.get("/trial/").content.decode()), caption)
    assert after["MSKCC"][1] == before["MSKCC"][1]  # the same forms are due
    assert int(after["MSKCC"][0]) == int(before["MSKCC"][0]) + saved_now
    assert after["MDACC"] == before["MDACC"]
    assert int(after["Total"][0]) == int(after["MSKCC"][0]) + int(after["MDACC"][0])


@db
@pytest.mark.parametrize("who", ["administrator", "infection-adjudicator"])
def test_a_role_that_sees_no_participant_gets_403_and_no_link(who: str, staff: Any, trial: Any, login: Any) -> None:
    client = login(staff[who])
    response = client.get("/trial/")
    assert response.status_code == 403
    assert 'href="/trial/"' not in client.get("/").content.decode()


@db
@pytest.mark.parametrize("who", ["coordinator@MSKCC", "unblinded-pharmacist@MDACC", "data-manager", "dsmb-member"])
def test_the_roles_that_see_participants_have_the_link(who: str, staff: Any, trial: Any, login: Any) -> None:
    client = login(staff[who])
    assert 'href="/trial/">Trial overview</a>' in client.get("/").content.decode()
    assert client.get("/trial/").status_code == 200


# What changes from one response to the next whatever the data: the CSRF tokens and nonces.
_VOLATILE = (
    re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'),
    re.compile(r'"X-CSRFToken": "[^"]*"'),
    re.compile(r'nonce="[^"]*"'),
)


def _swap_every_arm() -> None:
    """Swap CYT107 and placebo in every slot of the allocation list (a test instrument: guards dropped)."""
    from django.db import connection

    from iliad7.store.triggers import guard_create_statements, guard_drop_statements

    with connection.cursor() as cursor:
        for sql in guard_drop_statements(connection.vendor, ("store_allocationslot",)):
            cursor.execute(sql)
        cursor.execute(
            "UPDATE store_allocationslot SET arm = CASE WHEN arm = 'CYT107' THEN 'placebo' ELSE 'CYT107' END"
        )
        for sql in guard_create_statements(connection.vendor, ("store_allocationslot",)):
            cursor.execute(sql)


@db
def test_the_page_is_byte_identical_when_every_arm_is_swapped(
    staff: Any, trial: Any, login: Any, example_record: Any, capture_values: Any
) -> None:
    from iliad7.store.access import access_allocation

    counts = {"MSKCC": ["250", "420", "880", "1500"], "MDACC": ["300", "990", "1210"]}
    extra = [
        p for site, alc in counts.items() for p in _randomize_with_alc(staff, example_record, capture_values, site, alc)
    ]
    alc_of = dict(zip([p.pk for p in extra], [float(v) for alc in counts.values() for v in alc], strict=True))
    statistician = staff["unblinded-statistician"]
    arms = {p.pk: access_allocation(statistician, p) for p in extra}

    def medians_by_arm(arm_of: dict[int, str]) -> dict[str, float]:
        return {a: quartiles([alc_of[pk] for pk in arm_of if arm_of[pk] == a]).median for a in set(arm_of.values())}

    assert set(arms.values()) == {"CYT107", "placebo"}  # both arms have counts
    readers = ["coordinator@MSKCC", "investigator@MDACC", "monitor@MSKCC", "unblinded-pharmacist@MSKCC",
               "data-manager", "dsmb-member", "blinded-statistician", "sponsor-viewer",
               "unblinded-statistician"]  # fmt: skip
    clients = {who: login(staff[who]) for who in readers}

    def pages() -> dict[str, str]:
        found = {}
        for who, client in clients.items():
            response = client.get("/trial/")
            assert response.status_code == 200, who
            body = response.content.decode()
            for pattern in _VOLATILE:
                body = pattern.sub("", body)
            found[who] = body
        return found

    before = pages()
    _swap_every_arm()
    swapped = {p.pk: access_allocation(statistician, p) for p in extra}
    assert swapped != arms  # the swap took, and a chart split by arm would have changed:
    assert medians_by_arm(swapped) != medians_by_arm(arms)
    after = pages()
    assert [who for who in readers if before[who] != after[who]] == []
    # The unblinded statistician too: the overview is pooled for every role (by arm is the closed report's).
    assert "placebo" not in before["unblinded-statistician"].lower()
