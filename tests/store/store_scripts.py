"""Helpers the CLI tests run in a subprocess against their own database.

python tests/store/store_scripts.py dump              # every store table as JSON
python tests/store/store_scripts.py populate USER     # participants, values, corrections
python tests/store/store_scripts.py screen USER N     # N screenings (concurrency test)
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def dump() -> None:
    from iliad7.store import models

    tables: dict[str, list[dict[str, Any]]] = {}
    for model in (
        models.ProtocolVersion,
        models.Site,
        models.User,
        models.RoleGrant,
        models.Participant,
        models.ItemValue,
        models.Signature,
        models.AuditRecord,
        models.AuditChainHead,
    ):
        rows = model.objects.order_by("pk").values()
        tables[model.__name__] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    print(json.dumps(tables, sort_keys=True))


def populate(username: str) -> None:
    from iliad7.store import actions
    from iliad7.store.models import User

    user = User.objects.get(username=username)
    for _ in range(3):
        p = actions.create_participant(site="MSKCC", acting_user=user, channel="cli")
        actions.record_consent(
            p,
            consent_type="written",
            given_by="participant",
            obtained_at=datetime(2021, 3, 5, 9, tzinfo=UTC),
            form_version="1.0",
            obtained_by="study coordinator",
            acting_user=user,
            channel="cli",
        )
        actions.record_item_value(
            p,
            form="LB",
            item="LYMPH",
            visit="D1",
            value="640",
            unit="cells/uL",
            acting_user=user,
            channel="cli",
        )
        actions.record_item_value(
            p,
            form="LB",
            item="LYMPH",
            visit="D1",
            value="460",
            unit="cells/uL",
            acting_user=user,
            channel="cli",
            reason="digits swapped",
        )


def screen(username: str, n: int) -> None:
    from iliad7.store import actions
    from iliad7.store.models import User

    user = User.objects.get(username=username)
    for _ in range(n):
        actions.create_participant(site="MSKCC", acting_user=user, channel="cli")


if __name__ == "__main__":
    from iliad7.store import runtime

    runtime.setup()
    command, *args = sys.argv[1:]
    if command == "dump":
        dump()
    elif command == "populate":
        populate(args[0])
    elif command == "screen":
        screen(args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown command {command}")
