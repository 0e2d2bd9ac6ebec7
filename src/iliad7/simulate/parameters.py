"""The simulator's parameters: one YAML file, each number with its source, validated on load.

``load_parameters()`` reads ``parameters.yaml`` beside this module (or another file), checks that
every entry says what kind of number it is (``quoted``, ``estimate`` with its derivation, or
``assumption`` with a note), that every cited source is one listed in
``shared/spec/simulation-sources.md``, and that shares are shares. Overrides for a power run
(``{"effect.alc_gmr": 1.2}``) are applied to the raw document before validation, so an overridden
value is checked like any other and is marked as overridden in its note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iliad7.errors import InputError

PARAMETERS_FILE = Path(__file__).with_name("parameters.yaml")

# The citations of shared/spec/simulation-sources.md, written as there.
KNOWN_SOURCES = frozenset(
    {
        "registry record NCT04426201",
        "Mitra AR et al., CMAJ 2020",
        "Pan P et al., Virol J 2022",
        "Liao YT et al., BMC Pulm Med 2024",
        "Francois B et al., JCI Insight 2018",
        "Daix T et al., Ann Intensive Care 2023",
        "Perales MA et al., Blood 2012",
        "Shankar-Hari M et al., JCI Insight 2025",
        "Laterre PF et al., JAMA Netw Open 2020",
        "Liu J et al., PLoS One 2020",
        "Kuderer NM et al., Lancet 2020",
        "Dang MKM et al., Crit Care Explor 2021",
        "Nadkarni AR et al., JCO Glob Oncol 2021",
        "RECOVERY Collaborative Group, NEJM 2021",
        "Grasselli G et al., Chest 2021",
        "Ippolito M et al., Antibiotics 2021",
        "Beigel JH et al., NEJM 2020",
        "Donnelly JP et al., JAMA 2021",
        "Weaver FM et al., Prev Chronic Dis 2022",
        "REMAP-CAP Investigators, NEJM 2021",
        "Aydillo T et al., NEJM 2020",
        "Néant N et al., PNAS 2021",
        "Sportès C et al., Clin Cancer Res 2010",
        "Sereti I et al., Blood 2009",
    }
)

SEVERITIES = ("o2", "hfno_niv", "mv")
Kind = Literal["quoted", "estimate", "assumption"]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: Kind
    source: list[str] = Field(default_factory=list)
    derivation: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _documented(self) -> _Entry:
        unknown = [s for s in self.source if s not in KNOWN_SOURCES]
        if unknown:
            raise ValueError(f"source not in simulation-sources.md: {', '.join(unknown)}")
        if self.kind == "assumption":
            if not self.note:
                raise ValueError("an assumption needs a note saying why this value")
        else:
            if not self.source:
                raise ValueError(f"a {self.kind} value needs its source")
            if self.kind == "estimate" and not self.derivation:
                raise ValueError("an estimate needs its derivation")
        return self


class Scalar(_Entry):
    value: float = Field(allow_inf_nan=False)


class Table(_Entry):
    value: dict[str, float]

    def __getitem__(self, key: str) -> float:
        return self.value[key]

    def by_severity(self) -> tuple[float, float, float]:
        """The values for o2, hfno_niv and mv, in that order."""
        return (self.value["o2"], self.value["hfno_niv"], self.value["mv"])


def _shares(table: Table, name: str, keys: tuple[str, ...] | None = None, *, sum_to_one: bool = False) -> None:
    values = table.value if keys is None else {k: table.value[k] for k in keys}
    bad = [k for k, v in values.items() if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"{name}: shares must be within 0-1 ({', '.join(bad)})")
    if sum_to_one and not math.isclose(sum(values.values()), 1.0, abs_tol=1e-9):
        raise ValueError(f"{name}: shares must sum to 1, not {sum(values.values())}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Effect(_Section):
    alc_gmr: Scalar
    onset_days: Scalar
    mortality_hr: Scalar
    hai_rate_ratio: Scalar


class Population(_Section):
    site_share: Table
    female_share: Scalar
    age_years: Table
    height_cm: Table
    bmi: Table
    severity_share: Table
    oxygen_flow_lpm: Table
    mask_share: Scalar
    high_flow_share: Scalar
    baseline_alc: Table
    cd4_fraction: Scalar
    cd8_fraction: Scalar
    subset_gsd: Scalar

    @model_validator(mode="after")
    def _valid(self) -> Population:
        _shares(self.site_share, "population.site_share", sum_to_one=True)
        _shares(self.severity_share, "population.severity_share", SEVERITIES, sum_to_one=True)
        alc = self.baseline_alc.value
        if not 0 < alc["q1"] < alc["median"] < alc["q3"] or alc["cap"] <= 0:
            raise ValueError("population.baseline_alc: need 0 < q1 < median < q3 and a positive cap")
        return self

    @property
    def alc_log_sigma(self) -> float:
        """The log-normal sigma of baseline ALC from its IQR."""
        alc = self.baseline_alc.value
        return math.log(alc["q3"] / alc["q1"]) / (2 * 0.6744897501960817)


class Screening(_Section):
    failure_share: Table
    alc_failure_share: Scalar
    incomplete_share: Scalar
    record_details: Table
    baseline_sofa: Table
    screening_news2: Table
    transaminase: Table

    @model_validator(mode="after")
    def _valid(self) -> Screening:
        _shares(self.failure_share, "screening.failure_share")
        _shares(self.record_details, "screening.record_details")
        return self


class Course(_Section):
    mortality_d45: Table
    death_day_gamma: Table
    limited_escalation_share: Scalar
    terminal_escalation: Table
    los_days: Table
    recovery_days_before_discharge: Scalar
    worsening_share: Scalar
    icu_readmission_share: Scalar
    hai_share: Table
    hai_los_ratio: Scalar
    hai_site_share: Table
    readmission_share: Scalar
    readmission_stay_days: Table
    symptom_days_after_discharge: Table

    @model_validator(mode="after")
    def _valid(self) -> Course:
        _shares(self.mortality_d45, "course.mortality_d45", SEVERITIES)
        _shares(self.hai_share, "course.hai_share", SEVERITIES)
        _shares(self.hai_site_share, "course.hai_site_share", sum_to_one=True)
        return self


class Alc(_Section):
    placebo_ratio_d29: Table
    decedent_ratio_d29: Scalar
    recovery_days: Scalar
    daily_noise_sd: Scalar
    lln: Scalar

    @property
    def recovery_sd(self) -> float:
        """SD of the participant's day-29 log recovery: the IQR's SD less the day-to-day noise."""
        ratio = self.placebo_ratio_d29.value
        total = math.log(ratio["q3"] / ratio["q1"]) / (2 * 0.6744897501960817)
        return math.sqrt(max(total**2 - self.daily_noise_sd.value**2, 0.0))


class Markers(_Section):
    baseline: Table
    daily_log_slope: Table
    daily_noise_sd: Scalar


class Viral(_Section):
    baseline_log10: Table
    decline_log10_per_day: Table
    detection_limit_log10: Scalar


class AdverseEvents(_Section):
    injection_site_reaction: Table
    fever: Table
    lymphocytosis_uln: Scalar


class Vitals(_Section):
    by_level: Table
    spread: Table
    oxygen_flow_lpm: Table


class Monitoring(_Section):
    queries: Table

    @model_validator(mode="after")
    def _valid(self) -> Monitoring:
        _shares(self.queries, "monitoring.queries")
        return self


class Checks(_Section):
    placebo_mortality_d45: Table
    placebo_los_median_survivors: Table
    placebo_alc_ratio_d29_median: Table


class Parameters(_Section):
    """Every number of the simulator; see parameters.yaml for each one's source."""

    schema_: Literal[1] = Field(alias="schema")
    effect: Effect
    population: Population
    screening: Screening
    course: Course
    alc: Alc
    markers: Markers
    viral: Viral
    adverse_events: AdverseEvents
    vitals: Vitals
    monitoring: Monitoring
    checks: Checks

    def entries(self) -> dict[str, Scalar | Table]:
        """Every entry by its dotted name (``effect.alc_gmr``)."""
        found: dict[str, Scalar | Table] = {}
        for section_name in type(self).model_fields:
            section = getattr(self, section_name)
            if not isinstance(section, _Section):
                continue
            for name in type(section).model_fields:
                entry = getattr(section, name)
                if isinstance(entry, Scalar | Table):
                    found[f"{section_name}.{name}"] = entry
        return found

    def without_il7_effect(self) -> Parameters:
        """The same model with every CYT107 effect removed (the null for type I error)."""
        return self.with_overrides({"effect.alc_gmr": 1.0, "effect.mortality_hr": 1.0, "effect.hai_rate_ratio": 1.0})

    def with_overrides(self, overrides: Mapping[str, float]) -> Parameters:
        raw = self.model_dump(by_alias=True, mode="python")
        return _validate(_apply_overrides(raw, overrides), PARAMETERS_FILE)


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, float]) -> dict[str, Any]:
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if len(parts) not in (2, 3) or parts[0] not in raw or parts[1] not in raw[parts[0]]:
            raise InputError("overrides", f"no parameter {dotted!r} (write section.name or section.name.key)")
        entry = raw[parts[0]][parts[1]]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError("overrides", f"{dotted}: give a number, not {value!r}")
        if len(parts) == 2:
            if isinstance(entry["value"], dict):
                raise InputError(
                    "overrides", f"{dotted} is a table: name one of its keys ({', '.join(entry['value'])})"
                )
            entry["value"] = float(value)
        else:
            if not isinstance(entry["value"], dict) or parts[2] not in entry["value"]:
                raise InputError("overrides", f"no key {parts[2]!r} in {parts[0]}.{parts[1]}")
            entry["value"][parts[2]] = float(value)
        entry["note"] = ((entry.get("note") or "") + f" [overridden: {dotted} = {value}]").strip()
    return raw


def _validate(raw: Any, path: Path) -> Parameters:
    try:
        return Parameters.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError("parameters", f"{path}: {where}: {first['msg']}") from error


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers as plain dicts, lists, floats (ints become floats in values)."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None or isinstance(node, str):
        return None if node is None else (node if isinstance(node, bool) else str(node))
    if isinstance(node, int | float):
        return float(node)
    return node


def load_parameters(path: str | Path | None = None, overrides: Mapping[str, float] | None = None) -> Parameters:
    """Read and validate the parameter file (default: the packaged one), then apply `overrides`."""
    from ruamel.yaml import YAML

    file = PARAMETERS_FILE if path is None else Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError("parameters", f"cannot read {file}: {error.strerror}") from error
    raw = _plain(YAML(typ="safe").load(text))
    if not isinstance(raw, dict):
        raise InputError("parameters", f"{file}: expected a mapping of sections")
    if "schema" in raw:
        raw["schema"] = int(raw["schema"])
    if overrides:
        raw = _apply_overrides(raw, overrides)
    return _validate(raw, file)
