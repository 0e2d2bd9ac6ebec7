"""Who may open each page of the navigation: one table, read by the navigation and by the views.

Each entry names a page, its link text and the check of the store's access rules that decides
whether the user may open it. The navigation shows only the entries whose check passes; the view
behind each entry calls `require` with the same key, so a link shown always opens and a page a
role may not open is never linked (a test walks every role's links). Pages reached per participant
(the calendar, a form) are not in the navigation: `access_participant` guards them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.urls import reverse

from iliad7.accounts.roles import Capability
from iliad7.errors import AccessDenied
from iliad7.store import access

if TYPE_CHECKING:
    from iliad7.store.models import User


def _sees_participants(user: User) -> bool:
    return access.visible_sites(user).exists()


def _reviews_queries(user: User) -> bool:
    return access.visible_sites(user, Capability.VIEW_QUERIES).exists()


def _sees_sae_clocks(user: User) -> bool:
    # Investigators sign the reports; whoever reviews the data (queries) follows the clocks.
    return (
        access.visible_sites(user, Capability.SIGN_CASEBOOK).exists()
        or access.visible_sites(user, Capability.VIEW_QUERIES).exists()
    )


def _reads_audit(user: User) -> bool:
    from iliad7.web.reads import may_read_audit

    return may_read_audit(user)


def _exports(user: User) -> bool:
    from iliad7.web.exports import may_export

    return may_export(user)


def _keeps_pharmacy(user: User) -> bool:
    return access.visible_sites(user, Capability.DRUG_ACCOUNTABILITY).exists()


@dataclass(frozen=True)
class Page:
    """One page of the navigation: its key, link text, URL name and the check that lets a user open it."""

    key: str
    label: str
    url_name: str
    allowed: Callable[[User], bool]
    count: bool = False  # a count is shown beside the link (`iliad7.web.worklist_views.nav_counts`)


PAGES: tuple[Page, ...] = (
    Page("home", "Home", "web:home", lambda user: True),
    Page("worklist", "Worklist", "web:worklist", _sees_participants),
    Page("dashboard", "Record status", "web:dashboard", _sees_participants),
    Page("participants", "Participants", "web:participants", _sees_participants),
    Page("trial", "Trial overview", "web:trial", _sees_participants),
    Page("queries", "Queries", "web:queries", _reviews_queries, count=True),
    Page("sae-clocks", "SAE clocks", "web:sae-clocks", _sees_sae_clocks, count=True),
    Page("screening-log", "Screening log", "web:screening-log", _sees_participants),
    Page(
        "prescreen",
        "Pre-screening",
        "web:prescreen",
        lambda u: access.visible_sites(u, Capability.VIEW_CANDIDATES).exists(),
    ),
    Page("infections", "Infections", "web:infections", lambda u: access.can(u, Capability.ADJUDICATE_INFECTION)),
    Page("reports", "Reports", "web:reports", lambda u: access.can(u, Capability.VIEW_REPORTS)),
    Page("exports", "Exports", "web:exports", _exports),
    Page("pharmacy-stock", "Pharmacy", "web:pharmacy-stock", _keeps_pharmacy),
    Page(
        "unblinding-events",
        "Unblinding events",
        "web:unblinding-events",
        lambda u: access.can(u, Capability.VIEW_UNBLINDING_EVENTS),
    ),
    Page("audit", "Audit trail", "web:audit", _reads_audit),
)
_BY_KEY = {page.key: page for page in PAGES}

# Why a page was refused, in the words of the 403 page.
_REFUSALS = {
    "queries": "your roles do not see data queries",
    "sae-clocks": "the SAE clocks are for investigators and the reviewers of the data",
    "audit": "your roles do not read the audit trail",
    "trial": "your roles do not see the trial's participants",
}


def allowed(user: User, key: str) -> bool:
    return bool(_BY_KEY[key].allowed(user))


def require(user: User, key: str) -> None:
    """AccessDenied unless the user may open the page `key` (the check its navigation link is shown by)."""
    if not allowed(user, key):
        raise AccessDenied(_REFUSALS.get(key, f"your roles do not open the page {_BY_KEY[key].label!r}"))


@dataclass(frozen=True)
class Link:
    key: str
    label: str
    url: str
    count: int | None  # shown beside the label (queries waiting on the user, SAE clocks running)


def links(user: User) -> list[Link]:
    """The navigation of `user`: a link per page they may open (the pharmacy one per site they keep)."""
    from iliad7.web.worklist_views import nav_counts

    counts = nav_counts(user)
    found: list[Link] = []
    for page in PAGES:
        if not page.allowed(user):
            continue
        if page.key == "pharmacy-stock":
            for site in access.visible_sites(user, Capability.DRUG_ACCOUNTABILITY):
                found.append(Link(page.key, f"{site.code} pharmacy", reverse(page.url_name, args=[site.code]), None))
            continue
        found.append(Link(page.key, page.label, reverse(page.url_name), counts.get(page.key) if page.count else None))
    return found


def context(user: Any) -> dict[str, Any]:
    """Template context of the navigation (and the page flags other templates read)."""
    return {"nav_links": links(user)}
