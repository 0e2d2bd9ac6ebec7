"""Django app configuration of the trial database."""

from __future__ import annotations

from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "iliad7.store"
    label = "store"
    verbose_name = "ILIAD-7 trial database"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Login, failed-login and lockout events reach the audit trail through
        # these receivers (each calls the named action record_security_event).
        from iliad7.store import security_events

        security_events.connect()
