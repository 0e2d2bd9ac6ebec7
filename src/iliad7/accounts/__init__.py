"""Who may do what in the trial, as pure data: roles, capabilities, participant status.

Nothing here imports Django: the store's access functions, the web app, the
CLI and the tests all read these tables, so the access rules live in one place
a reviewer can hold against the trial's delegation log.
"""

from iliad7.accounts.roles import (
    ROLES,
    Blinding,
    Capability,
    RoleSpec,
    parse_role,
    role_names,
)
from iliad7.accounts.status import (
    FINAL_STATUSES,
    TRANSITIONS,
    ParticipantStatus,
    allowed_next,
    check_transition,
)

__all__ = [
    "FINAL_STATUSES",
    "ROLES",
    "TRANSITIONS",
    "Blinding",
    "Capability",
    "ParticipantStatus",
    "RoleSpec",
    "allowed_next",
    "check_transition",
    "parse_role",
    "role_names",
]
