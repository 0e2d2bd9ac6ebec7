"""Triggers refusing UPDATE and DELETE on the IRT's records (screening versions, consents, unblindings, drug)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import migrations

from iliad7.store.triggers import IRT_APPEND_ONLY_TABLES, create_statements, drop_statements


def _run(statements_for: Any) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements_for(schema_editor.connection.vendor):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = (("store", "0003_irt"),)

    operations = (
        migrations.RunPython(
            _run(partial(create_statements, tables=IRT_APPEND_ONLY_TABLES)),
            _run(partial(drop_statements, tables=IRT_APPEND_ONLY_TABLES)),
            elidable=False,
        ),
    )
