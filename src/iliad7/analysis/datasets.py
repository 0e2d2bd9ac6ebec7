"""The ADaM-shaped analysis datasets of the SAP (docs/sap.md section 3): their columns, types and checks.

Each dataset is a polars frame with one row definition. A :class:`Schema` names the required
columns and their types; :func:`check` refuses a frame that lacks one or holds the wrong type, so
every ``derive_*`` function and every analysis fails loudly on malformed input instead of
computing on it. The names that outside checks read are those of shared/spec/interfaces.md.

- ADSL: one row per randomized participant.
- ADLB: one row per participant, parameter and observed visit (laboratory values and NEWS2).
- ADCS: one row per participant and study day (WHO Clinical Progression Scale, 0-10).
- ADAE: one row per adverse event.
- ADTTE: one row per participant and time-to-event parameter; ``EVENTCD`` 0 censored,
  1 the event of interest, 2 death as a competing event (``CNSR`` is 0 only for ``EVENTCD`` 1).
- ADHO: hospital and ICU stays (source for length of stay and readmissions).
- ADSUPP: organ-support episodes (source for organ-support-free days).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from iliad7.errors import InputError

ARMS = ("CYT107", "placebo")  # active first: ratios and differences are CYT107 versus placebo
FLAG_VALUES = ("Y", "N")

# Parameter codes of ADLB (SAP 3.2); NEWS2 is kept with the laboratory values because it is
# analysed the same way (by scheduled visit, change from baseline).
LAB_PARAMS: dict[str, str] = {
    "LYM": "Lymphocytes, absolute (cells/mm3)",
    "CD4": "CD4+ T cells (cells/mm3)",
    "CD8": "CD8+ T cells (cells/mm3)",
    "FERRITIN": "Ferritin (ng/mL)",
    "CRP": "C-reactive protein (mg/L)",
    "DDIMER": "D-dimer (ug/mL FEU)",
    "VLOAD": "SARS-CoV-2 viral load (log10 copies/mL)",
    "NEWS2": "NEWS2 score",
}
# Time-to-event parameters of ADTTE (SAP 3.5).
TTE_PARAMS: dict[str, str] = {
    "TTDTH45": "Time to death through day 45 (days)",
    "HOSPLOS": "Time to discharge alive from the index hospitalization (days); death competing",
    "ICULOS": "Days in ICU during the index hospitalization; death competing",
    "TTWHOIMP2": "Time to a 2-point WHO improvement through day 30 (days); death competing",
    "TTSECINF": "Time to a first secondary infection through day 45 (days); death competing",
}
SUPPORT_CATEGORIES = ("RESPIRATORY", "CARDIOVASCULAR", "RENAL")
STAY_CATEGORIES = ("HOSPITAL", "ICU")

_STR = pl.String
_INT = pl.Int64
_FLOAT = pl.Float64


@dataclass(frozen=True)
class Schema:
    """The required columns of one dataset, with their polars types."""

    name: str
    columns: tuple[tuple[str, pl.DataType | type[pl.DataType]], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


ADSL_SOURCE = Schema(
    "ADSL",
    (
        ("USUBJID", _STR),
        ("SITEID", _STR),
        ("TRT01P", _STR),
        ("ACTARM", _STR),  # arm of the kits actually given; null when never dosed
        ("AGE", _INT),
        ("SEX", _STR),
        ("WEIGHTBL", _FLOAT),
        ("SEVERITY", _STR),  # baseline respiratory support: o2, hfno_niv, mv
        ("WHOBL", _INT),
        ("ALCBL", _FLOAT),
        ("NDOSES", _INT),
        ("DVMAJFL", _STR),  # a major protocol deviation
        ("DTHDY", _INT),  # study day of death, null when alive at last contact
        ("LSTALVDY", _INT),  # last study day known alive
        ("DSCHDY", _INT),  # discharge day of the index hospitalization, null if none by the horizon
    ),
)
ADSL = Schema(
    "ADSL",
    (
        *ADSL_SOURCE.columns,
        ("TRT01A", _STR),
        ("ITTFL", _STR),
        ("MITTFL", _STR),
        ("SAFFL", _STR),
        ("PPROTFL", _STR),
        ("DTHFL", _STR),
        ("OSFD45", _INT),
    ),
)
ADLB = Schema(
    "ADLB",
    (
        ("USUBJID", _STR),
        ("PARAMCD", _STR),
        ("AVAL", _FLOAT),
        ("BASE", _FLOAT),
        ("ADY", _INT),
        ("AVISIT", _STR),
        ("AVISITN", _INT),
        ("ABLFL", _STR),
        ("ANL01FL", _STR),
    ),
)
ADCS = Schema("ADCS", (("USUBJID", _STR), ("PARAMCD", _STR), ("AVAL", _INT), ("ADY", _INT)))
ADAE = Schema(
    "ADAE",
    (("USUBJID", _STR), ("AEDECOD", _STR), ("AETOXGR", _INT), ("ASTDY", _INT), ("AESER", _STR)),
)
ADTTE = Schema(
    "ADTTE",
    (("USUBJID", _STR), ("PARAMCD", _STR), ("AVAL", _FLOAT), ("CNSR", _INT), ("EVENTCD", _INT)),
)
ADHO = Schema("ADHO", (("USUBJID", _STR), ("HOCAT", _STR), ("STARTDY", _INT), ("ENDDY", _INT)))
ADSUPP = Schema("ADSUPP", (("USUBJID", _STR), ("SUPPCAT", _STR), ("STARTDY", _INT), ("ENDDY", _INT)))


def check(frame: pl.DataFrame, schema: Schema, *, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """Return `frame` unchanged if it has `schema`'s columns (or the named subset) with their types.

    Raises :class:`iliad7.errors.InputError` naming the dataset and the column otherwise.
    """
    if not isinstance(frame, pl.DataFrame):
        raise InputError(schema.name, f"expected a polars DataFrame, got {type(frame).__name__}")
    wanted = dict(schema.columns)
    for name in columns if columns is not None else schema.names:
        if name not in frame.columns:
            raise InputError(schema.name, f"missing column {name}")
        dtype = frame.schema[name]
        expected = wanted.get(name)
        if expected is not None and dtype != expected and dtype != pl.Null:
            raise InputError(f"{schema.name}.{name}", f"expected {expected}, got {dtype}")
    return frame


def empty(schema: Schema) -> pl.DataFrame:
    """An empty frame with the schema's columns (for a participant set without records)."""
    return pl.DataFrame(schema={name: dtype for name, dtype in schema.columns})


@dataclass(frozen=True)
class AnalysisData:
    """The derived datasets one analysis run reads (SAP section 3)."""

    adsl: pl.DataFrame
    adlb: pl.DataFrame
    adcs: pl.DataFrame
    adae: pl.DataFrame
    adtte: pl.DataFrame
    adho: pl.DataFrame
    adsupp: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        return {
            "adsl": self.adsl,
            "adlb": self.adlb,
            "adcs": self.adcs,
            "adae": self.adae,
            "adtte": self.adtte,
            "adho": self.adho,
            "adsupp": self.adsupp,
        }
