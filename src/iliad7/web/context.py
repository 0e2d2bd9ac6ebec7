"""Template context for every page: which role-dependent links the navigation shows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from iliad7.accounts.roles import Capability
from iliad7.store import access


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: whether to show the Reports and Infections links."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "may_view_reports": access.can(user, Capability.VIEW_REPORTS),
        "may_adjudicate": access.can(user, Capability.ADJUDICATE_INFECTION),
    }
