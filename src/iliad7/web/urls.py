"""URLs of the web pages (namespace `web`); the API is mounted at /api/ in iliad7.urls."""

from __future__ import annotations

from django.urls import path

from iliad7.web import views

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
    path("screening-log/", views.screening_log, name="screening-log"),
    path("pharmacy/<str:site_code>/", views.pharmacy_stock, name="pharmacy-stock"),
    path("unblinding-events/", views.unblinding_events, name="unblinding-events"),
    path("audit/", views.audit_trail, name="audit"),
]
