"""The web app of iliad7: server-rendered pages with HTMX and the django-ninja JSON API.

Views and endpoints are thin: they read through `iliad7.store.access`, change
through `iliad7.store.actions`, and judge through the pure packages
(`iliad7.eligibility`, `iliad7.schedule`, `iliad7.dosing`). Pages record the
channel `web`, the API `api`.
"""
