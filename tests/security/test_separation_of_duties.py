"""Separation of duties and safe user names (issue 19), played as the attacker would try them.

The issue's attacker ran `user add X --role coordinator --role unblinded-pharmacist` and, signed
in as X, saw the pharmacy worksheet while recording outcomes; and `user add "../../../../tmp/x/pwn"`
put that user's reports outside ILIAD7_HOME. Both are refused now, everywhere an account is made
or used: the actions, the CLI, the sign-in page and the API.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from typer.testing import CliRunner

from iliad7.accounts.roles import ROLES, Blinding, role_conflicts
from iliad7.errors import AccessDenied, ActionRefused, InputError

pytestmark = pytest.mark.django_db

UNBLINDED = sorted(n for n, r in ROLES.items() if r.blinding is Blinding.UNBLINDED)
BLINDED = sorted(n for n, r in ROLES.items() if r.blinding is Blinding.BLINDED and n != "administrator")
PASSWORD = "correct-horse-battery-staple"


def _add(username: str, roles: list[str], sites: list[str] | None = None) -> Any:
    from iliad7.store.actions import add_user

    scoped = any(ROLES[r].site_scoped for r in roles)
    return add_user(
        username, password=PASSWORD, roles=roles, sites=sites if sites is not None else (["MSKCC"] if scoped else []),
        acting_user=None, channel="cli",
    )  # fmt: skip


def _cli(*args: str, stdin: str | None = None) -> Any:
    from iliad7.cli import app

    return CliRunner().invoke(app, list(args), input=stdin)


# ---- the rule ---------------------------------------------------------------------------------------


def test_the_rule_pairs_no_unblinded_role_with_a_blinded_one_and_keeps_dsmb_and_admin_alone() -> None:
    for unblinded, other in itertools.product(UNBLINDED, [*BLINDED, "dsmb-member", "administrator"]):
        assert role_conflicts([unblinded, other]), (unblinded, other)
    for other in [*BLINDED, *UNBLINDED]:
        assert role_conflicts(["dsmb-member", other]), other
        assert role_conflicts(["administrator", other]), other
    # What stays allowed: blinded jobs together, unblinded jobs together, any single role.
    assert role_conflicts(["coordinator", "investigator"]) == []
    assert role_conflicts(["coordinator", "blinded-statistician"]) == []
    assert role_conflicts(UNBLINDED) == []
    assert all(role_conflicts([name]) == [] for name in ROLES)


@pytest.mark.parametrize(
    "roles",
    [
        ["coordinator", "unblinded-pharmacist"],
        ["investigator", "unblinded-statistician"],
        ["data-manager", "unblinded-statistician"],
        ["dsmb-member", "sponsor-viewer"],
        ["dsmb-member", "unblinded-statistician"],
        ["administrator", "monitor"],
    ],
)
def test_add_user_refuses_a_forbidden_combination_and_writes_nothing(roles: list[str], sites: Any) -> None:
    from iliad7.store.models import AuditRecord, User

    before = AuditRecord.objects.count()
    with pytest.raises(InputError) as refused:
        _add("dual", roles)
    assert refused.value.field == "role" and "separation of duties" in refused.value.message
    assert not User.objects.filter(username="dual").exists() and AuditRecord.objects.count() == before


def test_the_issues_cli_command_is_refused_with_a_clear_error(sites: Any) -> None:
    from iliad7.store.models import User

    done = _cli(
        "user", "add", "X", "--role", "coordinator", "--role", "unblinded-pharmacist", "--site", "MSKCC",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert done.exit_code == 2
    assert "--role: separation of duties" in done.output and "unblinded-pharmacist" in done.output
    assert not User.objects.filter(username="X").exists()


def test_a_role_grant_that_would_combine_them_is_refused_on_the_cli_and_in_the_action(sites: Any) -> None:
    from iliad7.store.access import find_user
    from iliad7.store.actions import set_user_roles

    _add("carol", ["coordinator"])
    done = _cli(
        "user", "roles", "carol", "--role", "coordinator", "--role", "unblinded-pharmacist", "--site", "MSKCC",
        "--reason", "covering the pharmacy",
    )  # fmt: skip
    assert done.exit_code == 2 and "separation of duties" in done.output
    with pytest.raises(InputError, match="separation of duties"):
        set_user_roles(find_user("carol"), roles=["coordinator", "dsmb-member"], sites=["MSKCC"], acting_user=None,
                       channel="cli", reason="x")  # fmt: skip
    assert sorted(find_user("carol").role_grants.values_list("role", flat=True)) == ["coordinator"]
    # Moving to an unblinded job (giving up the blinded one) is a role change like any other.
    set_user_roles(find_user("carol"), roles=["unblinded-pharmacist"], sites=["MSKCC"], acting_user=None,
                   channel="cli", reason="moved to the pharmacy")  # fmt: skip


def test_an_administrator_cannot_change_their_own_roles(sites: Any) -> None:
    from iliad7.store.actions import add_totp_device, set_user_roles

    admin = _add("root1", ["administrator"])
    add_totp_device(admin, acting_user=None, channel="cli")
    with pytest.raises(ActionRefused, match="own roles"):
        set_user_roles(admin, roles=["unblinded-statistician"], sites=[], acting_user=admin, channel="web",
                       reason="self-promotion")  # fmt: skip
    other = _add("root2", ["administrator"])
    target = _add("dora", ["coordinator"])
    set_user_roles(target, roles=["monitor"], sites=["MSKCC"], acting_user=other, channel="web", reason="new job")


def _grant_by_hand(user: Any, role: str) -> None:
    """What only someone with database access can do now: add a role grant around the actions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO store_rolegrant (user_id, role, granted_at) VALUES (%s, %s, %s)",
            [user.pk, role, datetime.now(UTC)],
        )


