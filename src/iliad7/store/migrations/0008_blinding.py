"""Issue 19: the allocation seed stored only sealed; transition guards on lists, slots and participants.

An existing list's seed is sealed under the blinding key (created in ILIAD7_HOME if the server has
none) before the plain column is removed. The guards are created last, after the table rebuild
that removing a column means on SQLite (which would drop a trigger on that table).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

from iliad7.store.triggers import guard_create_statements, guard_drop_statements


def _seal_existing_seeds(apps: Any, schema_editor: Any) -> None:
    from iliad7.store.blinding_key import seal_seed

    AllocationList = apps.get_model("store", "AllocationList")
    for row in AllocationList.objects.all().only("id", "seed"):
        AllocationList.objects.filter(pk=row.pk).update(sealed_seed=seal_seed(int(row.seed)))


def _unseal_seeds(apps: Any, schema_editor: Any) -> None:
    from iliad7.store.blinding_key import open_seed

    AllocationList = apps.get_model("store", "AllocationList")
    for row in AllocationList.objects.all().only("id", "sealed_seed"):
        AllocationList.objects.filter(pk=row.pk).update(seed=open_seed(row.sealed_seed))


def _guards(statements_for: Any) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for sql in statements_for(schema_editor.connection.vendor):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = (("store", "0007_infection_adjudication"),)

    operations = (
        migrations.AddField(
            model_name="allocationlist",
            name="sealed_seed",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="allocationlist",
            name="seed",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunPython(_seal_existing_seeds, _unseal_seeds, elidable=False),
        migrations.RemoveField(model_name="allocationlist", name="seed"),
        migrations.RunPython(_guards(guard_create_statements), _guards(guard_drop_statements), elidable=False),
    )
