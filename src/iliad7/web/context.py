"""Template context for every page: the navigation links of the signed-in user (`iliad7.web.navigation`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from iliad7.web import navigation as nav


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: the links the user may open (settings.TEMPLATES names this context processor)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return nav.context(user)
