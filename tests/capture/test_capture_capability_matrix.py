"""Which role holds which data-capture capability, written out independently of iliad7.accounts.roles."""

from __future__ import annotations

import pytest

from iliad7.accounts.roles import ROLES
from iliad7.accounts.roles import Capability as C

CAPTURE_CAPABILITIES = {
    C.VIEW_QUERIES,
    C.RAISE_QUERY,
    C.ANSWER_QUERY,
    C.VERIFY_SOURCE,
    C.LOCK_DATA,
    C.RECORD_DATA,
    C.SIGN_CASEBOOK,
}
EXPECTED = {
    "investigator": {C.VIEW_QUERIES, C.ANSWER_QUERY, C.RECORD_DATA, C.SIGN_CASEBOOK},
    "coordinator": {C.VIEW_QUERIES, C.ANSWER_QUERY, C.RECORD_DATA},
    "monitor": {C.VIEW_QUERIES, C.RAISE_QUERY, C.VERIFY_SOURCE},
    "data-manager": {C.VIEW_QUERIES, C.RAISE_QUERY, C.LOCK_DATA},
    "unblinded-pharmacist": set(),
    "infection-adjudicator": set(),
    "dsmb-member": set(),
    "blinded-statistician": set(),
    "unblinded-statistician": set(),
    "sponsor-viewer": set(),
    "administrator": set(),
}


def test_the_table_names_every_role() -> None:
    assert set(EXPECTED) == set(ROLES)


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_capture_capabilities_of_each_role_are_exactly_the_table(role: str) -> None:
    assert set(ROLES[role].capabilities) & CAPTURE_CAPABILITIES == EXPECTED[role]


def test_no_role_that_sees_the_arm_enters_reviews_or_locks_data() -> None:
    for name, spec in ROLES.items():
        if spec.unblinded:
            assert not set(spec.capabilities) & CAPTURE_CAPABILITIES, name


def test_nobody_both_raises_and_answers_queries() -> None:
    for name, spec in ROLES.items():
        assert not {C.RAISE_QUERY, C.ANSWER_QUERY} <= set(spec.capabilities), name
