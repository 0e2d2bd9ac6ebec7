"""A seeded, fully specified random stream that the unblinded statistician can re-derive.

Python's `random.Random` only promises that `random()` stays the same across
versions; `choice`, `shuffle` and `randrange` have changed before. The
allocation list must be re-derivable from its seed years later, in any
language, so the stream is defined here in a few lines:

    draw k (k = 0, 1, 2, ...) = the first 8 bytes, big-endian, of
        SHA-256("iliad7-allocation-v1|{seed}|{stratum}|{purpose}|{k}")   (UTF-8)

`below(n)` is uniform on 0..n-1 by rejection (a draw >= the largest multiple
of n below 2**64 is discarded and the next draw taken), then `draw mod n`.
`shuffle` is Fisher-Yates from the last position down: for i = len-1 .. 1,
swap i with `below(i + 1)`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import MutableSequence
from typing import TypeVar

#: Changing anything about the stream would change every list: bump this label then.
STREAM_LABEL = "iliad7-allocation-v1"
_SPACE = 1 << 64

T = TypeVar("T")


def new_seed() -> int:
    """A fresh secret seed for a new allocation list (63 bits: fits a signed 64-bit column)."""
    return secrets.randbits(63)


class SeededStream:
    """The deterministic draws of one (seed, stratum, purpose) triple; see the module docstring."""

    def __init__(self, seed: int, stratum: str, purpose: str) -> None:
        self._prefix = f"{STREAM_LABEL}|{seed}|{stratum}|{purpose}|"
        self._counter = 0

    def draw(self) -> int:
        """The next raw draw, uniform on 0 .. 2**64 - 1."""
        digest = hashlib.sha256(f"{self._prefix}{self._counter}".encode()).digest()
        self._counter += 1
        return int.from_bytes(digest[:8], "big")

    def below(self, n: int) -> int:
        """Uniform on 0 .. n-1, without modulo bias."""
        if n < 1:
            raise ValueError(f"below() needs n >= 1, not {n}")
        limit = _SPACE - _SPACE % n
        while True:
            value = self.draw()
            if value < limit:
                return value % n

    def shuffle(self, items: MutableSequence[T]) -> None:
        """Fisher-Yates, in place, from the last position down."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
