"""Django app entry of the web pages (templates and static files are found through it)."""

from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "iliad7.web"
    label = "iliad7_web"
    verbose_name = "iliad7 web pages and API"
