"""Receivers that put authentication events into the audit trail.

Django and django-axes announce logins, failed logins, logouts and lockouts
by signals; each receiver here only translates the signal into one call of
the action `record_security_event`. The password tried is never recorded.

A lockout (a user name and source that failed too often, `iliad7.store.throttle`)
also notifies the user and the administrators (`notify_lockout`); a completed
sign-in (password, and the second factor where the role needs it) forgets the
failures of that user and source.
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
    from iliad7.store import throttle
    from iliad7.store.access import second_factor_required

    if request is not None and not second_factor_required(user):
        throttle.passed(request, user.username)  # the whole sign-in is done; for TOTP roles, at the code
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
    from iliad7.store import throttle
    from iliad7.store.actions.security import notify_lockout

    # django-axes also announces each attempt refused while the pair is locked; only the failure
    # that starts a lock has counted the failures (`axes_failures_since_start`).
    failures = getattr(request, "axes_failures_since_start", None)
    if request is not None and failures is None:
        return
    source = str(kwargs.get("ip_address", "") or _ip(request))
    gate = str(getattr(request, "iliad7_gate", "password"))
    wait = throttle.retry_after(request, username) if request is not None else 0
    record_security_event(
        "auth.lockout",
        actor=username or "anonymous",
        channel=_channel(request),
        object_type="user",
        object_id=username,
        detail={"ip": source, "gate": gate, "failures": failures, "wait_seconds": wait},
    )
    # One notice per episode: when the pair first reaches the limit, not at each longer delay after it.
    from django.conf import settings

    if failures is None or int(failures) == int(settings.AXES_FAILURE_LIMIT):
        notify_lockout(username, source=source, gate=gate, failures=int(failures or 0), wait_seconds=wait)


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(on_logged_in, dispatch_uid="iliad7-audit-login")
    user_logged_out.connect(on_logged_out, dispatch_uid="iliad7-audit-logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="iliad7-audit-login-failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="iliad7-audit-lockout")
