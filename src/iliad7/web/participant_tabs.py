"""The section tabs of a participant's pages (overview, calendar, doses, data, casebook, pharmacy).

One list decides which sections a user is shown for a participant; each is a page the user may open
(the pharmacy worksheet only for the unblinded pharmacist), so a shown tab never answers 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from iliad7.accounts.roles import Capability
from iliad7.store import access


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    url: str


def _tabs(participant: Any, user: Any) -> list[Tab]:
    """The sections this user may open for this participant (a link shown is never a 403)."""
    sn = participant.screening_number
    tabs = [Tab("overview", "Overview", reverse("web:participant", args=[sn]))]
    if participant.usubjid:
        tabs += [
            Tab("calendar", "Calendar and forms", reverse("web:calendar", args=[sn])),
            Tab("doses", "Doses", reverse("web:doses", args=[sn])),
        ]
    tabs.append(Tab("data", "Data", reverse("web:participant-data", args=[sn])))
    if participant.usubjid:
        tabs.append(Tab("casebook", "Casebook", reverse("web:casebook", args=[sn])))
    if access.can(user, Capability.PREPARE_DOSE, participant.site) and participant.usubjid:
        tabs.append(Tab("pharmacy", "Pharmacy worksheet", reverse("web:pharmacy", args=[sn])))
    return tabs


def tab_context(participant: Any, user: Any, current: str) -> dict[str, Any]:
    """What `_participant_tabs.html` needs; the calendar and casebook pages use it too."""
    return {"participant": participant, "tabs": _tabs(participant, user), "current_tab": current}
