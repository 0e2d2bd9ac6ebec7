"""The trial overview (issue 17): enrolment against the target, the screening funnel, the ALC, completeness.

Four charts drawn as inline SVG on the server (`iliad7.web.charts`), each with its numbers in a
table beneath. Everyone who sees participants opens it, over the sites they see: a coordinator,
investigator or monitor their own sites, trial-wide roles every site. The numbers come from
`iliad7.web.trial_figures`, over facts read here in a fixed number of queries; nothing reads the
arm, and the ALC is pooled over all participants for every role (the by-arm view belongs to the
DSMB's closed report), so the page is the same whatever the allocation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from iliad7.accounts.roles import ROLES, Capability
from iliad7.protocol import load_protocol
from iliad7.store import access
from iliad7.web import charts, navigation, reads
from iliad7.web.trial_figures import (
    FUNNEL_STAGES,
    TOTAL,
    ParticipantFacts,
    alc_by_visit,
    completeness,
    due_forms,
    enrolment,
    funnel,
    status_counts,
)
from iliad7.web.views import _user, page

MAX_SITE_LINES = 6  # the CSS has a colour and a dash pattern for this many lines besides the total


@page
def trial_overview(request: HttpRequest) -> HttpResponse:
    """Enrolment over time, the screening funnel, the pooled ALC by visit and completeness, by site."""
    from iliad7.store.actions.data_cut import data_cuts
    from iliad7.store.actions.pharmacy import site_zone
    from iliad7.store.actions.randomization import randomization_times
    from iliad7.store.models import Consent, DoseAdministration, ItemValue, ScreeningVersion

    user = _user(request)
    navigation.require(user, "trial")
    protocol = load_protocol()
    site_rows = list(access.visible_sites(user).order_by("code"))
    sites = [s.code for s in site_rows]
    participants = list(access.visible_participants(user).order_by("screening_number"))
    ids = [p.pk for p in participants]

    latest_version = dict(
        ScreeningVersion.objects.filter(participant_id__in=ids)
        .values_list("participant_id")
        .annotate(last=Max("version"))
        .values_list("participant_id", "last")
    )
    eligible = {
        pk
        for pk, version, verdict in ScreeningVersion.objects.filter(participant_id__in=ids).values_list(
            "participant_id", "version", "verdict"
        )
        if latest_version.get(pk) == version and verdict == "eligible"
    }
    consented = set(Consent.objects.filter(participant_id__in=ids).values_list("participant_id", flat=True))
    first_doses = DoseAdministration.objects.filter(participant_id__in=ids, dose_number=1)
    dosed = set(first_doses.values_list("participant_id", flat=True))
    randomized = [p for p in participants if p.usubjid]
    times = randomization_times(randomized)
    randomized_on = {p.pk: times[p.pk].astimezone(site_zone(p.site)).date() for p in randomized if p.pk in times}
    facts = [
        ParticipantFacts(
            site=p.site.code,
            status=p.status,
            eligible=p.pk in eligible,
            consented=p.pk in consented,
            randomized_on=randomized_on.get(p.pk),
            dosed=p.pk in dosed,
        )
        for p in participants
    ]
    target = protocol.enrollment.planned

    # Completeness: the calendar's own judgement of each visit (read at each participant's data cut).
    plans = reads.calendars(randomized)
    rows = []
    for p in randomized:
        plan = plans[p.pk]
        for visit in plan.visits:
            progress = plan.progress.get(visit.visit)
            if progress is None:
                continue
            n_due, n_saved = due_forms(visit.status, len(progress.forms), len(progress.saved), done=progress.done)
            rows.append((p.site.code, n_due, n_saved))
    complete = completeness(rows, sites)

    # The ALC: the current version of every saved count, pooled over every randomized participant.
    counts: dict[tuple[int, str, int], tuple[str, str]] = {}
    for pk, visit, instance, value, unit in (
        ItemValue.objects.filter(participant_id__in=[p.pk for p in randomized], form="LAB", item="alc")
        .exclude(visit="")
        .order_by("participant_id", "visit", "instance", "version")
        .values_list("participant_id", "visit", "instance", "value", "unit")
    ):
        counts[(pk, visit, instance)] = (value, unit)  # the latest version holds
    visits = [(v.id, v.name, v.target_day) for v in protocol.schedule.visits]
    alc = alc_by_visit(((pk, v, i, value, unit) for (pk, v, i), (value, unit) in counts.items()), visits)

    context = {
        "sites": sites,
        "trial_wide": _trial_wide(user),
        "target": target,
        "enrolment": _enrolment(facts, sites, target, _read_until(data_cuts(randomized))),
        "funnel": _funnel(facts, sites),
        "statuses": [
            {"status": status, "counts": [by_site[s] for s in sites]}
            for status, by_site in status_counts(facts, sites).items()
        ],
        "alc": _alc(alc),
        "completeness": _completeness(complete),
        "total_label": TOTAL,
    }
    return render(request, "iliad7/web/trial.html", context)


def _trial_wide(user: Any) -> bool:
    """Whether the user sees participants of every site (a trial-wide role), not only their own sites'."""
    specs = [ROLES[r] for r in access.roles_of(user)]
    return any(not spec.site_scoped and Capability.VIEW_PARTICIPANTS in spec.capabilities for spec in specs)


