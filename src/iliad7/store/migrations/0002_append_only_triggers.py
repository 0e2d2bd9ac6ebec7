"""Triggers refusing UPDATE and DELETE on audit records, item values and signatures."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from iliad7.store.triggers import create_statements, drop_statements


def _run(statements_for: Any) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements_for(schema_editor.connection.vendor):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = (("store", "0001_initial"),)

    operations = (migrations.RunPython(_run(create_statements), _run(drop_statements), elidable=False),)
