"""The allocation list: stratified by site, permuted blocks of 2 and 4, 1:1, arms reproducible from its seed.

Kit codes are drawn from the OS's cryptographic generator, independent of the seed (issue 19).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iliad7.errors import InputError
from iliad7.protocol import load_protocol
from iliad7.randomization import (
    CSV_HEADER,
    KIT_ALPHABET,
    AllocationDesign,
    SeededKitCodes,
    SeededStream,
    Slot,
    allocation_csv,
    generate_allocation_list,
    new_seed,
    protocol_strata,
    verify_balance,
    verify_unique,
)

PROTOCOL = load_protocol()
DESIGN = PROTOCOL.randomization
STRATA = protocol_strata(PROTOCOL.sites)
ARMS = list(DESIGN.allocation.ratio)


def generate(seed: int, slots: int = 40, strata: list[str] | None = None) -> list[Slot]:
    return generate_allocation_list(DESIGN, strata or STRATA, seed=seed, slots_per_stratum=slots)


def by_stratum(slots: list[Slot]) -> dict[str, list[Slot]]:
    result: dict[str, list[Slot]] = {}
    for slot in slots:
        result.setdefault(slot.stratum, []).append(slot)
    return result


def assert_balanced_at_every_block_end(slots: list[Slot]) -> None:
    for stratum, rows in by_stratum(slots).items():
        counts: Counter[str] = Counter()
        for index, slot in enumerate(rows):
            counts[slot.arm] += 1
            ends_block = index + 1 == len(rows) or rows[index + 1].block != slot.block
            if ends_block:
                assert counts[ARMS[0]] == counts[ARMS[1]], (stratum, slot)
            # between block ends the arms never drift apart by more than half the largest block
            assert abs(counts[ARMS[0]] - counts[ARMS[1]]) <= max(DESIGN.blocking.block_sizes) // 2


def test_strata_are_the_protocol_sites() -> None:
    assert STRATA == ["MSKCC", "MDACC"]
    assert DESIGN.stratification.factors == ("site",)


@pytest.mark.parametrize("seed", range(200))
def test_each_stratum_is_balanced_at_every_block_end(seed: int) -> None:
    slots = generate(seed)
    assert_balanced_at_every_block_end(slots)
    assert verify_balance(slots) == []
    assert verify_unique(slots) == []


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63 - 1), wanted=st.integers(min_value=1, max_value=60))
def test_every_stratum_prefix_that_ends_a_block_is_balanced(seed: int, wanted: int) -> None:
    slots = generate(seed, wanted)
    assert_balanced_at_every_block_end(slots)
    for rows in by_stratum(slots).values():
        # whole blocks only: at least what was asked, at most one block's worth more
        assert wanted <= len(rows) < wanted + max(DESIGN.blocking.block_sizes)
        assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))


def _arms_only(slots: list[Slot]) -> list[Slot]:
    return [replace(s, kit_code="") for s in slots]


def test_same_seed_gives_the_same_arms_and_numbers_but_fresh_kit_codes() -> None:
    first, second = generate(20261125), generate(20261125)
    assert _arms_only(first) == _arms_only(second)
    # The attacker's move: knowing the seed gives no kit code of the list.
    assert not {s.kit_code for s in first} & {s.kit_code for s in second}


def test_a_seeded_kit_source_makes_a_simulated_world_reproducible() -> None:
    def world(seed: int) -> list[Slot]:
        return generate_allocation_list(DESIGN, STRATA, seed=seed, slots_per_stratum=40, kit_codes=SeededKitCodes(seed))

    assert world(5) == world(5)
    assert allocation_csv(world(5)).encode() == allocation_csv(world(5)).encode()
    assert {s.kit_code for s in world(5)}.isdisjoint({s.kit_code for s in generate(5)})


def test_a_kit_source_that_breaks_the_alphabet_is_refused() -> None:
    with pytest.raises(ValueError, match="kit code source"):
        generate_allocation_list(DESIGN, STRATA, seed=1, slots_per_stratum=2, kit_codes=lambda stratum: "SHORT")


def test_different_seeds_give_different_lists() -> None:
    lists = {tuple(s.arm for s in generate(seed)) for seed in range(20)}
    assert len(lists) == 20


def test_block_sizes_are_only_2_and_4_and_both_occur() -> None:
    sizes = Counter(slot.block_size for slot in generate(7, 200))
    assert set(sizes) == {2, 4} == set(DESIGN.blocking.block_sizes)
    blocks = {(s.stratum, s.block): s.block_size for s in generate(7, 200)}
    per_size = Counter(blocks.values())
    # uniform choice of size: neither dominates over ~ 130 blocks
    assert 0.3 < per_size[2] / sum(per_size.values()) < 0.7


def test_a_block_can_open_with_either_arm() -> None:
    slots = generate(3, 200)
    openers = Counter(
        s.arm
        for i, s in enumerate(slots)
        if i == 0 or (slots[i - 1].stratum, slots[i - 1].block) != (s.stratum, s.block)
    )
    assert set(openers) == set(ARMS)


def test_kit_codes_are_unique_six_characters_of_the_unambiguous_alphabet() -> None:
    slots = [s for seed in range(5) for s in generate(seed, 300)]
    for slot in slots:
        assert re.fullmatch(f"[{KIT_ALPHABET}]{{6}}", slot.kit_code)
        assert not set(slot.kit_code) & set("0O1IL")
    for seed in range(5):
        one_list = generate(seed, 300)
        assert len({s.kit_code for s in one_list}) == len(one_list) >= 600


def test_kit_codes_are_independent_of_the_arm() -> None:
    # For each character position, a chi-square test of character x arm; a kit code that leaked
    # the arm (a shared prefix, a parity) would blow far past the 0.1 % critical value (59.7, 30 df).
    slots = [s for seed in range(4) for s in generate(seed, 500)]
    for position in range(6):
        table: Counter[tuple[str, str]] = Counter((s.kit_code[position], s.arm) for s in slots)
        chars = sorted({c for c, _ in table})
        arm_total = Counter(s.arm for s in slots)
        statistic = 0.0
        for char in chars:
            row = sum(table[(char, arm)] for arm in ARMS)
            for arm in ARMS:
                expected = row * arm_total[arm] / len(slots)
                statistic += (table[(char, arm)] - expected) ** 2 / expected
        assert statistic < 59.7, (position, statistic)
    for arm in ARMS:
        prefixes = Counter(s.kit_code[:2] for s in slots if s.arm == arm)
        assert prefixes.most_common(1)[0][1] < 20  # no prefix pattern marks an arm


def test_kit_codes_do_not_follow_the_sequence() -> None:
    rows = by_stratum(generate(11, 50))["MSKCC"]
    codes = [r.kit_code for r in rows]
    assert codes != sorted(codes)
    assert len({c[:3] for c in codes}) > 40


def test_randomization_numbers_are_site_prefixed_and_unique_across_the_trial() -> None:
    slots = generate(5, 12)
    assert [s.randomization_number for s in slots[:3]] == ["MSKCC-001", "MSKCC-002", "MSKCC-003"]
    assert {s.randomization_number for s in slots if s.stratum == "MDACC"} >= {"MDACC-001", "MDACC-012"}
    assert len({s.randomization_number for s in slots}) == len(slots)


def test_randomization_numbers_widen_past_999_slots() -> None:
    rows = by_stratum(generate(5, 1000))["MDACC"]
    assert rows[0].randomization_number == "MDACC-0001"
    assert rows[-1].randomization_number == f"MDACC-{len(rows):04d}"


def test_list_is_rederivable_from_the_documented_stream() -> None:
    # The stream as documented in stream.py, written out independently of the code.
    def draw(seed: int, stratum: str, purpose: str, k: int) -> int:
        text = f"iliad7-allocation-v1|{seed}|{stratum}|{purpose}|{k}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")

    seed = 123456789
    stream = SeededStream(seed, "MSKCC", "blocks")
    assert [stream.draw() for _ in range(3)] == [draw(seed, "MSKCC", "blocks", k) for k in range(3)]
    # The first block: its size is sizes[below(2)], then a Fisher-Yates shuffle of [CYT107, ..., placebo, ...].
    k = 0

    def below(n: int) -> int:
        nonlocal k
        limit = 2**64 - 2**64 % n
        while True:
            value = draw(seed, "MSKCC", "blocks", k)
            k += 1
            if value < limit:
                return value % n

    size = (2, 4)[below(2)]
    arms = ["CYT107"] * (size // 2) + ["placebo"] * (size // 2)
    for i in range(len(arms) - 1, 0, -1):
        j = below(i + 1)
        arms[i], arms[j] = arms[j], arms[i]
    first_block = [s for s in generate(seed) if s.stratum == "MSKCC" and s.block == 1]
    assert [s.arm for s in first_block] == arms
    assert {s.block_size for s in first_block} == {size}


def test_a_stratum_does_not_depend_on_the_other_strata() -> None:
    alone = generate(99, 30, ["MDACC"])
    together = by_stratum(generate(99, 30))["MDACC"]
    assert [s.arm for s in alone] == [s.arm for s in together]
    assert _arms_only(generate(99, 30, ["MSKCC"])) == _arms_only(by_stratum(generate(99, 30))["MSKCC"])


def test_csv_has_exactly_the_interface_header_and_one_line_per_slot() -> None:
    slots = generate(8, 6)
    text = allocation_csv(slots, {"MSKCC-002": "ILIAD-7-US-O-MSKCC-0001"})
    lines = text.split("\n")
    assert lines[0] == "stratum,block,block_size,sequence,randomization_number,arm,kit_code,usubjid"
    assert ",".join(CSV_HEADER) == lines[0]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(slots) and text.endswith("\n") and "\r" not in text
    assert {r["arm"] for r in rows} == {"CYT107", "placebo"}
    used = [r for r in rows if r["usubjid"]]
    assert [(r["randomization_number"], r["usubjid"]) for r in used] == [("MSKCC-002", "ILIAD-7-US-O-MSKCC-0001")]
    first = rows[0]
    assert (first["stratum"], first["block"], first["sequence"]) == ("MSKCC", "1", "1")
    assert first["block_size"] in {"2", "4"} and first["kit_code"] == slots[0].kit_code


def test_csv_refuses_a_usubjid_for_an_unknown_slot_or_used_twice() -> None:
    slots = generate(8, 6)
    with pytest.raises(InputError, match="MSKCC-999"):
        allocation_csv(slots, {"MSKCC-999": "X"})
    with pytest.raises(InputError, match="more than one slot"):
        allocation_csv(slots, {"MSKCC-001": "X", "MSKCC-002": "X"})


def test_verify_balance_reports_an_unbalanced_block() -> None:
    slots = generate(4, 10)
    flipped = replace(slots[0], arm="placebo" if slots[0].arm == "CYT107" else "CYT107")
    problems = verify_balance([flipped, *slots[1:]])
    assert len(problems) == 1 and "MSKCC block 1" in problems[0]
    assert verify_balance(slots[1:]) != []  # a list that does not start at sequence 1


def test_verify_unique_reports_a_repeated_kit_code() -> None:
    slots = generate(4, 4)
    twin = replace(slots[1], kit_code=slots[0].kit_code)
    assert verify_unique([slots[0], twin]) == [f"kit code(s) used more than once: {slots[0].kit_code}"]


def test_another_design_follows_its_ratio_and_blocks() -> None:
    design = AllocationDesign(ratio={"A": 2, "B": 1}, block_sizes=(3, 6), block_size_choice="uniform-random")
    slots = generate_allocation_list(design, ["S1"], seed=1, slots_per_stratum=90)
    assert verify_balance(slots, {"A": 2, "B": 1}) == []
    assert {s.block_size for s in slots} == {3, 6}
    assert Counter(s.arm for s in slots)["A"] == 2 * Counter(s.arm for s in slots)["B"]
    fixed = AllocationDesign(ratio={"A": 1, "B": 1}, block_sizes=(4,), block_size_choice="fixed")
    assert {s.block_size for s in generate_allocation_list(fixed, ["S1"], seed=1, slots_per_stratum=9)} == {4}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"slots_per_stratum": 0}, "slots_per_stratum"),
        ({"strata": ["MSKCC", "MSKCC"]}, "strata"),
        ({"strata": []}, "strata"),
        ({"strata": ["MS,KCC"]}, "strata"),
    ],
)
def test_bad_generation_input_is_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"strata": STRATA, "seed": 1, "slots_per_stratum": 4, **kwargs}
    with pytest.raises(InputError) as refused:
        generate_allocation_list(DESIGN, **arguments)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_block_size_that_does_not_fit_the_ratio_is_refused() -> None:
    with pytest.raises(InputError, match="not a multiple"):
        AllocationDesign(ratio={"A": 1, "B": 1}, block_sizes=(2, 3), block_size_choice="uniform-random")
    with pytest.raises(InputError, match="exactly one size"):
        AllocationDesign(ratio={"A": 1, "B": 1}, block_sizes=(2, 4), block_size_choice="fixed")


def test_new_seeds_are_secret_63_bit_integers() -> None:
    seeds = {new_seed() for _ in range(20)}
    assert len(seeds) == 20 and all(0 <= s < 2**63 for s in seeds)
    assert math.log2(max(seeds)) > 50
