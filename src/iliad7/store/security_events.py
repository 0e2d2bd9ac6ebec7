"""Receivers that put authentication events into the audit trail.

Django and django-axes announce logins, failed logins, logouts and lockouts
by signals; each receiver here only translates the signal into one call of
the action `record_security_event`. The password tried is never recorded.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from iliad7.store.actions.security import record_security_event


def _channel(request: HttpRequest | None) -> str:
    if request is None:
        return "system"
    return "api" if request.path.startswith("/api") else "web"


def _ip(request: HttpRequest | None) -> str:
    return "" if request is None else str(request.META.get("REMOTE_ADDR", ""))


def _roles(user: Any) -> str:
    from iliad7.accounts.roles import role_names
    from iliad7.store.access import roles_of

    return role_names(roles_of(user))


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record_security_event(
        "auth.login",
        actor=user.username,
        role=_roles(user),
        channel=_channel(request),
        object_type="user",
        object_id=user.username,
        detail={"ip": _ip(request)},
    )


def on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    record_security_event(
        "auth.logout",
        actor=user.username,
        role=_roles(user),
        channel=_channel(request),
        object_type="user",
        object_id=user.username,
    )


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))
    record_security_event(
        "auth.login_failed",
        actor=username or "anonymous",
        channel=_channel(request),
        object_type="user",
        object_id=username,
        detail={"ip": _ip(request)},
    )


def on_locked_out(sender: Any, request: HttpRequest | None = None, username: str = "", **kwargs: Any) -> None:
    record_security_event(
        "auth.lockout",
        actor=username or "anonymous",
        channel=_channel(request),
        object_type="user",
        object_id=username,
        detail={"ip": str(kwargs.get("ip_address", "") or _ip(request))},
    )


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(on_logged_in, dispatch_uid="iliad7-audit-login")
    user_logged_out.connect(on_logged_out, dispatch_uid="iliad7-audit-logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="iliad7-audit-login-failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="iliad7-audit-lockout")
