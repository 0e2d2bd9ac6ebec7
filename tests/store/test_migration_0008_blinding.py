"""Migration 0008 (issue 19): a list generated before it keeps its seed, sealed; the plain column is gone."""

from __future__ import annotations

import subprocess
import sys

MIGRATE_THROUGH_0008 = r"""
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iliad7.settings")
django.setup()
from datetime import UTC, datetime
from django.core.management import call_command
from django.db import connection
call_command("migrate", "store", "0007", interactive=False, verbosity=0)
with connection.cursor() as cursor:
    cursor.execute("INSERT INTO store_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
                   "is_active, date_joined, full_name) VALUES ('!', %s, 'old-stat', '', '', '', %s, %s, %s, '')",
                   [False, False, True, datetime.now(UTC)])
    cursor.execute("SELECT id FROM store_user WHERE username = 'old-stat'")
    user_id = cursor.fetchone()[0]
    cursor.execute("INSERT INTO store_allocationlist (seed, strata, slots_per_stratum, design, created_by_id, "
                   "created_at, reason, active) VALUES (%s, %s, 4, %s, %s, %s, '', %s)",
                   [123456789012, '["MSKCC", "MDACC"]', '{}', user_id, datetime.now(UTC), True])
call_command("migrate", interactive=False, verbosity=0)
from iliad7.store.blinding_key import open_seed
from iliad7.store.models import AllocationList
from iliad7.store.triggers import expected_trigger_names, installed_trigger_names
stored = AllocationList.objects.get()
assert "123456789012" not in stored.sealed_seed
assert open_seed(stored.sealed_seed) == 123456789012
with connection.cursor() as cursor:
    columns = [c.name for c in connection.introspection.get_table_description(cursor, "store_allocationlist")]
assert "seed" not in columns, columns
assert expected_trigger_names(connection.vendor) <= installed_trigger_names(connection)
print("ok")
"""


def test_an_existing_seed_is_sealed_and_the_plain_column_removed(fresh_database_env) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-c", MIGRATE_THROUGH_0008],
        env=fresh_database_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
