"""Helpers the CLI tests run in a subprocess against their own database.

python tests/store/store_scripts.py dump              # every store table as JSON
python tests/store/store_scripts.py populate USER     # participants, values, corrections
python tests/store/store_scripts.py screen USER N     # N screenings (concurrency test)
python tests/store/store_scripts.py dump-all          # every table of the store app as JSON
python tests/store/store_scripts.py fail-at K ARGS    # `iliad7 ARGS` failing at the K-th participant's first form
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


def dump_all() -> None:
    from django.apps import apps

    tables: dict[str, list[dict[str, Any]]] = {}
    for model in apps.get_app_config("store").get_models():
        rows = model.objects.order_by("pk").values()
        tables[model.__name__] = [{k: _plain(v) for k, v in row.items()} for row in rows]
    print(json.dumps(tables, sort_keys=True, default=str))


def fail_at(participant: int, args: list[str]) -> None:
    """Run the CLI with `iliad7.store.simulation._save` failing on the first follow-up form of the `participant`-th
    randomized participant (those before were randomized and followed, their forms saved), as a simulator
    bug that the edit checks refuse would (an InputError naming the field)."""
    import iliad7.store.simulation as simulation
    from iliad7.cli import app
    from iliad7.errors import InputError

    real = simulation._save
    seen: list[int] = []
    saves = {"n": 0}

    def failing(world: Any, who: Any, *a: Any, **k: Any) -> None:
        # DEMOGRAPHICS is entered at screening for everyone screened: count the randomized ones' follow-up forms
        if a[0] != "DEMOGRAPHICS" and who.pk not in seen:
            seen.append(who.pk)
            if len(seen) == participant:
                sys.stderr.write(f"injected failure after {saves['n']} form saves of {participant - 1} participants\n")
                raise InputError("crp", "injected failure: 1009 is outside the possible range")
        saves["n"] += 1
        real(world, who, *a, **k)

    simulation._save = failing  # type: ignore[assignment]
    app(args)


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
    elif command == "dump-all":
        dump_all()
    elif command == "fail-at":
        fail_at(int(args[0]), args[1:])
    else:
        raise SystemExit(f"unknown command {command}")