def _read_until(cuts: dict[int, datetime]) -> date:
    """The day the data are read up to: today, or the latest data cut in force when there is one (a cohort
    entered up to a data cut, as the demo's simulated trial, is not drawn on to today)."""
    today = datetime.now(UTC).date()
    if cuts:
        return min(today, max(cuts.values()).astimezone(UTC).date())
    return today


def _day_label(origin: date) -> Any:
    return lambda offset: (origin + timedelta(days=round(offset))).isoformat()


def _enrolment(facts: list[ParticipantFacts], sites: list[str], target: int, read_until: date) -> dict[str, Any]:
    """The enrolment chart and table; the count holds from the last randomization until `read_until`."""
    by_site = {site: [f.randomized_on for f in facts if f.site == site and f.randomized_on] for site in sites}
    series = enrolment({s: [d for d in days if d is not None] for s, days in by_site.items()})
    days = sorted(d for steps in series.values() for d, _ in steps)
    if not days:
        return {"chart": None, "series": series, "table": [], "total": 0}
    origin = days[0]
    end = max(days[-1], read_until)
    span = max((end - origin).days, 1)
    # A line per site (up to MAX_SITE_LINES) and the total last; one site alone is its own total.
    shown = [s for s in sites if series[s]][:MAX_SITE_LINES] if len(sites) > 1 else []
    names = [*shown, TOTAL] if shown else [TOTAL]
    lines = [
        charts.Series(
            name if name != TOTAL or len(sites) > 1 else sites[0],
            tuple((float((d - origin).days), float(n)) for d, n in series[name]),
            step=True,
        )
        for name in names
    ]
    # Start each line at zero on its first day, so the first randomization is a step up, not a dot.
    lines = [charts.Series(s.name, ((s.points[0][0], 0.0), *s.points), step=True) if s.points else s for s in lines]
    ticks = charts.nice_ticks(0, span, 5, min_step=1)
    chart = charts.line_chart(
        lines,
        x=(0, span),
        y=(0, max(n for _, n in series[TOTAL])),
        x_label=_day_label(origin),
        x_ticks=ticks,
        references=(charts.Reference(target, f"Target {target}"),),
        y_min_step=1,
    )
    table = []
    running = dict.fromkeys(sites, 0)
    per_day: dict[date, dict[str, int]] = {}
    for f in facts:
        if f.randomized_on is not None:
            per_day.setdefault(f.randomized_on, dict.fromkeys(sites, 0))[f.site] += 1
    for day in sorted(per_day):
        for site in sites:
            running[site] += per_day[day][site]
        cells = [(per_day[day][s], running[s]) for s in sites]
        table.append({"day": day, "cells": cells, "total": sum(running.values())})
    return {
        "chart": chart,
        "series": series,
        "table": table,
        "total": series[TOTAL][-1][1],
        "first": origin,
        "last": days[-1],
        "end": end,
        "omitted": [s for s in sites if series[s]][MAX_SITE_LINES:] if len(sites) > 1 else [],
    }


def _funnel(facts: list[ParticipantFacts], sites: list[str]) -> dict[str, Any]:
    counts = funnel(facts, sites)
    rows = [(label, [counts[stage][s] for s in sites]) for stage, label in FUNNEL_STAGES]
    return {
        "chart": charts.stacked_bars(rows, sites) if facts else None,
        "table": [{"label": label, "counts": list(by_site), "total": sum(by_site)} for label, by_site in rows],
    }


def _alc(summaries: list[Any]) -> dict[str, Any]:
    if not summaries:
        return {"chart": None, "table": []}
    days = [s.day for s in summaries]
    lo, hi = min(days), max(days)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    top = max(s.q3 for s in summaries)
    chart = charts.line_chart(
        [charts.Series("Median", tuple((float(s.day), s.median) for s in summaries))],
        bands=[charts.Band("Interquartile range", tuple((float(s.day), s.q1, s.q3) for s in summaries))],
        x=(lo, hi),
        y=(0, top),
        x_label=lambda v: f"{v:g}",
        x_ticks=sorted(set(days)),
        y_label=lambda v: f"{v:,.0f}",
    )
    return {"chart": chart, "table": summaries}


def _completeness(rows: list[Any]) -> dict[str, Any]:
    return {
        "chart": charts.share_bars([(r.site, r.saved, r.due) for r in rows]),
        "table": [
            {"site": r.site, "saved": r.saved, "due": r.due, "share": charts.percent(r.saved, r.due)} for r in rows
        ],
    }
