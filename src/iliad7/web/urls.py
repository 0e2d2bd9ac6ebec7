"""URLs of the web pages (namespace `web`); the API is mounted at /api/ in iliad7.urls."""

from __future__ import annotations

from django.urls import path

from iliad7.web import capture_views, infection_views, report_views, views

app_name = "web"

P = "participants/<str:screening_number>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("participants/", views.participant_list, name="participants"),
    path("participants/new", views.participant_create, name="participant-create"),
    path(P, views.participant_detail, name="participant"),
    path(P + "items/", views.item_record, name="item-record"),
    path(P + "doses/", views.dose_given, name="dose-given"),
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
    path("screening-log/", views.screening_log, name="screening-log"),
    path("pharmacy/<str:site_code>/", views.pharmacy_stock, name="pharmacy-stock"),
    path("unblinding-events/", views.unblinding_events, name="unblinding-events"),
    path("audit/", views.audit_trail, name="audit"),
    path("infections/", infection_views.infections, name="infections"),
    path("reports/", report_views.reports, name="reports"),
    path("reports/<str:name>/<str:filename>", report_views.report_file, name="report-file"),
]
