"""Start Django for the CLI and for scripts, once, from the environment."""

from __future__ import annotations

import os


def setup() -> None:
    """Configure Django with iliad7.settings unless it is already set up (tests, web)."""
    from django.apps import apps

    if apps.ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iliad7.settings")
    import django

    django.setup()


def migrate(verbosity: int = 0) -> None:
    """Create or bring the database schema up to date (no-op when it is)."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)
