"""The allocation list as the CSV of the scriptable interface (shared/spec/interfaces.md).

`iliad7 randomization export` writes exactly this text: the header
`stratum,block,block_size,sequence,randomization_number,arm,kit_code,usubjid`,
one line per slot in list order, `usubjid` empty for a slot not yet used,
lines ended by `\\n`. The same list gives the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence

from iliad7.errors import InputError
from iliad7.randomization.allocation import Slot

CSV_HEADER = ("stratum", "block", "block_size", "sequence", "randomization_number", "arm", "kit_code", "usubjid")


def allocation_csv(slots: Sequence[Slot], usubjid_by_number: Mapping[str, str] | None = None) -> str:
    """The list as CSV text; `usubjid_by_number` maps used randomization numbers to USUBJIDs."""
    assigned = dict(usubjid_by_number or {})
    numbers = {slot.randomization_number for slot in slots}
    unknown = sorted(set(assigned) - numbers)
    if unknown:
        raise InputError("usubjid_by_number", f"no slot with randomization number(s) {', '.join(unknown)}")
    repeated = sorted(u for u, n in Counter(assigned.values()).items() if n > 1)
    if repeated:
        raise InputError("usubjid_by_number", f"USUBJID(s) assigned to more than one slot: {', '.join(repeated)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for slot in slots:
        writer.writerow(
            (
                slot.stratum,
                slot.block,
                slot.block_size,
                slot.sequence,
                slot.randomization_number,
                slot.arm,
                slot.kit_code,
                assigned.get(slot.randomization_number, ""),
            )
        )
    return out.getvalue()


def read_allocation_csv(text: str) -> list[tuple[Slot, str]]:
    """(slot, usubjid or "") of each line of an `allocation_csv` text, in its order."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != CSV_HEADER:
        raise InputError("csv", f"the header must be {','.join(CSV_HEADER)}")
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            slot = Slot(
                stratum=row["stratum"],
                block=int(row["block"]),
                block_size=int(row["block_size"]),
                sequence=int(row["sequence"]),
                randomization_number=row["randomization_number"],
                arm=row["arm"],
                kit_code=row["kit_code"],
            )
        except (TypeError, ValueError):
            raise InputError("csv", f"line {line} is not a slot") from None
        rows.append((slot, row["usubjid"] or ""))
    return rows
