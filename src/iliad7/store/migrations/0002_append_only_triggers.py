"""Triggers refusing UPDATE and DELETE on audit records, item values and signatures."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import migrations

from iliad7.store.triggers import APPEND_ONLY_TABLES, create_statements, drop_statements


def _run(statements_for: Any) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements_for(schema_editor.connection.vendor):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = (("store", "0001_initial"),)

    # Only this migration's tables: later tables get their triggers in the migration that creates them.
    operations = (
        migrations.RunPython(
            _run(partial(create_statements, tables=APPEND_ONLY_TABLES)),
            _run(partial(drop_statements, tables=APPEND_ONLY_TABLES)),
            elidable=False,
        ),
    )
