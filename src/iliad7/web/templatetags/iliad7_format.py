"""Template filters every page uses (a built-in of the templates: see TEMPLATES in iliad7.settings).

`when` shows a moment as people read it, with its zone: ``2026-12-04 13:05 UTC`` (or
``2026-12-04 08:05 EST`` with a zone name), never ``2026-12-04T13:05:53.656598+00:00``. It takes
an aware datetime, an ISO 8601 text (as the audit trail stores them) or a date; anything else is
shown as it is, so a value that is not a moment is never lost.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template

register = template.Library()


def _zone(name: str) -> Any:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def moment_text(value: Any, zone: str = "", *, seconds: bool = False) -> str:
    """`value` as ``YYYY-MM-DD HH:MM ZONE`` (a date as ``YYYY-MM-DD``); text that is no moment as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed: Any = datetime.fromisoformat(text)
        except ValueError:
            return value
        # "2026-12-04" parses as midnight: a date stays a date.
        value = parsed.date() if len(text) == 10 else parsed
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        local = aware.astimezone(_zone(zone))
        name = "UTC" if local.tzinfo is UTC else local.tzname() or zone
        return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {name}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@register.filter
def when(value: Any, zone: str = "") -> str:
    """``{{ moment|when }}`` (UTC) or ``{{ moment|when:"America/New_York" }}``."""
    return moment_text(value, zone)


@register.filter
def when_seconds(value: Any, zone: str = "") -> str:
    """As `when`, to the second (the audit trail, where order within a minute matters)."""
    return moment_text(value, zone, seconds=True)
