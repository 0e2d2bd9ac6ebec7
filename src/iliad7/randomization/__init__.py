"""Allocation list generation for the IRT: pure; the arms re-derivable from a secret seed (issue 4).

    from iliad7.protocol import load_protocol
    from iliad7.randomization import generate_allocation_list, protocol_strata, allocation_csv
    protocol = load_protocol()
    slots = generate_allocation_list(
        protocol.randomization, protocol_strata(protocol.sites), seed=seed, slots_per_stratum=60
    )
    allocation_csv(slots, {})  # the export CSV; the same seed gives the same arms, kit codes are random

No Django and no database here: storing the list concealed, assigning the next
slot under a row lock and exporting it by role are the store's actions.
"""

from iliad7.randomization.allocation import (
    KIT_ALPHABET,
    KIT_CODE_LENGTH,
    AllocationDesign,
    KitCodeSource,
    SeededKitCodes,
    Slot,
    generate_allocation_list,
    protocol_strata,
    random_kit_code,
    verify_balance,
    verify_unique,
)
from iliad7.randomization.export import CSV_HEADER, allocation_csv, read_allocation_csv
from iliad7.randomization.stream import STREAM_LABEL, SeededStream, new_seed

__all__ = [
    "CSV_HEADER",
    "KIT_ALPHABET",
    "KIT_CODE_LENGTH",
    "STREAM_LABEL",
    "AllocationDesign",
    "KitCodeSource",
    "SeededKitCodes",
    "SeededStream",
    "Slot",
    "allocation_csv",
    "generate_allocation_list",
    "new_seed",
    "protocol_strata",
    "random_kit_code",
    "read_allocation_csv",
    "verify_balance",
    "verify_unique",
]
