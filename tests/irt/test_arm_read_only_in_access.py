"""The arm is read only in store/access.py and the allocation-list actions (style.md 1b).

Any other code that reaches the allocation slots' `arm` column (an attribute,
a `values("arm")`, a lookup `arm=` / `arm__`, or a `slot__arm` traversal)
fails this test, wherever it is: store, web, API, CLI, analysis, simulator.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "iliad7"
ALLOWED = {"store/access.py", "store/actions/allocation.py", "store/models.py"}
# Pure packages generate the list or compute a syringe from an arm they are handed; they touch no database.
PURE = ("randomization/", "dosing/", "protocol/", "scores/", "eligibility/", "schedule/")
SLOT_MODEL = re.compile(r"\bAllocationSlot\b|\ballocation_slot\b|\.slots\b")
ARM_READ = re.compile(r"""\.arm\b|["']arm["']|\barm__|\bslot__arm\b|allocation_slot__arm\b""")


def _offenders() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in ALLOWED or rel.startswith(PURE) or "/migrations/" in rel:
            continue
        text = path.read_text(encoding="utf-8")
        touches_slots = bool(SLOT_MODEL.search(text))
        for lineno, line in enumerate(text.splitlines(), start=1):
            traverses = "slot__arm" in line  # a join from another model to the arm
            if traverses or (touches_slots and ARM_READ.search(line)):
                found.append(f"{rel}:{lineno}: {line.strip()}")
    return found


def test_allocation_arm_is_read_only_in_access_and_allocation_actions() -> None:
    assert _offenders() == []


def test_arm_detector_flags_a_read_outside_the_allowed_files(tmp_path: Path) -> None:
    # Guard the guard: the patterns must match the ways an arm can be read.
    for line in (
        'AllocationSlot.objects.values_list("arm", flat=True)',
        "slot.arm",
        "AllocationSlot.objects.filter(arm__in=x)",
        "Participant.objects.filter(allocation_slot__arm='CYT107')",
    ):
        assert ARM_READ.search(line) or "slot__arm" in line, line
    text = (SRC / "store" / "access.py").read_text(encoding="utf-8")
    assert SLOT_MODEL.search(text) and ARM_READ.search(text)


def test_only_the_store_and_its_actions_query_the_slot_table() -> None:
    allowed = {
        "store/models.py",
        "store/access.py",
        "store/actions/allocation.py",
        "store/actions/randomization.py",
        "store/actions/unblinding.py",
        "store/actions/pharmacy.py",
    }
    users = [
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if "/migrations/" not in path.as_posix() and re.search(r"\bAllocationSlot\b", path.read_text(encoding="utf-8"))
    ]
    assert sorted(set(users) - allowed) == []
