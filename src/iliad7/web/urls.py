"""URLs of the web pages (namespace `web`); the API is mounted at /api/ in iliad7.urls."""

from __future__ import annotations

from urllib.parse import quote, unquote

from django.urls import path, register_converter

from iliad7.web import (
    capture_views,
    dashboard_views,
    export_views,
    infection_views,
    participant_views,
    prescreen_views,
    report_views,
    trial_views,
    views,
    worklist_views,
)


class ScreeningNumberConverter:
    """A screening number in a page's address, whatever was stored.

    New numbers follow one pattern (`iliad7.inputs.screening_number`), but a number stored before
    that rule (`../../etc`) must still give a link rather than a failed page: it is percent-encoded
    whole, so a `/` in it never becomes a path separator, and decoded back when the page is asked for.
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        return quote(str(value), safe="")


register_converter(ScreeningNumberConverter, "screening")

app_name = "web"

P = "participants/<screening:screening_number>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("notices/<int:notice_id>/dismiss", views.dismiss_notice, name="dismiss-notice"),
    path("participants/", views.participant_list, name="participants"),
    path("participants/new", views.participant_create, name="participant-create"),
    path(P, participant_views.overview, name="participant"),
    path(P + "data/", participant_views.data, name="participant-data"),
    path(P + "items/", participant_views.item_record, name="item-record"),
    path(P + "doses/", participant_views.doses, name="doses"),
    path(P + "doses/correct", participant_views.dose_correct, name="dose-correct"),
    path(P + "screening/", views.screening, name="screening"),
    path(P + "screening/evaluate", views.screening_evaluate, name="screening-evaluate"),
    path(P + "screening/fail", views.screen_failure, name="screen-failure"),
    path(P + "consent/", views.consent, name="consent"),
    path(P + "randomize/", views.randomize, name="randomize"),
    path(P + "unblind/", views.unblind, name="unblind"),
    path(P + "pharmacy/", views.pharmacy, name="pharmacy"),
    path(P + "calendar/", capture_views.calendar, name="calendar"),
    path(P + "forms/<str:form_id>/", capture_views.form, name="form"),
    path(P + "forms/<str:form_id>/check", capture_views.form_check, name="form-check"),
    path(P + "forms/<str:form_id>/queries", capture_views.query_raise, name="query-raise"),
    path(P + "forms/<str:form_id>/sdv", capture_views.form_sdv, name="form-sdv"),
    path(P + "forms/<str:form_id>/lock", capture_views.form_lock, name="form-lock"),
    path(P + "casebook/", capture_views.casebook, name="casebook"),
    path("queries/", capture_views.queries, name="queries"),
    path("queries/<int:query_id>/", capture_views.query_step, name="query-step"),
    path("sae-clocks/", capture_views.sae_clocks, name="sae-clocks"),
    path("worklist/", worklist_views.worklist, name="worklist"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("trial/", trial_views.trial_overview, name="trial"),
    path("screening-log/", views.screening_log, name="screening-log"),
    path("pharmacy/<str:site_code>/", views.pharmacy_stock, name="pharmacy-stock"),
    path("unblinding-events/", views.unblinding_events, name="unblinding-events"),
    path("audit/", views.audit_trail, name="audit"),
    path("infections/", infection_views.infections, name="infections"),
    path("reports/", report_views.reports, name="reports"),
    path("prescreen/", prescreen_views.worklist, name="prescreen"),
    path("prescreen/<int:candidate_id>/", prescreen_views.candidate, name="prescreen-candidate"),
    path("prescreen/<int:candidate_id>/start", prescreen_views.start, name="prescreen-start"),
    path("reports/<str:name>/<str:filename>", report_views.report_file, name="report-file"),
    path("exports/", export_views.export_list, name="exports"),
    path("exports/<str:job_id>/", export_views.export_job, name="export"),
    path("exports/<str:job_id>/download", export_views.export_download, name="export-download"),
]
