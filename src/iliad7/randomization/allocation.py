"""The allocation list: stratified permuted blocks of random size (issue 4, protocol `randomization`).

For each stratum (a site: the protocol stratifies by site only), blocks are
drawn one after another until the stratum has at least the requested number
of slots. A block's size is drawn uniformly from the protocol's block sizes
(2 and 4); it holds each arm in proportion to the allocation ratio (1:1) and
is put in random order. Lists are always made of whole blocks, so every
stratum is balanced at every block end; a stratum can therefore hold up to
(largest block - 1) more slots than requested.

Each slot gets

- a randomization number `{stratum}-{sequence}`, zero-padded to at least three
  digits (`MSKCC-001`): unique across the trial because the stratum is part of
  it, readable at the bedside, and saying nothing about the arm;
- a kit code, the syringe label: six characters from an alphabet without the
  look-alikes 0/O, 1/I/L, unique across the whole list. Kit codes are shown to
  blinded staff (the syringe, the randomization record), so they come from the
  operating system's cryptographic generator (`secrets`), independent of the
  seed, the arm, the stratum and the sequence: knowing the seed, or any number
  of kit codes, says nothing about another kit code or about an arm.

The arms come from the seed through `SeededStream` (see stream.py): the arms of
a stratum from the stream `(seed, stratum, "blocks")`, strata in the order
given. The same seed, strata, slot count and design therefore give the same
blocks, sequence, randomization numbers and arms, and the unblinded
statistician can re-derive them from those four alone; the kit codes are the
list's own and are checked for form and uniqueness only. The seed is the
secret of the list: a fresh `new_seed()` from `secrets`, never another seed.

A simulated world (iliad7.simulate), which has no blinded reader, passes
`SeededKitCodes(seed)` instead so that its cohort is reproducible.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from iliad7.errors import InputError
from iliad7.protocol import Randomization, Site
from iliad7.randomization.stream import SeededStream

#: Syringe-label characters: uppercase letters and digits without 0, O, 1, I and L.
KIT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
KIT_CODE_LENGTH = 6
_KIT_CODE = re.compile(f"^[{KIT_ALPHABET}]{{{KIT_CODE_LENGTH}}}$")
#: Randomization numbers are `{stratum}-{sequence}` with at least this many digits.
SEQUENCE_DIGITS = 3

_STRATUM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")

#: Draws one kit code for a slot of the given stratum.
KitCodeSource = Callable[[str], str]


def random_kit_code(stratum: str = "") -> str:
    """A kit code from the operating system's cryptographic generator (the stratum plays no part)."""
    return "".join(secrets.choice(KIT_ALPHABET) for _ in range(KIT_CODE_LENGTH))


class SeededKitCodes:
    """Kit codes drawn from `(seed, stratum, "kits")`: for a simulated world only, never for a trial's list."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._streams: dict[str, SeededStream] = {}

    def __call__(self, stratum: str) -> str:
        stream = self._streams.setdefault(stratum, SeededStream(self._seed, stratum, "kits"))
        return "".join(KIT_ALPHABET[stream.below(len(KIT_ALPHABET))] for _ in range(KIT_CODE_LENGTH))


@dataclass(frozen=True)
class AllocationDesign:
    """What the list generator needs from the protocol: the ratio and the blocking."""

    ratio: Mapping[str, int]  # arm code -> share, in the protocol's arm order
    block_sizes: tuple[int, ...]
    block_size_choice: str  # "uniform-random" or "fixed"

    @classmethod
    def from_protocol(cls, randomization: Randomization) -> AllocationDesign:
        return cls(
            ratio=dict(randomization.allocation.ratio),
            block_sizes=tuple(randomization.blocking.block_sizes),
            block_size_choice=randomization.blocking.block_size_choice,
        )

    def __post_init__(self) -> None:
        if not self.ratio or any(share < 1 for share in self.ratio.values()):
            raise InputError("ratio", f"every arm needs a positive share, not {dict(self.ratio)}")
        total = sum(self.ratio.values())
        if not self.block_sizes:
            raise InputError("block_sizes", "give at least one block size")
        for size in self.block_sizes:
            if size < 1 or size % total:
                raise InputError("block_sizes", f"block size {size} is not a multiple of the ratio total {total}")
        if self.block_size_choice == "fixed" and len(self.block_sizes) != 1:
            raise InputError("block_size_choice", f"fixed blocks need exactly one size, not {self.block_sizes}")
        if self.block_size_choice not in {"fixed", "uniform-random"}:
            raise InputError("block_size_choice", f"unknown choice {self.block_size_choice!r}")

    def block_contents(self, size: int) -> list[str]:
        """The arms of one block before shuffling: each arm's share of `size`, in ratio order."""
        per_share = size // sum(self.ratio.values())
        return [arm for arm, share in self.ratio.items() for _ in range(share * per_share)]


@dataclass(frozen=True)
class Slot:
    """One line of the allocation list."""

    stratum: str
    block: int  # 1-based, within the stratum
    block_size: int
    sequence: int  # 1-based, within the stratum: the order in which slots are assigned
    randomization_number: str
    arm: str
    kit_code: str


def protocol_strata(sites: Iterable[Site]) -> list[str]:
    """The strata of a site-stratified protocol: its site codes, in file order."""
    return [site.code for site in sites]


