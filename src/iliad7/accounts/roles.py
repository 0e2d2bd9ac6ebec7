"""The trial's eleven roles and what each may do, as one table.

A role is either site-scoped (it acts only on participants of the sites the
user is assigned to, as a coordinator does) or trial-wide (a data manager, a
statistician). Blinding follows the protocol's quadruple masking: only the
unblinded pharmacist, who prepares the syringes, and the unblinded
statistician, who generates the list, ever see the arm; DSMB members see it
only in a closed session the unblinded statistician scheduled for them (its
time window, not a standing permission nor the member's own statement).
A second factor (TOTP) is required at login for every role that can see the
arm, for the DSMB and for administrators, who can grant such roles; signing
always asks for it again, whatever the role.

Separation of duties (`role_conflicts`): one account holds roles of one
blinding only. An unblinded role (pharmacist, statistician) is never combined
with a blinded role or the DSMB, whose arm-knowledge would otherwise follow the
person into blinded work; a DSMB member, unblinded in closed session, holds no
other role; an administrator, who grants roles, holds no other role (and may
not change their own). A person with two jobs has two accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from iliad7.errors import InputError


class Capability(StrEnum):
    """Things a role may do; the store checks one of these before every read or write."""

    VIEW_PARTICIPANTS = "participant.view"
    SCREEN_PARTICIPANT = "participant.create"
    CHANGE_STATUS = "participant.transition"
    RECORD_DATA = "item.record"
    SIGN_CASEBOOK = "record.sign"
    MANAGE_USERS = "user.manage"
    # The IRT (issue 4): screening, consent, randomization, blinding and pharmacy.
    RECORD_CONSENT = "consent.record"
    RANDOMIZE = "participant.randomize"
    GENERATE_ALLOCATION = "allocation.generate"  # also re-derives (verifies) the list from its seed
    EXPORT_ALLOCATION = "allocation.export"
    VIEW_ALLOCATION = "allocation.view"  # read a participant's arm (standing permission)
    VIEW_ALLOCATION_CLOSED_SESSION = "allocation.view_closed_session"  # only in a DSMB closed session
    UNBLIND = "participant.unblind"  # emergency unblinding of one participant
    VIEW_UNBLINDING_EVENTS = "unblinding.view"
    PREPARE_DOSE = "dose.prepare"
    DRUG_ACCOUNTABILITY = "drug.accountability"  # receive, waste, return and count drug
    RECORD_DOSE = "dose.record"
    # Data capture (issue 5): queries, source-data verification, locks.
    VIEW_QUERIES = "query.view"
    RAISE_QUERY = "query.raise"  # also closes and reopens the queries it manages
    ANSWER_QUERY = "query.answer"
    VERIFY_SOURCE = "form.sdv"
    LOCK_DATA = "form.lock"  # lock and unlock forms and casebooks
    ADJUDICATE_INFECTION = "infection.adjudicate"  # the Secondary Infections Committee, blind to the arm
    # Analysis (issue 7): the SAP analyses and the DSMB reports (closed only for those who may see the arm).
    VIEW_REPORTS = "report.view"
    # Pre-screening (issue 15): the site's worklist of EHR candidates (identifiable: every view is audited).
    VIEW_CANDIDATES = "prescreen.view"
    # Issue 22: the DSMB's closed session is scheduled (members, time window) by the unblinded statistician.
    SCHEDULE_CLOSED_SESSION = "dsmb.schedule_closed_session"


class Blinding(StrEnum):
    BLINDED = "blinded"
    UNBLINDED = "unblinded"
    CLOSED_SESSION = "closed-session"  # DSMB: unblinded only in closed session


@dataclass(frozen=True)
class RoleSpec:
    name: str
    title: str
    site_scoped: bool
    blinding: Blinding
    needs_totp: bool
    capabilities: frozenset[Capability]

    @property
    def unblinded(self) -> bool:
        return self.blinding is Blinding.UNBLINDED


_C = Capability
_SITE_STAFF = frozenset(
    {
        _C.VIEW_PARTICIPANTS,
        _C.SCREEN_PARTICIPANT,
        _C.CHANGE_STATUS,
        _C.RECORD_DATA,
        _C.RECORD_CONSENT,
        _C.RECORD_DOSE,
        _C.VIEW_QUERIES,
        _C.ANSWER_QUERY,
        _C.VIEW_CANDIDATES,
    }
)
_READ = frozenset({_C.VIEW_PARTICIPANTS})
# Who may list emergency unblindings (who, when, why, which participant; never the arm).
_OVERSIGHT = _READ | {_C.VIEW_UNBLINDING_EVENTS, _C.VIEW_REPORTS}

# name, title, site-scoped, blinding, TOTP at login, capabilities
_TABLE: tuple[tuple[str, str, bool, Blinding, bool, frozenset[Capability]], ...] = (
    (
        "investigator",
        "Investigator",
        True,
        Blinding.BLINDED,
        False,
        _SITE_STAFF | {_C.SIGN_CASEBOOK, _C.RANDOMIZE, _C.UNBLIND},
    ),
    ("coordinator", "Study coordinator", True, Blinding.BLINDED, False, _SITE_STAFF),
    (
        "unblinded-pharmacist",
        "Unblinded pharmacist",
        True,
        Blinding.UNBLINDED,
        True,
        # The worklist (no arm on it) tells the pharmacy who may soon need a dose prepared.
        _READ | {_C.VIEW_ALLOCATION, _C.EXPORT_ALLOCATION, _C.PREPARE_DOSE, _C.DRUG_ACCOUNTABILITY, _C.VIEW_CANDIDATES},
    ),
    (
        "monitor",
        "Clinical monitor",
        True,
        Blinding.BLINDED,
        False,
        _READ | {_C.VIEW_QUERIES, _C.RAISE_QUERY, _C.VERIFY_SOURCE},
    ),
    (
        "data-manager",
        "Data manager",
        False,
        Blinding.BLINDED,
        False,
        _OVERSIGHT | {_C.VIEW_QUERIES, _C.RAISE_QUERY, _C.LOCK_DATA},
    ),
    # The Secondary Infections Committee reads the reported infections and nothing else of a participant
    # (no lab values: a lymphocyte count can hint at the arm); ADJUDICATE_INFECTION scopes what it reaches.
    (
        "infection-adjudicator",
        "Infection adjudicator (Secondary Infections Committee)",
        False,
        Blinding.BLINDED,
        False,
        frozenset({_C.ADJUDICATE_INFECTION}),
    ),
    (
        "dsmb-member",
        "DSMB member",
        False,
        Blinding.CLOSED_SESSION,
        True,
        _OVERSIGHT | {_C.VIEW_ALLOCATION_CLOSED_SESSION},
    ),
    ("blinded-statistician", "Blinded statistician", False, Blinding.BLINDED, False, _READ | {_C.VIEW_REPORTS}),
    (
        "unblinded-statistician",
        "Unblinded statistician",
        False,
        Blinding.UNBLINDED,
        True,
        _READ
        | {_C.GENERATE_ALLOCATION, _C.EXPORT_ALLOCATION, _C.VIEW_ALLOCATION, _C.VIEW_REPORTS}
        | {_C.SCHEDULE_CLOSED_SESSION},
    ),
    ("sponsor-viewer", "Sponsor viewer", False, Blinding.BLINDED, False, _OVERSIGHT),
    # Administrators manage accounts, not trial data: they see no participant.
    ("administrator", "Administrator", False, Blinding.BLINDED, True, frozenset({_C.MANAGE_USERS})),
)

ROLES: dict[str, RoleSpec] = {
    name: RoleSpec(name, title, scoped, blinding, totp, caps) for name, title, scoped, blinding, totp, caps in _TABLE
}


def parse_role(name: str, field: str = "role") -> RoleSpec:
    """The role called `name` (kebab case), or an InputError listing the valid names."""
    key = name.strip().lower().replace("_", "-")
    try:
        return ROLES[key]
    except KeyError:
        raise InputError(field, f"unknown role {name!r}; one of: {', '.join(ROLES)}") from None


def role_names(roles: Iterable[str]) -> str:
    """Roles as they appear in an audit record: sorted, comma-joined."""
    return ",".join(sorted(set(roles)))


def needs_totp(roles: Iterable[str]) -> bool:
    """Whether a user holding these roles must pass a second factor at login."""
    return any(ROLES[r].needs_totp for r in roles)


def can_see_arm(roles: Iterable[str], *, closed_session: bool = False) -> bool:
    """Whether these roles may read a participant's arm (DSMB only in closed session)."""
    for r in roles:
        spec = ROLES[r]
        if spec.blinding is Blinding.UNBLINDED:
            return True
        if spec.blinding is Blinding.CLOSED_SESSION and closed_session:
            return True
    return False


def role_conflicts(roles: Iterable[str]) -> list[str]:
    """Why one account may not hold all of `roles` together (empty: it may); see the module text."""
    names = sorted(set(roles))
    problems: list[str] = []
    if "administrator" in names and len(names) > 1:
        others = ", ".join(n for n in names if n != "administrator")
        problems.append(f"administrator cannot be combined with {others}: who grants roles holds no other role")
    classes: dict[Blinding, list[str]] = {}
    for name in names:
        if name != "administrator":
            classes.setdefault(ROLES[name].blinding, []).append(name)
    unblinded = classes.get(Blinding.UNBLINDED, [])
    dsmb = classes.get(Blinding.CLOSED_SESSION, [])
    blinded = classes.get(Blinding.BLINDED, [])
    if unblinded and (blinded or dsmb):
        problems.append(
            f"{', '.join(unblinded)} (unblinded: sees the arm) cannot be combined with "
            f"{', '.join(blinded + dsmb)} (blinded, or unblinded only in a DSMB closed session)"
        )
    if dsmb and blinded:
        problems.append(
            f"{', '.join(dsmb)} (sees the arm in closed session) cannot be combined with {', '.join(blinded)} (blinded)"
        )
    return problems
