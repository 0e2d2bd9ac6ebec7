"""Which role holds which IRT capability, written out independently of iliad7.accounts.roles."""

from __future__ import annotations

import pytest

from iliad7.accounts.roles import ROLES, Capability

C = Capability
IRT_CAPABILITIES = {
    C.RECORD_CONSENT,
    C.RANDOMIZE,
    C.GENERATE_ALLOCATION,
    C.EXPORT_ALLOCATION,
    C.VIEW_ALLOCATION,
    C.VIEW_ALLOCATION_CLOSED_SESSION,
    C.UNBLIND,
    C.VIEW_UNBLINDING_EVENTS,
    C.PREPARE_DOSE,
    C.DRUG_ACCOUNTABILITY,
    C.RECORD_DOSE,
}
EXPECTED = {
    "investigator": {C.RECORD_CONSENT, C.RECORD_DOSE, C.RANDOMIZE, C.UNBLIND},
    "coordinator": {C.RECORD_CONSENT, C.RECORD_DOSE},
    "unblinded-pharmacist": {C.VIEW_ALLOCATION, C.EXPORT_ALLOCATION, C.PREPARE_DOSE, C.DRUG_ACCOUNTABILITY},
    "monitor": set(),
    "data-manager": {C.VIEW_UNBLINDING_EVENTS},
    "infection-adjudicator": set(),
    "dsmb-member": {C.VIEW_UNBLINDING_EVENTS, C.VIEW_ALLOCATION_CLOSED_SESSION},
    "blinded-statistician": set(),
    "unblinded-statistician": {C.GENERATE_ALLOCATION, C.EXPORT_ALLOCATION, C.VIEW_ALLOCATION},
    "sponsor-viewer": {C.VIEW_UNBLINDING_EVENTS},
    "administrator": set(),
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_irt_capabilities_of_each_role_are_exactly_the_table(role: str) -> None:
    assert set(ROLES[role].capabilities) & IRT_CAPABILITIES == EXPECTED[role]


def test_every_role_that_reads_the_arm_is_unblinded_or_closed_session() -> None:
    from iliad7.accounts.roles import Blinding

    for name, spec in ROLES.items():
        if C.VIEW_ALLOCATION in spec.capabilities:
            assert spec.blinding is Blinding.UNBLINDED, name
        if C.VIEW_ALLOCATION_CLOSED_SESSION in spec.capabilities:
            assert spec.blinding is Blinding.CLOSED_SESSION, name
        if C.VIEW_ALLOCATION in spec.capabilities or C.VIEW_ALLOCATION_CLOSED_SESSION in spec.capabilities:
            assert spec.needs_totp, name
