"""The idle timeout, kept without a database write per request: a signed activity cookie.

Django's usual way (`SESSION_SAVE_EVERY_REQUEST`) rewrites the session row on
every request, so every page view was a database write (and, on SQLite, a
wait for the write lock). Instead the session row lives for the session's
maximum age (`ILIAD7_SESSION_MAX_HOURS`, renewed whenever the session itself
changes: sign-in, second factor) and the idle clock is a cookie: every
response to a signed-in user carries `iliad7_active`, a digest of the session
key signed with a time stamp (`django.core.signing.TimestampSigner`, the
site's secret key). A request whose activity cookie is missing, signed for
another session, altered, or older than the idle timeout
(`ILIAD7_SESSION_IDLE_MINUTES`) is served as signed out: the user is anonymous
for it, the session cookie is dropped, and nothing is written (the session row
expires on its own; `django-admin clearsessions` removes it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.http import HttpRequest, HttpResponseBase

COOKIE = "iliad7_active"
_SALT = "iliad7.web.idle"


def _digest(session_key: str) -> str:
    return hashlib.sha256(session_key.encode("utf-8")).hexdigest()[:32]


def activity_token(session_key: str) -> str:
    """The activity cookie's value for a session, stamped now."""
    return signing.TimestampSigner(salt=_SALT).sign(_digest(session_key))


def still_active(token: str, session_key: str, idle_seconds: int) -> bool:
    """Whether `token` was issued for this session less than `idle_seconds` ago."""
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=idle_seconds)
    except signing.BadSignature:  # also SignatureExpired
        return False
    return value == _digest(session_key)


class IdleTimeoutMiddleware:
    """Sign out (for this request, without a write) a session idle for longer than the timeout."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        idle = int(settings.ILIAD7_SESSION_IDLE_SECONDS)
        key = request.session.session_key
        timed_out = False
        if key and request.user.is_authenticated and not still_active(request.COOKIES.get(COOKIE, ""), key, idle):
            timed_out = True
            # A fresh, empty session that is never saved: SessionMiddleware then drops the cookie.
            request.session = type(request.session)()
            request.user = AnonymousUser()
        response = self.get_response(request)
        key = request.session.session_key
        user = getattr(request, "user", None)
        if key and user is not None and user.is_authenticated:
            response.set_cookie(
                COOKIE,
                activity_token(key),
                max_age=idle,
                httponly=True,
                secure=settings.SESSION_COOKIE_SECURE,
                samesite=settings.SESSION_COOKIE_SAMESITE,
            )
        elif timed_out or COOKIE in request.COOKIES:
            response.delete_cookie(COOKIE, samesite=settings.SESSION_COOKIE_SAMESITE)
        return response
