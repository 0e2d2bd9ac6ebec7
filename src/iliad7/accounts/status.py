"""Participant status: the protocol's flow from screening to the end of follow-up.

The transition table is the whole rule: a participant is screened, consents,
and is then either randomized or a screen failure; once randomized they are
followed (intention to treat) whether or not a dose is given, until they
complete day 45, withdraw consent, die or are lost to follow-up. A participant
lost to follow-up may later be found to have died (vital-status search);
every other end is final.
"""

from __future__ import annotations

from enum import StrEnum

from iliad7.errors import InputError, InvalidTransition


class ParticipantStatus(StrEnum):
    SCREENED = "screened"
    CONSENTED = "consented"
    SCREEN_FAILED = "screen_failed"
    RANDOMIZED = "randomized"
    ON_TREATMENT = "on_treatment"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    DIED = "died"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


S = ParticipantStatus
_FOLLOW_UP_ENDS = (S.COMPLETED, S.WITHDRAWN, S.DIED, S.LOST_TO_FOLLOW_UP)

TRANSITIONS: dict[ParticipantStatus, tuple[ParticipantStatus, ...]] = {
    S.SCREENED: (S.CONSENTED, S.SCREEN_FAILED),
    S.CONSENTED: (S.RANDOMIZED, S.SCREEN_FAILED, S.WITHDRAWN),
    S.RANDOMIZED: (S.ON_TREATMENT, *_FOLLOW_UP_ENDS),
    S.ON_TREATMENT: _FOLLOW_UP_ENDS,
    S.LOST_TO_FOLLOW_UP: (S.DIED,),
    S.SCREEN_FAILED: (),
    S.COMPLETED: (),
    S.WITHDRAWN: (),
    S.DIED: (),
}

FINAL_STATUSES = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


def parse_status(value: str, field: str = "status") -> ParticipantStatus:
    try:
        return ParticipantStatus(value.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        raise InputError(
            field,
            f"unknown status {value!r}; one of: {', '.join(s.value for s in ParticipantStatus)}",
        ) from None


def allowed_next(current: ParticipantStatus | str) -> tuple[ParticipantStatus, ...]:
    return TRANSITIONS[ParticipantStatus(current)]


def check_transition(current: ParticipantStatus | str, target: ParticipantStatus | str) -> ParticipantStatus:
    """`target` as a status if the table allows current -> target, else InvalidTransition."""
    cur = ParticipantStatus(current)
    tgt = parse_status(target) if isinstance(target, str) else target
    allowed = TRANSITIONS[cur]
    if tgt not in allowed:
        raise InvalidTransition(cur.value, tgt.value, tuple(s.value for s in allowed))
    return tgt
