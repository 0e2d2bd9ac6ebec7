"""Reads that matter, audited: who opened what, when, through which channel.

Most reads leave no trace (a page view writes nothing). These do, each as one
audit record `read.<what>` committed on its own, by `audit_read`, called by
the function that performs the read (never by a view):

- `allocation_list`: the allocation list opened (verified against its seed;
  exporting it is the `export` security event of `export_allocation_list`);
- `pharmacy_worksheet`: an unblinded pharmacist's worksheet of a participant
  (the syringe contents, the arm);
- `closed_report`: a closed (by-arm) report read back, a file of it;
- `unblinding_events`: the list of emergency unblindings;
- `export`: a data export (SDTM, ADaM, ODM, CSV or Parquet);
- `candidate_list`: a list of identifiable candidate patients (the
  pre-screening worklist calls `audit_read(user, "candidate_list", ...)` when
  it shows one).

The audit trail is readable by blinded roles, so a read record says who, what
kind of thing and which object, and never anything that depends on an arm:
no arm, no syringe contents, no vial counts, no hash of unblinded data. The
`detail` given is kept as is: callers pass only such blinded-safe facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from iliad7.accounts.roles import role_names
from iliad7.audit import trail
from iliad7.store.access import roles_of
from iliad7.store.actions._common import check_channel
from iliad7.store.models import User

AUDITED_READS = {
    "allocation_list": "the allocation list",
    "pharmacy_worksheet": "a participant's pharmacy worksheet",
    "closed_report": "a closed (by-arm) report",
    "unblinding_events": "the emergency unblindings",
    "export": "a data export",
    "candidate_list": "a list of identifiable candidate patients",
    "candidate": "one identifiable candidate patient's EHR values",
}


def audit_read(
    user: User,
    what: str,
    object_id: str = "",
    *,
    channel: str,
    detail: Mapping[str, Any] | None = None,
    role: str = "",
) -> None:
    """Record that `user` read `what` (one of AUDITED_READS) about `object_id`, committed on its own.

    `role` defaults to all the user's roles; `detail` must hold nothing that depends on an arm.
    """
    if what not in AUDITED_READS:
        raise ValueError(f"unknown audited read {what!r}; one of: {', '.join(AUDITED_READS)}")
    check_channel(channel)
    with transaction.atomic():
        trail.append(
            actor=user.username,
            role=role or role_names(roles_of(user)),
            channel=channel,
            action=f"read.{what}",
            object_type=what,
            object_id=str(object_id),
            new=dict(detail) if detail else None,
        )
