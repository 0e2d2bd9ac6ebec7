"""Account actions: create a user, change their roles and sites, enrol a second factor."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from iliad7.accounts.roles import ROLES, Capability, parse_role, role_conflicts
from iliad7.audit import trail
from iliad7.errors import AccessDenied, ActionRefused, InputError
from iliad7.store import access
from iliad7.store.actions._common import Actor, check_channel, now
from iliad7.store.models import RoleGrant, Site, User

# User names: Django's ASCII user-name characters (letters, digits, @ . + - _), starting with a letter
# or digit, so a name is never a path ("..", "/"), an option ("-x") or a control character.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@.+_-]{0,149}\Z")


def check_username(username: str) -> str:
    """The user name if it is acceptable, else InputError naming `username`."""
    if not isinstance(username, str) or not USERNAME.match(username):
        raise InputError(
            "username",
            f"{username!r} is not a user name: 1-150 characters of letters, digits and @ . + - _, "
            "starting with a letter or digit",
        )
    return username


def _resolve_roles_and_sites(roles: Iterable[str], site_codes: Iterable[str]) -> tuple[list[str], list[Site]]:
    role_list = sorted({parse_role(r).name for r in roles})
    if not role_list:
        raise InputError("role", "at least one role is required")
    conflicts = role_conflicts(role_list)
    if conflicts:
        raise InputError("role", "separation of duties: " + "; ".join(conflicts) + " (give each job its own account)")
    codes = sorted({c.strip().upper() for c in site_codes})
    sites = list(Site.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {s.code for s in sites})
    if unknown:
        known = ", ".join(Site.objects.values_list("code", flat=True)) or "none (run iliad7 init)"
        raise InputError("site", f"unknown site {', '.join(unknown)}; known sites: {known}")
    scoped = [r for r in role_list if ROLES[r].site_scoped]
    if scoped and not sites:
        raise InputError("site", f"role {', '.join(scoped)} is site-scoped: give --site")
    return role_list, sites


def _authorize_account_change(acting_user: User | None, channel: str) -> str:
    # None is the server operator (CLI, bootstrap of the first administrator);
    # the web app and the API always act as a signed-in administrator.
    if acting_user is None:
        if channel not in ("cli", "system"):
            raise AccessDenied(f"account changes over {channel} need an administrator")
        return ""
    return access.require(acting_user, Capability.MANAGE_USERS)


def add_user(
    username: str,
    *,
    password: str,
    roles: Iterable[str],
    sites: Iterable[str] = (),
    full_name: str = "",
    email: str = "",
    acting_user: User | None,
    channel: str,
) -> User:
    """Create an account with its roles and sites; audited as `user.create`."""
    check_channel(channel)
    username = check_username(username.strip() if isinstance(username, str) else username)
    role_list, site_list = _resolve_roles_and_sites(roles, sites)
    actor_role = _authorize_account_change(acting_user, channel)
    if not password:
        raise InputError("password", "a password is required")
    candidate = User(username=username, full_name=full_name, email=email)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise InputError("password", " ".join(exc.messages)) from None
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise InputError("username", f"user {username!r} already exists")
        user = User(username=username, full_name=full_name, email=email)
        user.set_password(password)
        user.save()
        user.sites.set(site_list)
        granted = now()
        RoleGrant.objects.bulk_create([RoleGrant(user=user, role=r, granted_at=granted) for r in role_list])
        actor = Actor.of(acting_user, actor_role)
        trail.append(
            actor=actor.name,
            role=actor.role,
            channel=channel,
            action="user.create",
            object_type="user",
            object_id=username,
            new={
                "username": username,
                "full_name": full_name,
                "roles": role_list,
                "sites": [s.code for s in site_list],
            },
        )
    return user


def set_user_roles(
    user: User,
    *,
    roles: Iterable[str],
    sites: Iterable[str],
    acting_user: User | None,
    channel: str,
    reason: str,
) -> User:
    """Replace a user's roles and sites; audited as `user.roles_changed` with old and new."""
    check_channel(channel)
    if not reason.strip():
        raise InputError("reason", "a role change needs a reason")
    role_list, site_list = _resolve_roles_and_sites(roles, sites)
    actor_role = _authorize_account_change(acting_user, channel)
    if acting_user is not None and acting_user.pk == user.pk:
        raise ActionRefused(
            f"user {user.username!r} cannot change their own roles (separation of duties): another administrator must"
        )
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        old = {
            "roles": sorted(locked.role_grants.values_list("role", flat=True)),
            "sites": sorted(locked.sites.values_list("code", flat=True)),
        }
        new = {"roles": role_list, "sites": [s.code for s in site_list]}
        if old == new:
            return locked
        RoleGrant.objects.filter(user=locked).exclude(role__in=role_list).delete()
        granted = now()
        for r in role_list:
            RoleGrant.objects.get_or_create(user=locked, role=r, defaults={"granted_at": granted})
        locked.sites.set(site_list)
        actor = Actor.of(acting_user, actor_role)
        trail.append(
            actor=actor.name,
            role=actor.role,
            channel=channel,
            action="user.roles_changed",
            object_type="user",
            object_id=locked.username,
            old=old,
            new=new,
            reason=reason,
        )
    access.forget_cached_roles(user)
    return locked


def add_totp_device(user: User, *, acting_user: User | None, channel: str, name: str = "authenticator") -> str:
    """Enrol a confirmed TOTP device for `user`; returns its otpauth:// URL (shown once)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    check_channel(channel)
    actor_role = _authorize_account_change(acting_user, channel)
    with transaction.atomic():
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        actor = Actor.of(acting_user, actor_role)
        trail.append(
            actor=actor.name,
            role=actor.role,
            channel=channel,
            action="user.second_factor_added",
            object_type="user",
            object_id=user.username,
            new={"device": name, "kind": "totp"},
        )
    return str(device.config_url)