def test_an_account_holding_both_cannot_sign_in_nor_act(
    staff: dict[str, Any], trial: dict[str, Any], login: Any, tmp_path: Path
) -> None:
    from django.test import Client

    from iliad7.accounts.roles import Capability
    from iliad7.store.access import access_allocation, require, roles_of
    from iliad7.store.models import User

    coordinator = staff["coordinator@MSKCC"]
    signed_in = login(coordinator)  # a session opened before the grant
    _grant_by_hand(coordinator, "unblinded-pharmacist")
    # Sign-in refused, with the reason.
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    answer = client.post(
        "/accounts/login/",
        {
            "username": coordinator.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": page.cookies["csrftoken"].value,
        },
    )
    assert answer.status_code == 200 and "_auth_user_id" not in client.session
    assert "may not combine" in answer.content.decode()
    # The session opened before: no worksheet, no outcome recording, no participant at all.
    sn = trial["randomized@MSKCC"].screening_number
    assert signed_in.get(f"/participants/{sn}/pharmacy/").status_code in (403, 404)
    assert signed_in.get(f"/api/participants/{sn}/pharmacy/worksheet").status_code in (403, 404)
    assert signed_in.get(f"/api/participants/{sn}").status_code in (403, 404)
    fresh = User.objects.get(pk=coordinator.pk)
    assert roles_of(fresh) == frozenset()
    with pytest.raises(AccessDenied):
        access_allocation(fresh, trial["randomized@MSKCC"])
    with pytest.raises(AccessDenied, match="may not combine"):
        require(fresh, Capability.EXPORT_ALLOCATION)
    # The CLI says why too, and exports nothing.
    done = _cli("randomization", "export", "--out", str(tmp_path / "list.csv"), "--as", coordinator.username)
    assert done.exit_code == 1 and "may not combine" in done.output
    assert not (tmp_path / "list.csv").exists()
    assert _cli("participant", "list", "--as", coordinator.username, "--json").stdout.strip() == "[]"


def test_the_demo_users_stay_valid(sites: Any) -> None:
    from iliad7.store.access import roles_of, separation_of_duties_problems
    from iliad7.store.models import User

    done = _cli("web", "demo-users", "--password-stdin", "--json", stdin="iliad7-demo-only\n")
    assert done.exit_code == 0, done.output
    demo = list(User.objects.filter(username__startswith="demo-"))
    assert len(demo) >= 14
    for user in demo:
        assert separation_of_duties_problems(user) == [] and roles_of(user), user.username


# ---- user names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../../../tmp/x/pwn",
        "..",
        ".",
        "a/b",
        "a\\b",
        "/etc",
        "-rf",
        ".hidden",
        "tab\tname",
        "nul\x00byte",
        "bell\x07",
        "new\nline",
        "x" * 151,
        "",
        "naïve",
    ],
)
def test_user_names_that_could_be_paths_options_or_controls_are_refused(name: str, sites: Any) -> None:
    from iliad7.store.models import User

    with pytest.raises(InputError) as refused:
        _add(name, ["coordinator"])
    assert refused.value.field == "username"
    assert User.objects.count() == 0


def test_the_issues_path_traversal_name_is_refused_on_the_cli(sites: Any) -> None:
    done = _cli("user", "add", "../../../../tmp/x/pwn", "--role", "coordinator", "--site", "MSKCC",
                "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert done.exit_code == 2 and "NAME" in done.output and "not a user name" in done.output


@pytest.mark.parametrize("name", ["ann", "demo-coordinator-mskcc", "ann.smith@mskcc.org", "a_b+1", "sim-statistician"])
def test_ordinary_user_names_are_accepted(name: str, sites: Any) -> None:
    assert _add(name, ["coordinator"]).username == name
