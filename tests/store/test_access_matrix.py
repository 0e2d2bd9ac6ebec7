"""Every role x site x query or action gets exactly what the delegation table says.

The expected table is written out here on purpose, independently of
iliad7.accounts.roles: a change of the role table must be mirrored here.
Every user is assigned to MSKCC; MDACC is always "the other site".
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from iliad7.accounts.roles import ROLES, Capability
from iliad7.errors import AccessDenied, NotFound

pytestmark = pytest.mark.django_db

ALL_ROLES = sorted(ROLES)
SITE_SCOPED = {"investigator", "coordinator", "unblinded-pharmacist", "monitor"}
TRIAL_WIDE_READERS = {
    "data-manager",
    "dsmb-member",
    "blinded-statistician",
    "unblinded-statistician",
    "sponsor-viewer",
}
# Which sites' participants each role sees, for a user assigned to MSKCC.
SEES = {
    **{r: {"MSKCC"} for r in SITE_SCOPED},
    **{r: {"MSKCC", "MDACC"} for r in TRIAL_WIDE_READERS},
    "administrator": set(),
    # The Secondary Infections Committee reaches participants only to adjudicate their infections.
    "infection-adjudicator": set(),
}
# Which writes each role may make at its own site (never at the other one).
WRITES = {
    "investigator": {"create", "transition", "record", "sign"},
    "coordinator": {"create", "transition", "record"},
}
ACTIONS = ("create", "transition", "record", "sign")


def test_expected_table_names_every_role() -> None:
    assert set(SEES) == set(ROLES)
    assert {r for r, spec in ROLES.items() if spec.site_scoped} == SITE_SCOPED


def test_unblinded_roles_are_exactly_pharmacist_and_unblinded_statistician() -> None:
    from iliad7.accounts.roles import Blinding, can_see_arm

    unblinded = {r for r, s in ROLES.items() if s.blinding is Blinding.UNBLINDED}
    assert unblinded == {"unblinded-pharmacist", "unblinded-statistician"}
    assert not can_see_arm(["dsmb-member"])
    assert can_see_arm(["dsmb-member"], closed_session=True)
    assert not can_see_arm(["investigator", "monitor", "blinded-statistician"], closed_session=True)


def test_totp_is_required_for_every_role_that_can_see_the_arm() -> None:
    from iliad7.accounts.roles import Blinding, needs_totp

    for name, spec in ROLES.items():
        if spec.blinding is not Blinding.BLINDED:
            assert needs_totp([name]), name
    assert not needs_totp(["coordinator", "monitor"])


@pytest.fixture
def population(make_user, sites):  # type: ignore[no-untyped-def]
    """One screened participant at each site, entered by that site's coordinator."""
    from iliad7.store.actions import create_participant

    staff = {code: make_user(f"coord-{code.lower()}", ["coordinator"], [code]) for code in ("MSKCC", "MDACC")}
    return {code: create_participant(site=code, acting_user=staff[code], channel="cli") for code in ("MSKCC", "MDACC")}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_participant_list_shows_exactly_the_role_and_site_scope(
    role: str,
    make_user,
    population,  # type: ignore[no-untyped-def]
) -> None:
    from iliad7.store.access import visible_participants

    user = make_user(f"u-{role}", [role], ["MSKCC"])
    seen = {p.site.code for p in visible_participants(user)}
    assert seen == SEES[role]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("site", ["MSKCC", "MDACC"])
def test_access_participant_is_not_found_alike_for_forbidden_and_missing(
    role: str,
    site: str,
    make_user,
    population,  # type: ignore[no-untyped-def]
) -> None:
    from iliad7.store.access import access_participant

    user = make_user(f"u-{role}", [role], ["MSKCC"])
    number = population[site].screening_number
    if site in SEES[role]:
        assert access_participant(user, number).pk == population[site].pk
    else:
        with pytest.raises(NotFound) as forbidden:
            access_participant(user, number)
        with pytest.raises(NotFound) as missing:
            access_participant(user, "NO-SUCH-NUMBER")
        # Same kind and same wording: the answer does not reveal that it exists.
        assert str(forbidden.value).replace(number, "N") == str(missing.value).replace("NO-SUCH-NUMBER", "N")


