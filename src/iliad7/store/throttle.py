"""Failed secrets, counted per (user name, source address), with progressive delays (django-axes).

One policy for every secret the trial asks for: the password at sign-in, the TOTP code of the
second factor, and the password and code that an e-signature and an emergency unblinding ask for
again. django-axes counts the failures (`AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]`:
per user name *and* source, never per user name alone, so nobody can lock another person out from
somewhere else); this module's handler turns the count into a delay that grows with each further
failure: after `AXES_FAILURE_LIMIT` (5) failures the pair waits 1 minute, then 2, 4, 8, ... up to
an hour. Failures are forgotten a day after the last one (`AXES_COOLOFF_TIME`), and when the user
completes a sign-in (password and, where the role needs it, the second factor) or a signature from
that source. The TOTP device's own throttle is off (`OTP_TOTP_THROTTLE_FACTOR = 0`): it counted
failures per device, so anyone who knew the password could make the device refuse even the right
code, wherever the user was.

A web or API request is the source; the command line (run by the installation's operator on the
server) is the source `127.0.0.1` with the user agent `iliad7-cli`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest
from django.utils import timezone

from iliad7.errors import TooManyAttempts

__all__ = ["TooManyAttempts", "delay", "failed", "guarded", "local_request", "passed", "retry_after"]

FIRST_DELAY = timedelta(minutes=1)
LONGEST_DELAY = timedelta(hours=1)
CLI_ADDRESS = "127.0.0.1"
CLI_AGENT = "iliad7-cli"


def delay(failures: int) -> timedelta:
    """How long a (user, source) pair waits after `failures` failures (0 below the limit)."""
    limit = int(settings.AXES_FAILURE_LIMIT)
    if failures < limit:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** min(failures - limit, 16), LONGEST_DELAY)


def _wait(handler: AxesDatabaseHandler, request: HttpRequest, credentials: dict[str, Any] | None) -> timedelta:
    longest = timedelta(0)
    moment = timezone.now()
    for attempts in handler.get_user_attempts(request, credentials):
        found = attempts.aggregate(n=Sum("failures_since_start"), last=Max("attempt_time"))
        if found["last"] is None:
            continue
        until = found["last"] + delay(int(found["n"] or 0))
        longest = max(longest, until - moment)
    return longest


class ProgressiveAxesHandler(AxesDatabaseHandler):
    """django-axes' database handler, locked while the pair's progressive delay runs (not for a fixed time)."""

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        if not settings.AXES_LOCK_OUT_AT_FAILURE:
            return False
        return _wait(self, request, credentials) > timedelta(0)


def _handler() -> Any:
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler


def retry_after(request: HttpRequest, username: str) -> int:
    """Seconds the pair (username, this request's source) must still wait; 0 when it may try."""
    proxy = _handler()
    proxy.update_request(request)
    implementation = proxy.get_implementation()
    if not isinstance(implementation, ProgressiveAxesHandler):  # pragma: no cover - settings name it
        return 0 if proxy.is_allowed(request, {"username": username}) else int(FIRST_DELAY.total_seconds())
    wait = _wait(implementation, request, {"username": username})
    return int(wait.total_seconds()) + (1 if wait.microseconds else 0)


def local_request(path: str = "/cli") -> HttpRequest:
    """The command line's source: the server itself."""
    request = HttpRequest()
    request.method = "POST"
    request.path = request.path_info = path
    request.META.update({"REMOTE_ADDR": CLI_ADDRESS, "HTTP_USER_AGENT": CLI_AGENT, "PATH_INFO": path})
    return request


def failed(request: HttpRequest, username: str, gate: str) -> None:
    """Count one failed secret for (username, source); django-axes announces a lockout when it starts one."""
    request.iliad7_gate = gate  # type: ignore[attr-defined]  # read by the lockout receiver (security_events)
    _handler().user_login_failed(sender=failed, credentials={"username": username}, request=request)


def passed(request: HttpRequest, username: str) -> None:
    """Forget the failures of (username, source): the user has just given every secret asked for."""
    proxy = _handler()
    proxy.update_request(request)
    proxy.get_implementation().reset_user_attempts(request, {"username": username})


@contextmanager
def guarded(request: HttpRequest | None, username: str, gate: str) -> Iterator[HttpRequest]:
    """Refuse (TooManyAttempts) while the pair waits; the body reports a failure with `failed`."""
    source = request if request is not None else local_request()
    wait = retry_after(source, username)
    if wait > 0:
        raise TooManyAttempts(wait)
    yield source


def source_text(request: HttpRequest | None) -> str:
    """The source address of a request, as the audit trail and notices name it."""
    if request is None:
        return CLI_ADDRESS
    return str(getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR", "") or "")
