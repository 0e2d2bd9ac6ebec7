"""Three-valued (Kleene) logic for rules whose inputs may be missing.

``True`` and ``False`` are known; ``None`` is "cannot tell from the inputs
present". A conjunction with one known false is false whatever else is missing,
which is how a criterion "already decided by the inputs present is decided even
if others are missing" (clinical-rules section 3).
"""

from __future__ import annotations

from collections.abc import Iterable

Truth = bool | None


def all_of(values: Iterable[Truth]) -> Truth:
    result: Truth = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def any_of(values: Iterable[Truth]) -> Truth:
    result: Truth = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def negate(value: Truth) -> Truth:
    return None if value is None else not value