def _attempt(action: str, user, site: str, population, sites) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store import actions

    participant = population[site]
    if action == "create":
        actions.create_participant(site=sites[site], acting_user=user, channel="cli")
    elif action == "transition":
        actions.transition_participant(
            participant, "screen_failed", acting_user=user, channel="cli", reason="withdrew before consent"
        )
    elif action == "record":
        actions.record_item_value(
            participant,
            form="VS",
            item="TEMP",
            value="37.2",
            unit="C",
            acting_user=user,
            channel="cli",
        )
    elif action == "sign":
        # The role check comes before the re-authentication: a wrong password
        # here proves the role was accepted.
        actions.sign_record(user, participant, "I approve this casebook", "wrong", "000000")


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("site", ["MSKCC", "MDACC"])
@pytest.mark.parametrize("action", ACTIONS)
def test_writes_are_allowed_exactly_by_role_at_own_site(
    role: str,
    site: str,
    action: str,
    make_user,
    population,
    sites,  # type: ignore[no-untyped-def]
) -> None:
    from iliad7.errors import ReauthenticationFailed
    from iliad7.store.models import AuditRecord

    user = make_user(f"u-{role}", [role], ["MSKCC"])
    allowed = site == "MSKCC" and action in WRITES.get(role, set())
    before = AuditRecord.objects.count()
    if not allowed:
        with pytest.raises(AccessDenied, match="no role that allows"):
            _attempt(action, user, site, population, sites)
        assert AuditRecord.objects.count() == before  # a refusal changes nothing
    elif action == "sign":
        with pytest.raises(ReauthenticationFailed):
            _attempt(action, user, site, population, sites)
    else:
        _attempt(action, user, site, population, sites)
        last = AuditRecord.objects.order_by("-id").first()
        assert last is not None and last.actor == user.username and last.role == role


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_administrators_manage_accounts(role: str, make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import add_user, set_user_roles

    acting = make_user(f"u-{role}", [role], ["MSKCC"])
    if role == "administrator":
        created = add_user(
            "newcomer",
            password="another-long-passphrase",
            roles=["monitor"],
            sites=["MDACC"],
            acting_user=acting,
            channel="cli",
        )
        set_user_roles(
            created,
            roles=["monitor"],
            sites=["MSKCC"],
            acting_user=acting,
            channel="cli",
            reason="moved to MSKCC monitoring",
        )
    else:
        with pytest.raises(AccessDenied):
            add_user(
                "newcomer",
                password="another-long-passphrase",
                roles=["monitor"],
                sites=["MDACC"],
                acting_user=acting,
                channel="cli",
            )


def test_coordinator_never_sees_other_site_participants_through_the_cli(
    make_user,
    population,  # type: ignore[no-untyped-def]
) -> None:
    from iliad7.cli import app

    make_user("ann", ["coordinator"], ["MSKCC"])
    result = CliRunner().invoke(app, ["participant", "list", "--as", "ann", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == [
        {
            "screening_number": population["MSKCC"].screening_number,
            "usubjid": None,
            "site": "MSKCC",
            "status": "screened",
        }
    ]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_participant_list_command_shows_exactly_the_role_and_site_scope(
    role: str,
    make_user,  # type: ignore[no-untyped-def]
    population,
) -> None:
    from iliad7.cli import app

    make_user(f"u-{role}", [role], ["MSKCC"])
    result = CliRunner().invoke(app, ["participant", "list", "--as", f"u-{role}", "--json"])
    assert result.exit_code == 0, result.output
    assert {row["site"] for row in json.loads(result.stdout)} == SEES[role]


def test_user_with_two_roles_gets_the_union_of_their_scopes(make_user, population) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.access import can, visible_participants

    user = make_user("dual", ["coordinator", "blinded-statistician"], ["MDACC"])
    assert {p.site.code for p in visible_participants(user)} == {"MSKCC", "MDACC"}
    assert can(user, Capability.RECORD_DATA, population["MDACC"].site)
    assert not can(user, Capability.RECORD_DATA, population["MSKCC"].site)


def test_deactivated_user_sees_nothing(make_user, population) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.access import visible_participants

    user = make_user("gone", ["data-manager"])
    user.is_active = False
    assert list(visible_participants(user)) == []


def test_participant_list_as_unknown_user_is_bad_input(population) -> None:  # type: ignore[no-untyped-def]
    from iliad7.cli import app

    result = CliRunner().invoke(app, ["participant", "list", "--as", "nobody", "--json"])
    assert result.exit_code == 2
    assert "--as" in result.stderr


def test_role_change_is_audited_with_old_and_new_roles(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.access import visible_participants
    from iliad7.store.actions import set_user_roles
    from iliad7.store.models import AuditRecord

    user = make_user("mon", ["monitor"], ["MSKCC"])
    list(visible_participants(user))  # warm the role cache
    set_user_roles(user, roles=["data-manager"], sites=[], acting_user=None, channel="cli", reason="new job")
    record = AuditRecord.objects.get(action="user.roles_changed")
    assert json.loads(record.old_value) == {"roles": ["monitor"], "sites": ["MSKCC"]}
    assert json.loads(record.new_value) == {"roles": ["data-manager"], "sites": []}
    assert record.reason == "new job"
    from iliad7.store.access import roles_of

    assert roles_of(user) == {"data-manager"}


def test_role_change_through_the_cli_needs_an_administrator(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.cli import app
    from iliad7.store.access import roles_of
    from iliad7.store.models import User

    make_user("mon", ["monitor"], ["MSKCC"])
    make_user("ann", ["coordinator"], ["MSKCC"])
    make_user("root", ["administrator"])
    args = ["user", "roles", "mon", "--role", "monitor", "--site", "MDACC", "--reason", "reassigned"]
    refused = CliRunner().invoke(app, [*args, "--as", "ann"])
    assert refused.exit_code == 1 and "user.manage" in refused.stderr
    done = CliRunner().invoke(app, [*args, "--as", "root"])
    assert done.exit_code == 0, done.output
    mon = User.objects.get(username="mon")
    assert roles_of(mon) == {"monitor"}
    assert list(mon.sites.values_list("code", flat=True)) == ["MDACC"]


def test_account_changes_over_the_web_need_a_signed_in_administrator(sites) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import add_user

    with pytest.raises(AccessDenied):
        add_user(
            "sneaky",
            password="another-long-passphrase",
            roles=["administrator"],
            acting_user=None,
            channel="web",
        )
