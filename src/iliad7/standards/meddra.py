"""The MedDRA coding step of adverse events and clinical events: a dictionary file the sponsor supplies.

MedDRA is licensed, so this project ships no dictionary. The sponsor puts its coding table (the
verbatim terms it has coded, each with its MedDRA hierarchy) in a CSV file, found at
`ILIAD7_MEDDRA_DICTIONARY` or else `ILIAD7_HOME/dictionaries/meddra.csv`, with the columns

    meddra_version,term,llt_code,llt,pt_code,pt,hlt_code,hlt,hlgt_code,hlgt,soc_code,soc

`term` is matched to the reported term (AETERM, CETERM) ignoring case and repeated spaces. A
term the file does not hold, and every term when there is no file, is uncoded: the
dictionary-derived term (AEDECOD, required) says `UNCODED` and the other levels and every code
are blank. A CTCAE term is never copied into AEDECOD as if it were a MedDRA preferred term.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from iliad7.errors import InputError

UNCODED = "UNCODED"
COLUMNS = (
    "meddra_version", "term", "llt_code", "llt", "pt_code", "pt", "hlt_code", "hlt", "hlgt_code", "hlgt",
    "soc_code", "soc",
)  # fmt: skip


@dataclass(frozen=True)
class Coding:
    llt: str
    llt_code: int | None
    pt: str
    pt_code: int | None
    hlt: str
    hlt_code: int | None
    hlgt: str
    hlgt_code: int | None
    soc: str
    soc_code: int | None

    @property
    def coded(self) -> bool:
        return self.pt_code is not None


NOT_CODED = Coding("", None, UNCODED, None, "", None, "", None, "", None)


@dataclass(frozen=True)
class Dictionary:
    version: str  # "" when there is no dictionary
    terms: dict[str, Coding]

    def code(self, term: str) -> Coding:
        return self.terms.get(_key(term), NOT_CODED)


def _key(term: str) -> str:
    return " ".join(str(term).split()).casefold()


def dictionary_path() -> Path:
    configured = os.environ.get("ILIAD7_MEDDRA_DICTIONARY")
    if configured:
        return Path(configured)
    return Path(os.environ.get("ILIAD7_HOME", "var")) / "dictionaries" / "meddra.csv"


def load_dictionary(path: Path | None = None) -> Dictionary:
    """The sponsor's coding table; an empty dictionary (every term uncoded) when there is no file.

    A file that is there but malformed is refused (InputError naming the file, line and column):
    coding silently from half a table would be worse than not coding.
    """
    path = path or dictionary_path()
    if not path.is_file():
        return Dictionary("", {})
    terms: dict[str, Coding] = {}
    versions: set[str] = set()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise InputError(str(path), f"the MedDRA table lacks the column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                coding = Coding(
                    row["llt"].strip(), int(row["llt_code"]), row["pt"].strip(), int(row["pt_code"]),
                    row["hlt"].strip(), int(row["hlt_code"]), row["hlgt"].strip(), int(row["hlgt_code"]),
                    row["soc"].strip(), int(row["soc_code"]),
                )  # fmt: skip
            except (TypeError, ValueError):
                message = "MedDRA codes are whole numbers and every level is named"
                raise InputError(f"{path}:{line}", message) from None
            if not row["term"].strip():
                raise InputError(f"{path}:{line}", "term is blank")
            versions.add(row["meddra_version"].strip())
            terms[_key(row["term"])] = coding
    if len(versions) > 1:
        raise InputError(str(path), f"one MedDRA version per table, not {sorted(versions)}")
    return Dictionary(next(iter(versions), ""), terms)
