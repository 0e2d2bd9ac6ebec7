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
        from django.db.models.signals import post_migrate

        from iliad7.store import security_events

        security_events.connect()
        post_migrate.connect(_ensure_triggers, sender=self)


def _ensure_triggers(sender: object, using: str = "default", plan: list[tuple[object, bool]] | None = None,
                     **kwargs: object) -> None:  # fmt: skip
    """After a forward migrate, put back any trigger a table rebuild dropped (iliad7.store.triggers.ensure_all)."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    from iliad7.store.triggers import ensure_all

    if any(backwards for _, backwards in plan or []):
        return  # a reverse migration removes triggers on purpose
    connection = connections[using]
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return  # migrated part of the way: the triggers are for the final schema, the migrations make them
    ensure_all(connection)
