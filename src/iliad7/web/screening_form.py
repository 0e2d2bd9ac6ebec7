"""The screening page's form, generated from the screening record's JSON schema.

Fields, their kinds and their limits come from `SCREENING_RECORD.json_schema()`
(clinical-rules section 3, `iliad7.eligibility.record`); this module only adds
how they are grouped (by the protocol's criteria, in protocol order), a few
labels with units, and the conversion between posted form text and the record's
JSON. Conversion never guesses: text that is not a number, a date or one of
the allowed words becomes a message for that field, and the typed text is kept.
The verdict itself is `iliad7.eligibility.screen`'s, unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from pydantic import ValidationError

from iliad7.eligibility import Screening, parse_record, screen
from iliad7.eligibility.record import SCREENING_RECORD

# How many rows the form offers for the record's lists (ALC results, NEWS2 scores).
LIST_ROWS = {"alc": 3, "news2": 4}

# Oncology dates: present and null means "never" (clinical-rules section 3), so
# each gets a "never" box beside the date; absent means not recorded.
NEVER_MEANS_NULL = frozenset(
    {
        "oncology.last_chemo_or_immunotherapy_date",
        "oncology.hsct_date",
        "oncology.car_t_date",
        "oncology.last_cancer_surgery_or_radiotherapy_date",
    }
)

# Fields grouped as the protocol groups its criteria; the first group holds what
# several criteria share. Every schema field is in exactly one group (a test checks).
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("baseline", "Baseline", ("baseline_time", "birth_date", "sex", "hospitalized")),
    ("INC-CONSENT", "", ("consent",)),
    ("INC-ONCOLOGY", "", ("oncology",)),
    ("INC-AGE", "", ()),
    ("INC-ALC", "", ("alc",)),
    ("INC-HYPOXEMIA", "", ("respiratory_support",)),
    ("INC-COVID", "", ("covid_confirmed",)),
    ("INC-CONTRACEPTION", "", ("contraception_agreed",)),
    ("EXC-PREGNANCY", "", ("pregnant", "breastfeeding")),
    ("EXC-LIVER", "", ("alt", "ast")),
    ("EXC-AUTOIMMUNE", "", ("active_autoimmune_disease",)),
    ("EXC-LYMPHOID-MALIGNANCY", "", ("lymphoid_malignancy_history",)),
    ("EXC-LIFE-EXPECTANCY", "", ("malignancy_life_expectancy_under_6_months",)),
    ("EXC-CART", "", ("unresolved_crs", "unresolved_icans")),
    ("EXC-TOXICITY", "", ("max_unresolved_prior_therapy_toxicity_grade",)),
    ("EXC-TRANSPLANT", "", ("solid_organ_transplant_history",)),
    (
        "EXC-INFECTION",
        "",
        ("active_tuberculosis", "uncontrolled_hbv", "uncontrolled_hcv", "hiv_viral_load_detectable"),
    ),
    ("EXC-REFRACTORY-HYPOXIA", "", ("hours_spo2_at_or_below_85_on_maximal_therapy",)),
    ("EXC-PROLONGED-MV", "", ("mechanical_ventilation_start",)),
    ("EXC-DIALYSIS", "", ("chronic_dialysis",)),
    ("EXC-SOFA", "", ("sofa",)),
    ("EXC-BMI", "", ("weight_kg", "height_cm")),
    ("EXC-NEWS2-RISE", "", ("news2",)),
    ("EXC-FRAILTY", "", ("clinical_frailty_scale",)),
    ("EXC-GUARDIANSHIP", "", ("under_guardianship",)),
)

# Labels where the schema's title would hide a unit or an abbreviation.
LABELS = {
    "baseline_time": "Baseline time T0 (UTC)",
    "birth_date": "Date of birth",
    "consent.obtained": "Consent obtained",
    "consent.by": "Consent given by",
    "consent.type": "Consent type",
    "consent.reconsent_anticipated": "Re-consent anticipated",
    "oncology.last_chemo_or_immunotherapy_date": "Last chemotherapy or immunotherapy",
    "oncology.hsct_date": "Haematopoietic stem cell transplant (HSCT)",
    "oncology.hsct_for_lymphoma": "HSCT was for lymphoma",
    "oncology.car_t_date": "CAR-T cell therapy",
    "oncology.last_cancer_surgery_or_radiotherapy_date": "Last cancer surgery or radiotherapy",
    "oncology.new_untreated_biopsy_proven_malignancy": "New, untreated, biopsy-proven malignancy",
    "alc.time": "ALC collected at (UTC)",
    "alc.value": "ALC value",
    "alc.unit": "ALC unit (e.g. cells/uL, 10^9/L)",
    "respiratory_support.device": "Respiratory support",
    "respiratory_support.oxygen_flow_lpm": "Oxygen flow (L/min)",
    "covid_confirmed": "SARS-CoV-2 infection confirmed by an accepted test",
    "contraception_agreed": "Agrees to contraception for 5 months after the last dose",
    "alt.value": "ALT",
    "alt.uln": "ALT upper limit of normal",
    "alt.unit": "ALT unit",
    "alt.time": "ALT collected at (UTC)",
    "ast.value": "AST",
    "ast.uln": "AST upper limit of normal",
    "ast.unit": "AST unit",
    "ast.time": "AST collected at (UTC)",
    "malignancy_life_expectancy_under_6_months": "Present malignancy with life expectancy under 6 months",
    "unresolved_crs": "Unresolved cytokine release syndrome (CRS)",
    "unresolved_icans": "Unresolved ICANS",
    "max_unresolved_prior_therapy_toxicity_grade": "Highest unresolved prior-therapy toxicity grade (0-4)",
    "uncontrolled_hbv": "Uncontrolled active HBV",
    "uncontrolled_hcv": "Uncontrolled active HCV",
    "hiv_viral_load_detectable": "HIV with a detectable viral load",
    "hours_spo2_at_or_below_85_on_maximal_therapy": "Hours with SpO2 <= 85 % on maximal therapy",
    "mechanical_ventilation_start": "Invasive ventilation started at (UTC)",
    "sofa": "Baseline SOFA score (0-24)",
    "weight_kg": "Weight (kg)",
    "height_cm": "Height (cm)",
    "news2.time": "NEWS2 time (UTC)",
    "news2.score": "NEWS2 score",
    "clinical_frailty_scale": "Clinical Frailty Scale at admission (1-9)",
}

NUMBER_LIMIT = 10**9


@dataclass(frozen=True)
class FieldSpec:
    """One input of the form: its record path (`alt.value`, `alc.0.time`) and its kind."""

    path: str
    label: str
    kind: str  # boolean, integer, number, choice, date, datetime, text
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    never_box: bool = False

    @property
    def html_id(self) -> str:
        return "f-" + self.path.replace(".", "-").replace("_", "-")

    @property
    def never_name(self) -> str:
        return self.path + ".never"


@dataclass(frozen=True)
class Group:
    key: str  # a criterion id, or "baseline"
    title: str
    fields: tuple[FieldSpec, ...]


@dataclass
class FormState:
    """What was posted: the record built from it, the typed text, and a message per bad field."""

    typed: dict[str, str]
    record: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    screening: Screening | None = None


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in node:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return node


def _non_null(node: Mapping[str, Any]) -> Mapping[str, Any]:
    options = [o for o in node.get("anyOf", [node]) if o.get("type") != "null"]
    chosen = options[0]
    if "oneOf" in chosen:
        # SOFA is a total or an object of inputs; the form offers the total.
        chosen = next(o for o in chosen["oneOf"] if o.get("type") == "integer")
    return chosen  # type: ignore[no-any-return]


def _label(path: str, title: str) -> str:
    generic = re.sub(r"\.\d+\.", ".", path)
    return LABELS.get(generic, LABELS.get(path, title))


def _scalar(path: str, node: Mapping[str, Any], title: str) -> FieldSpec:
    kind_of = {"boolean": "boolean", "integer": "integer", "number": "number"}
    json_type = node.get("type")
    generic = re.sub(r"\.\d+\.", ".", path)
    if "enum" in node:
        kind, choices = "choice", tuple(node["enum"])
    elif json_type == "string" and node.get("format") == "date":
        kind, choices = "date", ()
    elif json_type == "string" and node.get("format") == "date-time":
        kind, choices = "datetime", ()
    elif json_type in kind_of:
        kind, choices = kind_of[json_type], ()
    else:
        kind, choices = "text", ()
    minimum = node.get("minimum", node.get("exclusiveMinimum"))
    return FieldSpec(
        path=path,
        label=_label(path, title),
        kind=kind,
        choices=choices,
        minimum=minimum,
        maximum=node.get("maximum"),
        never_box=generic in NEVER_MEANS_NULL,
    )


def _fields_of(schema: Mapping[str, Any], name: str, node: Mapping[str, Any]) -> list[FieldSpec]:
    inner = _resolve(schema, _non_null(node))
    title = node.get("title", name.replace("_", " ").capitalize())
    if inner.get("type") == "object":
        return [_scalar(f"{name}.{sub}", _non_null(p), p.get("title", sub)) for sub, p in inner["properties"].items()]
    if inner.get("type") == "array":
        item = _resolve(schema, inner["items"])
        return [
            _scalar(f"{name}.{row}.{sub}", _non_null(p), p.get("title", sub))
            for row in range(LIST_ROWS.get(name, 2))
            for sub, p in item["properties"].items()
        ]
    return [_scalar(name, inner, title)]


@cache
def form_groups() -> tuple[Group, ...]:
    """The form's groups of fields, in protocol order, from the record's JSON schema."""
    schema = SCREENING_RECORD.json_schema()
    properties = schema["properties"]
    groups = []
    for key, title, names in GROUPS:
        specs = [spec for name in names for spec in _fields_of(schema, name, properties[name])]
        groups.append(Group(key, title or key, tuple(specs)))
    return tuple(groups)


def all_fields() -> list[FieldSpec]:
    return [spec for group in form_groups() for spec in group.fields]


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target: Any = record
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if part.isdigit():
            while len(target) <= int(part):
                target.append({})
            target = target[int(part)]
        else:
            target = target.setdefault(part, [] if nxt.isdigit() else {})
    target[parts[-1]] = value


_WORDS = {"yes": True, "true": True, "no": False, "false": False}


def _convert(spec: FieldSpec, text: str) -> Any:
    """The JSON value of one typed text; ValueError with a message a coordinator can act on."""
    if spec.kind == "boolean":
        if text.lower() in _WORDS:
            return _WORDS[text.lower()]
        raise ValueError("choose yes, no or not recorded")
    if spec.kind == "choice":
        if text in spec.choices:
            return text
        raise ValueError(f"choose one of: {', '.join(spec.choices)}")
    if spec.kind in ("integer", "number"):
        try:
            number = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise ValueError("enter a number" if spec.kind == "number" else "enter a whole number") from None
        if not number.is_finite():
            raise ValueError("enter a number")
        # Far beyond any physical value; also keeps "1e999999999" from becoming a billion-digit integer.
        # copy_abs and the comparison are exact: abs() would round in the Decimal context and overflow.
        if number.copy_abs() > NUMBER_LIMIT:
            raise ValueError(f"enter a number between -{NUMBER_LIMIT} and {NUMBER_LIMIT}")
        if spec.kind == "integer":
            if number != number.to_integral_value():
                raise ValueError("enter a whole number")
            return int(number)
        # A whole number stays one (70, not 70.0), as a person would write it in JSON.
        return int(number) if number == number.to_integral_value() else float(number)
    if spec.kind == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError("enter a date as YYYY-MM-DD")
        return text
    if spec.kind == "datetime":
        # Browsers send datetime-local without a zone; the form says UTC, so say it here.
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text):
            return text.replace(" ", "T") + ":00+00:00"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}", text):
            return text.replace(" ", "T") + "+00:00"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)", text):
            return text
        raise ValueError("enter a date and time (UTC) as YYYY-MM-DD HH:MM")
    return text


def _error_path(error: Mapping[str, Any]) -> str:
    # pydantic names union branches in the location (`sofa.sofa-score`); the form does not.
    parts = [str(p) for p in error["loc"] if p not in ("sofa-score", "sofa-inputs")]
    if not parts:
        # Whole-record checks word their message "field: problem".
        head = str(error.get("msg", "")).removeprefix("Value error, ")
        return head.split(":", 1)[0].strip() if ":" in head else ""
    return ".".join(parts)


def validation_messages(exc: ValidationError) -> dict[str, str]:
    """Each pydantic error as {record path: message} (the first message per path)."""
    found: dict[str, str] = {}
    for error in exc.errors():
        path = _error_path(error)
        message = str(error["msg"]).removeprefix("Value error, ")
        if ":" in message and message.split(":", 1)[0].strip() == path:
            message = message.split(":", 1)[1].strip()
        found.setdefault(path, message)
    return found


def _drop(record: dict[str, Any], path: str) -> bool:
    parts = path.split(".")
    target: Any = record
    for part in parts[:-1]:
        try:
            target = target[int(part)] if part.isdigit() else target[part]
        except (KeyError, IndexError, TypeError):
            return False
    last = parts[-1]
    if isinstance(target, dict) and last in target:
        del target[last]
        return True
    return False


def evaluate(record: dict[str, Any], errors: dict[str, str]) -> Screening:
    """Judge the record; fields the schema rejects are reported and judged as not recorded."""
    for _ in range(len(all_fields()) + 1):
        try:
            return screen(parse_record(record))
        except ValidationError as exc:
            messages = validation_messages(exc)
            dropped = False
            for path, message in messages.items():
                errors.setdefault(path or "record", message)
                dropped = _drop(record, path) or dropped
            if not dropped:
                # A whole-record check (birth after baseline): judge without the birth date.
                if "birth_date" in record:
                    record.pop("birth_date")
                    continue
                raise
    raise RuntimeError("the record could not be reduced to a valid one")  # pragma: no cover


def from_post(data: Mapping[str, str]) -> FormState:
    """Build the record from posted fields; empty fields are left out (not recorded)."""
    typed: dict[str, str] = {}
    record: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in all_fields():
        text = str(data.get(spec.path, "")).strip()
        typed[spec.path] = text
        if spec.never_box and data.get(spec.never_name):
            typed[spec.never_name] = "on"
            if text:
                errors[spec.path] = "give a date or tick never, not both"
                continue
            _set(record, spec.path, None)
            continue
        if not text:
            continue
        try:
            _set(record, spec.path, _convert(spec, text))
        except ValueError as exc:
            errors[spec.path] = str(exc)
    # Rows of a list with nothing typed are not measurements.
    for name in LIST_ROWS:
        if name in record:
            record[name] = [row for row in record[name] if row]
    state = FormState(typed=typed, record=record, errors=errors)
    clean = _copy(record)
    state.screening = evaluate(clean, state.errors)
    return state


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}.{i}", out)
    elif value is None:
        if prefix in NEVER_MEANS_NULL:
            out[prefix + ".never"] = "on"
    elif isinstance(value, bool):
        out[prefix] = "yes" if value else "no"
    else:
        text = str(value)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:00)?(\+00:00|Z)", text):
            text = text[:16]  # back into the datetime-local input, which is UTC here
        out[prefix] = text


def typed_from_record(record: Mapping[str, Any] | None) -> dict[str, str]:
    """The form's typed text for a saved record (to resume an incomplete screening)."""
    out: dict[str, str] = {}
    if record:
        _flatten(dict(record), "", out)
    return out


def criterion_texts() -> dict[str, tuple[str, str, str]]:
    """{criterion id: (kind, registry text, computable rule)} from the protocol."""
    from iliad7.protocol import load_protocol

    protocol = load_protocol()
    return {c.id: (c.kind, c.registry_text, c.computable) for c in protocol.eligibility.criteria}