def generate_allocation_list(
    design: Randomization | AllocationDesign,
    strata: Sequence[str],
    *,
    seed: int,
    slots_per_stratum: int,
    kit_codes: KitCodeSource = random_kit_code,
) -> list[Slot]:
    """The allocation list for `strata`, at least `slots_per_stratum` slots each, arms from `seed`.

    Slots come stratum by stratum (in the order given), each in sequence order. Kit codes
    come from `kit_codes` (by default the cryptographic generator; see the module text).
    """
    if isinstance(design, Randomization):
        design = AllocationDesign.from_protocol(design)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError("seed", f"must be a non-negative integer, not {seed!r}")
    if isinstance(slots_per_stratum, bool) or not isinstance(slots_per_stratum, int) or slots_per_stratum < 1:
        raise InputError("slots_per_stratum", f"must be a positive integer, not {slots_per_stratum!r}")
    if not strata:
        raise InputError("strata", "give at least one stratum")
    for stratum in strata:
        if not _STRATUM.match(stratum):
            raise InputError("strata", f"{stratum!r} is not a code (letters, digits, hyphens)")
    duplicated = sorted(s for s, n in Counter(strata).items() if n > 1)
    if duplicated:
        raise InputError("strata", f"listed twice: {', '.join(duplicated)}")

    slots: list[Slot] = []
    issued_kits: set[str] = set()
    for stratum in strata:
        arms = _stratum_arms(design, seed, stratum, slots_per_stratum)
        digits = max(SEQUENCE_DIGITS, len(str(len(arms))))
        for sequence, (block, block_size, arm) in enumerate(arms, start=1):
            slots.append(
                Slot(
                    stratum=stratum,
                    block=block,
                    block_size=block_size,
                    sequence=sequence,
                    randomization_number=f"{stratum}-{sequence:0{digits}d}",
                    arm=arm,
                    kit_code=_new_kit_code(kit_codes, stratum, issued_kits),
                )
            )
    return slots


def _stratum_arms(design: AllocationDesign, seed: int, stratum: str, wanted: int) -> list[tuple[int, int, str]]:
    """(block number, block size, arm) for each slot of one stratum, whole blocks only."""
    stream = SeededStream(seed, stratum, "blocks")
    rows: list[tuple[int, int, str]] = []
    block = 0
    while len(rows) < wanted:
        block += 1
        size = design.block_sizes[stream.below(len(design.block_sizes))]
        arms = design.block_contents(size)
        stream.shuffle(arms)
        rows.extend((block, size, arm) for arm in arms)
    return rows


def _new_kit_code(source: KitCodeSource, stratum: str, issued: set[str]) -> str:
    # A collision (about 1 in 887 million per pair) is drawn again from the same source.
    while True:
        code = source(stratum)
        if not _KIT_CODE.match(code):
            raise ValueError(f"kit code source gave {code!r}, not {KIT_CODE_LENGTH} characters of {KIT_ALPHABET}")
        if code not in issued:
            issued.add(code)
            return code


def verify_balance(slots: Sequence[Slot], ratio: Mapping[str, int] | None = None) -> list[str]:
    """Problems with the list's blocks; an empty list means every block is complete and balanced.

    Checks, per stratum: sequences run 1, 2, 3, ... in list order; blocks run 1, 2, 3, ...;
    each block has exactly `block_size` slots, one size throughout; each block holds the
    arms in the proportions of `ratio` (by default, equal shares of the arms in the list).
    """
    if ratio is None:
        ratio = dict.fromkeys(sorted({slot.arm for slot in slots}), 1)
    total = sum(ratio.values())
    problems: list[str] = []
    by_stratum: dict[str, list[Slot]] = {}
    for slot in slots:
        by_stratum.setdefault(slot.stratum, []).append(slot)
    for stratum, rows in by_stratum.items():
        sequences = [row.sequence for row in rows]
        if sequences != list(range(1, len(rows) + 1)):
            problems.append(f"{stratum}: sequences are not 1..{len(rows)} in order")
        blocks: dict[int, list[Slot]] = {}
        for row in rows:
            blocks.setdefault(row.block, []).append(row)
        if list(blocks) != list(range(1, len(blocks) + 1)):
            problems.append(f"{stratum}: blocks are not numbered 1..{len(blocks)} in order")
        for number, members in blocks.items():
            sizes = {m.block_size for m in members}
            if len(sizes) != 1 or len(members) != members[0].block_size:
                problems.append(f"{stratum} block {number}: {len(members)} slots for block size(s) {sorted(sizes)}")
                continue
            size = members[0].block_size
            counts = Counter(m.arm for m in members)
            expected = {arm: share * size // total for arm, share in ratio.items()} if size % total == 0 else {}
            if dict(counts) != {arm: n for arm, n in expected.items() if n}:
                problems.append(f"{stratum} block {number}: arms {dict(sorted(counts.items()))} are not balanced")
    return problems


def verify_unique(slots: Sequence[Slot]) -> list[str]:
    """Problems with identifiers: every randomization number and every kit code appears once; kit codes well formed."""
    problems: list[str] = []
    malformed = sorted(s.randomization_number for s in slots if not _KIT_CODE.match(s.kit_code))
    if malformed:
        problems.append(
            f"kit code(s) not {KIT_CODE_LENGTH} characters of {KIT_ALPHABET}: slot(s) {', '.join(malformed)}"
        )
    for field, values in (
        ("randomization number", [s.randomization_number for s in slots]),
        ("kit code", [s.kit_code for s in slots]),
    ):
        repeated = sorted(v for v, n in Counter(values).items() if n > 1)
        if repeated:
            problems.append(f"{field}(s) used more than once: {', '.join(repeated)}")
    return problems
