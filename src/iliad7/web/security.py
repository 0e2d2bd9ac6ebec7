"""Security headers the web app adds where Django itself does not.

Django 6 sends the Content-Security-Policy from `SECURE_CSP` with its own
middleware; on Django 5.2 (still allowed on Python 3.11) this stand-in sends
the same header from the same setting. `NoStoreMiddleware` keeps every page
and API answer out of caches.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


def policy_text(policy: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(values)}" for name, values in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        policy = getattr(settings, "SECURE_CSP", None)
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy_text(policy)
        return response


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer that does not say otherwise (issue 22).

    Pages and API answers carry patient data: no browser or proxy cache may keep them (a shared
    ward computer's back button, a proxy's disk). Only the app's static files (HTMX, the style
    sheet) say they may be cached, and they set their own header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        from django.utils.cache import add_never_cache_headers

        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)  # max-age=0, no-cache, no-store, must-revalidate, private
        return response


def _unstorable(text: str) -> bool:
    """NUL (PostgreSQL text cannot hold it) or a lone surrogate (not Unicode text: UTF-8 cannot encode it)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unstorable_in_json(value: object, path: str = "") -> str | None:
    """The path of the first key or string no database column can hold in a parsed JSON value, or None."""
    if isinstance(value, str):
        return (path or "body") if _unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _unstorable(str(key)):
                return path or "body"
            found = _unstorable_in_json(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_in_json(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


# A JSON escape of NUL or of a UTF-16 surrogate half (paired ones are fine; the parse tells).
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)


class NulCharacterMiddleware:
    """Refuse text no database column can hold anywhere in a request, before it reaches a query or a value.

    PostgreSQL cannot hold NUL in text (a query or an insert with one fails), a lone UTF-16
    surrogate (`\\ud800` in JSON) is not text at all, and no name or value of the trial has either.
    In the address nothing can match them: 404; in a page's query string too. In an API query
    parameter or a JSON body: 422 naming the field, in the API's validation-error shape (the status
    every such operation documents); in a page's submitted form: 400 naming the field.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if "\x00" in request.path:
            return self._answer(request, 404, "", "not found")
        query = next((k for k, values in request.GET.lists() if "\x00" in k or any("\x00" in v for v in values)), None)
        if query is not None:
            # A page's filter matches nothing: 404. An API query parameter is input like a body field.
            if request.path.startswith("/api"):
                return self._answer(request, 422, query.replace("\x00", "") or "query", "holds a NUL character")
            return self._answer(request, 404, "", "not found")
        field = self._body_field(request)
        if field is not None:
            # Under /api/ it is a validation error like any other (422, the status every body-taking
            # operation documents); a page's form answers 400.
            status = 422 if request.path.startswith("/api") else 400
            return self._answer(request, status, field, "holds a NUL character; send plain text")
        return self.get_response(request)

    @staticmethod
    def _body_field(request: HttpRequest) -> str | None:
        from django.core.exceptions import RequestDataTooBig

        if request.method not in ("POST", "PUT", "PATCH"):
            return None
        try:
            body = request.body
        except RequestDataTooBig:
            return None  # the view answers 413
        if b"\x00" not in body and not _SUSPECT_ESCAPE.search(body):
            return None
        if request.content_type == "application/json":
            import json

            try:
                data = json.loads(body)  # the standard parser keeps lone surrogates, as the API's does
            except (ValueError, RecursionError):
                return "body" if b"\x00" in body else None
            return _unstorable_in_json(data)
        for key, values in request.POST.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return key.replace("\x00", "") or "body"
        return "body" if b"\x00" in body else None

    @staticmethod
    def _answer(request: HttpRequest, status: int, field: str, message: str) -> HttpResponseBase:
        from django.http import HttpResponse, JsonResponse

        if request.path.startswith("/api"):
            if not field:
                return JsonResponse({"detail": message}, status=status)
            detail = [{"loc": [field], "msg": message, "type": "value_error"}]
            return JsonResponse({"detail": detail, "field": field}, status=status)
        text = message if not field else f"{field}: {message}"
        return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
