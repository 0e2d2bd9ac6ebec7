"""Every scoped read and every permission check of the trial database.

Views, the API, the CLI and the actions ask here, and only here, which
participants a user may see and whether a role at a site allows an action.
A participant the user may not see is reported exactly like one that does
not exist (NotFound), so the answer leaks nothing about other sites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iliad7.accounts.roles import ROLES, Capability, role_conflicts, role_names
from iliad7.errors import AccessDenied, NotFound

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from iliad7.store.models import Participant, Site, User


def roles_of(user: User) -> frozenset[str]:
    """The roles an active user holds (none for an inactive account).

    An account whose roles break separation of duties (`role_conflicts`: granted before the
    rule, or written into the database by hand) acts as holding none, everywhere, until an
    administrator separates them; `require` then says why.
    """
    if not user.is_active:
        return frozenset()
    cached: frozenset[str] | None = getattr(user, "_iliad7_roles", None)
    if cached is None:
        granted = frozenset(user.role_grants.values_list("role", flat=True))
        cached = frozenset() if role_conflicts(granted) else granted
        user._iliad7_roles = cached  # type: ignore[attr-defined]
    return cached


def separation_of_duties_problems(user: User) -> list[str]:
    """Why the roles granted to `user` may not be held together (empty: they may)."""
    return role_conflicts(user.role_grants.values_list("role", flat=True))


def forget_cached_roles(user: User) -> None:
    """Drop the per-object role cache after the user's roles change."""
    if hasattr(user, "_iliad7_roles"):
        del user._iliad7_roles


def granting_roles(user: User, capability: Capability, site: Site | None) -> list[str]:
    """The user's roles that allow `capability` at `site` (None: trial-wide only)."""
    found = []
    site_ids: set[int] | None = None
    for name in sorted(roles_of(user)):
        spec = ROLES[name]
        if capability not in spec.capabilities:
            continue
        if spec.site_scoped:
            if site is None:
                continue
            if site_ids is None:
                site_ids = set(user.sites.values_list("id", flat=True))
            if site.pk not in site_ids:
                continue
        found.append(name)
    return found


def can(user: User, capability: Capability, site: Site | None = None) -> bool:
    return bool(granting_roles(user, capability, site))


def require(user: User, capability: Capability, site: Site | None = None) -> str:
    """The audit role string for this action, or AccessDenied naming what was missing."""
    roles = granting_roles(user, capability, site)
    if not roles:
        raise denied(user, capability, site)
    return role_names(roles)


def denied(user: User, capability: Capability, site: Site | None = None) -> AccessDenied:
    """The refusal of `capability` to `user`, saying so when the account breaks separation of duties."""
    conflicts = separation_of_duties_problems(user)
    if conflicts:
        return AccessDenied(
            f"user {user.username!r} holds roles that one account may not combine ({'; '.join(conflicts)}): "
            "the account acts as none until an administrator separates them"
        )
    where = f" at site {site.code}" if site is not None else ""
    return AccessDenied(f"user {user.username!r} has no role that allows {capability.value}{where}")


def visible_sites(user: User, capability: Capability = Capability.VIEW_PARTICIPANTS) -> QuerySet[Site]:
    """The sites whose participants the user may reach through `capability`."""
    from iliad7.store.models import Site

    scoped = False
    for name in roles_of(user):
        spec = ROLES[name]
        if capability in spec.capabilities:
            if not spec.site_scoped:
                return Site.objects.all()
            scoped = True
    if scoped:
        return user.sites.all()
    return Site.objects.none()


def visible_participants(user: User, capability: Capability = Capability.VIEW_PARTICIPANTS) -> QuerySet[Participant]:
    """Every participant the user may see, by role and site (through `capability`: what they see them for)."""
    from iliad7.store.models import Participant

    return Participant.objects.filter(site__in=visible_sites(user, capability)).select_related("site")


def access_participant(
    user: User, screening_number: str, capability: Capability = Capability.VIEW_PARTICIPANTS
) -> Participant:
    """The participant if the user may see it; NotFound alike for missing and forbidden.

    The number is looked up as typed, then upper-cased (numbers are stored upper-cased); text no
    screening number can be (a control character, which PostgreSQL refuses in a query, or an
    over-long string) is not found without a query. `capability` is what the participant is reached
    for: the infection adjudicator reaches participants only to adjudicate (ADJUDICATE_INFECTION),
    and so sees nothing else of them.
    """
    from iliad7.inputs import lookup_key

    key = lookup_key(screening_number)
    participant = None
    if key is not None:
        visible = visible_participants(user, capability)
        participant = visible.filter(screening_number=key).first()
        if participant is None and key.upper() != key:
            participant = visible.filter(screening_number=key.upper()).first()
    if participant is None:
        raise NotFound(f"no participant {screening_number!r} visible to {user.username!r}")
    return participant


def second_factor_required(user: User) -> bool:
    """Whether the login flow must ask this user for a TOTP code (unblinded roles, DSMB, admin)."""
    from iliad7.accounts.roles import needs_totp

    return needs_totp(roles_of(user))


def find_user(username: str) -> User:
    from iliad7.store.models import User

    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


# ---- The arm: read here and nowhere else -----------------------------------------------------

_NO_ALLOCATION = "no allocation of participant {number!r} visible to {user!r}"


def may_read_arm(user: User, participant: Participant, *, closed_session: bool = False) -> bool:
    """Whether `user` may read `participant`'s arm, without reading it.

    The unblinded statistician (trial-wide) and the unblinded pharmacist at the
    participant's site always; a DSMB member only in closed session; an
    investigator only for a participant they unblinded in an emergency.
    """
    from iliad7.store.models import UnblindingEvent

    site = participant.site
    if can(user, Capability.VIEW_ALLOCATION, site):
        return True
    if closed_session and can(user, Capability.VIEW_ALLOCATION_CLOSED_SESSION, site) and in_closed_session(user):
        return True
    return can(user, Capability.UNBLIND, site) and (
        UnblindingEvent.objects.filter(participant=participant, unblinded_by=user).exists()
    )


def in_closed_session(user: User) -> bool:
    """Whether a DSMB closed session admitting `user` is open now (scheduled: iliad7.store.actions.dsmb)."""
    from django.utils import timezone

    from iliad7.store.models import ClosedSession

    moment = timezone.now()
    return any(
        user.pk in session.members
        for session in ClosedSession.objects.filter(starts_at__lte=moment, ends_at__gt=moment).only("members")
    )


def access_allocation(user: User, participant: Participant, *, closed_session: bool = False) -> str:
    """The participant's arm (`CYT107` or `placebo`), for a user allowed to know it.

    The only function that reads a participant's arm. Everyone else, and any
    participant without a slot (not randomized), gets AccessDenied with the
    same message, so the answer does not even say whether an allocation exists.
    """
    from iliad7.store.models import AllocationSlot

    message = _NO_ALLOCATION.format(number=participant.screening_number, user=user.username)
    if not may_read_arm(user, participant, closed_session=closed_session):
        raise AccessDenied(message)
    arm = AllocationSlot.objects.filter(participant=participant).values_list("arm", flat=True).first()
    if arm is None:
        raise AccessDenied(message)
    return str(arm)
