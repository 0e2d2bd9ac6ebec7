"""Every code of the protocol's pre-screening mappings is well formed: LOINC codes carry their mod-10
check digit and SNOMED CT identifiers their Verhoeff check digit, so a mistyped code cannot match
nothing silently. The synthetic vocabulary uses the same codes."""

from __future__ import annotations

import pytest

from iliad7.prescreen.mapping import prescreen_mappings
from iliad7.prescreen.synth import VOCABULARY

_D = ((0,1,2,3,4,5,6,7,8,9),(1,2,3,4,0,6,7,8,9,5),(2,3,4,0,1,7,8,9,5,6),(3,4,0,1,2,8,9,5,6,7),(4,0,1,2,3,9,5,6,7,8),
      (5,9,8,7,6,0,4,3,2,1),(6,5,9,8,7,1,0,4,3,2),(7,6,5,9,8,2,1,0,4,3),(8,7,6,5,9,3,2,1,0,4),(9,8,7,6,5,4,3,2,1,0))  # fmt: skip
_P = ((0,1,2,3,4,5,6,7,8,9),(1,5,7,6,2,8,3,0,9,4),(5,8,0,3,7,9,6,1,4,2),(8,9,1,6,0,4,3,5,2,7),(9,4,5,3,1,2,6,8,7,0),
      (4,2,8,6,5,7,3,9,0,1),(2,7,9,3,8,0,6,4,1,5),(7,0,4,6,9,1,3,2,5,8))  # fmt: skip


def verhoeff_valid(number: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def loinc_valid(code: str) -> bool:
    body, digit = code.split("-")
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return (10 - total % 10) % 10 == int(digit)


def _codes() -> list[tuple[str, str]]:
    found = {
        (g.vocabulary, c) for m in prescreen_mappings().mappings for g in (*m.concepts, *m.values) for c in g.codes
    }
    found |= {(v, c) for v, c, _, _ in VOCABULARY}
    return sorted(found)


@pytest.mark.parametrize(("vocabulary", "code"), _codes())
def test_each_code_is_well_formed(vocabulary: str, code: str) -> None:
    if vocabulary == "SNOMED":
        assert code.isdigit() and 6 <= len(code) <= 18 and verhoeff_valid(code), code
    elif vocabulary == "LOINC":
        assert loinc_valid(code), code


def test_the_checks_catch_a_typo() -> None:
    assert verhoeff_valid("840539006") and not verhoeff_valid("840539007")
    assert loinc_valid("731-0") and not loinc_valid("731-1")
