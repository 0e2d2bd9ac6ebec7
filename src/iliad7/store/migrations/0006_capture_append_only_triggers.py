"""Triggers refusing UPDATE and DELETE on the data-capture records (query steps, SDV and lock events)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import migrations

from iliad7.store.triggers import CAPTURE_APPEND_ONLY_TABLES, create_statements, drop_statements


def _run(statements_for: Any) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements_for(schema_editor.connection.vendor):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = (("store", "0005_capture"),)

    operations = (
        migrations.RunPython(
            _run(partial(create_statements, tables=CAPTURE_APPEND_ONLY_TABLES)),
            _run(partial(drop_statements, tables=CAPTURE_APPEND_ONLY_TABLES)),
            elidable=False,
        ),
    )
