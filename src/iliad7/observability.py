"""Structured logs: one JSON object per line, and one line per request with its id, user, status and duration.

`JsonFormatter` turns every log record into a JSON line (time in UTC ISO 8601,
level, logger, message, the request fields when present, the traceback as
`exc`). `RequestLogMiddleware` gives each request an id (a well-formed
incoming `X-Request-ID` is kept, so a proxy's id follows the request; else a
new one), answers it in `X-Request-ID`, and logs `iliad7.request` at INFO:
method, path (no query string: it may hold values), status, duration in ms,
user name (or null). Nothing in a line comes from a request body.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponseBase

REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
logger = logging.getLogger("iliad7.request")


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class RequestLogMiddleware:
    """Log one JSON line per request (id, method, path, status, duration, user); echo X-Request-ID."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        start = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        fields = {
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(1000 * (time.perf_counter() - start), 1),
            "user": user.get_username() if user is not None and user.is_authenticated else None,
        }
        response["X-Request-ID"] = request_id
        logger.info("%s %s %s", request.method, request.path, response.status_code, extra=fields)
        return response
