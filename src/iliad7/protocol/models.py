"""The protocol file as typed, immutable data: one model per section of the YAML.

Each model checks what it can see on its own (dose days increase, a masking
level masks that many roles); `Protocol` checks what ties sections together
(the allocation names the arms, assessments name scheduled visits, outcomes
name assessments and populations). Every check raises `Invalid` at the key it
is about, so the loader can report the YAML path and line.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, NonNegativeInt, PositiveInt, PrivateAttr, model_validator

from iliad7.protocol.base import Code, Frozen, Invalid, Number, Sourced, Text, unique
from iliad7.protocol.forms import Form
from iliad7.protocol.prescreen import Prescreen
from iliad7.protocol.vocabulary import (
    CRITERIA,
    CRITERION_IDS,
    MASKING_LEVELS,
    OUTCOME_IDS,
    PRIMARY_OUTCOME_ID,
)

# --- study identity (registry record) -------------------------------------------------------


class Identifiers(Sourced):
    nct_id: Annotated[str, Field(pattern=r"^NCT\d{8}$")]
    other_ids: tuple[Text, ...] = ()


class Titles(Sourced):
    brief: Text
    official: Text
    acronym: Code


class Sponsor(Sourced):
    name: Text
    responsible_party: Text


class Design(Sourced):
    study_type: Literal["interventional", "observational"]
    phase: Literal[1, 2, 3, 4]
    conditions: tuple[Text, ...]
    allocation: Literal["randomized", "non-randomized"]
    intervention_model: Literal["parallel", "crossover", "factorial", "single-group", "sequential"]
    intervention_model_description: Text
    primary_purpose: Literal["treatment", "prevention", "diagnostic", "supportive-care", "other"]
    fda_regulated_drug: bool
    fda_regulated_device: bool
    ipd_sharing: bool
    summary: Text


class Milestone(Frozen):
    date: date
    status: Literal["actual", "estimated"]


class Dates(Sourced):
    recruitment_status: Literal[
        "not-yet-recruiting",
        "recruiting",
        "active-not-recruiting",
        "completed",
        "suspended",
        "terminated",
        "withdrawn",
    ]
    first_posted: date
    last_update_posted: date
    last_verified: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    study_start: Milestone
    primary_completion: Milestone
    study_completion: Milestone

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.last_update_posted < self.first_posted:
            raise Invalid(("last_update_posted",), "is before first_posted")
        if self.primary_completion.date < self.study_start.date:
            raise Invalid(("primary_completion", "date"), "is before the study start")
        if self.study_completion.date < self.primary_completion.date:
            raise Invalid(("study_completion", "date"), "is before the primary completion")
        return self


class Enrollment(Sourced):
    planned: PositiveInt
    actual: NonNegativeInt | None = None


class Address(Frozen):
    city: Text
    state: Text
    postal_code: Text
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class Investigator(Frozen):
    name: Text
    degrees: Text | None = None


class Site(Sourced):
    code: Code
    name: Text
    registry_name: Text | None = None
    address: Address
    principal_investigators: tuple[Investigator, ...] = ()


# --- arms, randomization, masking -------------------------------------------------------------


class Intervention(Frozen):
    type: Literal["drug", "biological", "device", "procedure", "other"]
    name: Text
    other_names: tuple[Text, ...] = ()
    description: Text


class Arm(Sourced):
    code: Code
    type: Literal[
        "experimental",
        "placebo-comparator",
        "active-comparator",
        "sham-comparator",
        "no-intervention",
        "other",
    ]
    label: Text
    description: Text
    intervention: Intervention


class Allocation(Sourced):
    ratio: dict[Code, PositiveInt]


class Stratification(Sourced):
    factors: tuple[Literal["site"], ...]

    @model_validator(mode="after")
    def _unique_factors(self) -> Self:
        unique(self.factors, "stratification factor", ("factors",))
        return self


class Blocking(Sourced):
    method: Literal["permuted-blocks"]
    block_sizes: Annotated[tuple[PositiveInt, ...], Field(min_length=1)]
    block_size_choice: Literal["uniform-random", "fixed"]


class Randomization(Frozen):
    allocation: Allocation
    stratification: Stratification
    blocking: Blocking

    @model_validator(mode="after")
    def _blocks_fit_the_ratio(self) -> Self:
        ratio_total = sum(self.allocation.ratio.values())
        sizes = self.blocking.block_sizes
        for index, size in enumerate(sizes):
            if size in sizes[:index]:
                raise Invalid(("blocking", "block_sizes", index), f"duplicate block size {size}")
            if size % ratio_total:
                raise Invalid(
                    ("blocking", "block_sizes", index),
                    f"block size {size} is not a multiple of the allocation ratio total {ratio_total}",
                )
        return self


UnblindedRoleName = Literal["unblinded-pharmacist", "unblinded-statistician", "dsmb-closed-session"]
MaskedRole = Literal["participant", "care-provider", "investigator", "outcomes-assessor"]


class UnblindedRole(Sourced):
    role: UnblindedRoleName
    duty: Text


class Masking(Sourced):
    level: Literal["none", "single", "double", "triple", "quadruple"]
    masked: tuple[MaskedRole, ...]
    description: Text
    unblinded: tuple[UnblindedRole, ...]

    @model_validator(mode="after")
    def _level_matches_roles(self) -> Self:
        for index, role in enumerate(self.masked):
            if role in self.masked[:index]:
                raise Invalid(("masked", index), f"duplicate masked role {role!r}")
        if len(self.masked) != MASKING_LEVELS[self.level]:
            raise Invalid(
                ("masked",),
                f"masking {self.level} masks {MASKING_LEVELS[self.level]} roles, {len(self.masked)} listed",
            )
        unique([u.role for u in self.unblinded], "unblinded role", ("unblinded",), key="role")
        return self

    @property
    def unblinded_roles(self) -> frozenset[str]:
        return frozenset(u.role for u in self.unblinded)


# --- dosing (clinical-rules section 4) --------------------------------------------------------


class Dosing(Sourced):
    active_arm: Code
    placebo_arm: Code
    route: Literal["intramuscular", "subcutaneous", "intravenous", "oral"]
    dose_ug_per_kg: Annotated[Number, Field(gt=0)]
    weight_basis: Literal["baseline-actual-body-weight"]
    placebo: Text
    first_dose_day: int
    observation_hours_before_dose_2: NonNegativeInt
    target_days: Annotated[tuple[int, ...], Field(min_length=1)]
    window_days: NonNegativeInt
    window_from_dose: PositiveInt
    min_hours_between_doses: NonNegativeInt
    max_doses: PositiveInt
    no_dose_on_or_after: tuple[Literal["discharge", "death", "withdrawal"], ...]
    missed_dose_made_up_outside_window: bool
    dose_rounding_ug: Annotated[Number, Field(gt=0)]
    volume_rounding_ml: Annotated[Number, Field(gt=0)]
    # The drug product's concentration is deployment configuration, never a protocol default.
    concentration: Literal["configured"]
    prepared_by: UnblindedRoleName
    identical_syringes: bool

    @model_validator(mode="after")
    def _target_days_form_the_regimen(self) -> Self:
        days = self.target_days
        for index in range(1, len(days)):
            if days[index] <= days[index - 1]:
                raise Invalid(
                    ("target_days", index),
                    f"dose days must be strictly increasing: dose {index + 1} on day "
                    f"{days[index]} does not follow dose {index} on day {days[index - 1]}",
                )
        if len(days) != self.max_doses:
            raise Invalid(
                ("target_days",),
                f"{len(days)} target days for max_doses {self.max_doses}: give one day per dose",
            )
        if days[0] != self.first_dose_day:
            raise Invalid(
                ("target_days", 0),
                f"dose 1 is on day {days[0]} but first_dose_day is {self.first_dose_day}",
            )
        if len(days) > 1 and (days[1] - days[0]) * 24 < self.observation_hours_before_dose_2:
            raise Invalid(
                ("target_days", 1),
                f"dose 2 on day {days[1]} falls within the "
                f"{self.observation_hours_before_dose_2} h observation after dose 1",
            )
        if self.window_from_dose > self.max_doses:
            raise Invalid(("window_from_dose",), f"there are only {self.max_doses} doses")
        return self

    def window_for_dose(self, dose: int) -> int:
        """The +/- window in days around dose `dose` (1-based): 0 before `window_from_dose`."""
        return self.window_days if dose >= self.window_from_dose else 0


# --- schedule of activities -------------------------------------------------------------------


class Window(Frozen):
    before: NonNegativeInt
    after: NonNegativeInt


class Visit(Frozen):
    id: Code
    name: Text
    target_day: int
    window_days: Window
    dose: PositiveInt | None = None
    occurs: Literal["always", "while-hospitalized", "day-30-or-discharge"]

    @property
    def earliest_day(self) -> int:
        return self.target_day - self.window_days.before

    @property
    def latest_day(self) -> int:
        return self.target_day + self.window_days.after


class Assessment(Sourced):
    id: Code
    name: Text
    category: Literal["procedure", "clinical", "score", "lab", "drug", "safety"]
    visits: tuple[Code, ...] = ()
    daily_while_hospitalized: bool = False
    registry_text: Text | None = None
    loinc: tuple[Annotated[str, Field(pattern=r"^\d{1,7}-\d$")], ...] = ()


class Schedule(Sourced):
    visits: Annotated[tuple[Visit, ...], Field(min_length=1)]
    assessments: tuple[Assessment, ...]

    @model_validator(mode="after")
    def _visits_and_assessments_agree(self) -> Self:
        unique([v.id for v in self.visits], "visit id", ("visits",), key="id")
        unique([a.id for a in self.assessments], "assessment id", ("assessments",), key="id")
        for index in range(1, len(self.visits)):
            previous, visit = self.visits[index - 1], self.visits[index]
            if visit.target_day < previous.target_day:
                raise Invalid(
                    ("visits", index, "target_day"),
                    f"visits are listed in time order: {visit.id} (day {visit.target_day}) "
                    f"comes after {previous.id} (day {previous.target_day})",
                )
        known = {v.id for v in self.visits}
        for a_index, assessment in enumerate(self.assessments):
            for v_index, visit_id in enumerate(assessment.visits):
                if visit_id not in known:
                    raise Invalid(
                        ("assessments", a_index, "visits", v_index),
                        f"no visit {visit_id!r} in schedule.visits (visits: {', '.join(v.id for v in self.visits)})",
                    )
                if visit_id in assessment.visits[:v_index]:
                    raise Invalid(
                        ("assessments", a_index, "visits", v_index),
                        f"visit {visit_id!r} listed twice",
                    )
            if not assessment.visits and not assessment.daily_while_hospitalized:
                raise Invalid(
                    ("assessments", a_index, "visits"),
                    f"assessment {assessment.id} is done at no visit and not daily",
                )
        return self

    def visit(self, visit_id: str) -> Visit:
        for visit in self.visits:
            if visit.id == visit_id:
                return visit
        raise KeyError(visit_id)

    def assessment(self, assessment_id: str) -> Assessment:
        for assessment in self.assessments:
            if assessment.id == assessment_id:
                return assessment
        raise KeyError(assessment_id)

    def assessments_at(self, visit_id: str) -> tuple[Assessment, ...]:
        """The assessments scheduled at `visit_id`, in file order."""
        return tuple(a for a in self.assessments if visit_id in a.visits)


# --- populations, eligibility, outcomes -------------------------------------------------------


class Population(Frozen):
    id: Code
    flag: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")]  # an ADaM flag name
    definition: Text


class Populations(Sourced):
    definitions: Annotated[tuple[Population, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        unique([p.id for p in self.definitions], "population id", ("definitions",), key="id")
        return self


ParameterValue = bool | int | Number | Text | tuple[Text, ...]


class Criterion(Sourced):
    id: Code
    kind: Literal["inclusion", "exclusion"]
    registry_text: Text
    computable: Text
    parameters: dict[str, ParameterValue]
    #: The criterion in at most 200 characters (SDTM TI/IE IETEST) when neither text above fits.
    short_text: Text | None = None

    @model_validator(mode="after")
    def _names_its_rule(self) -> Self:
        if self.short_text is not None and len(self.short_text.encode()) > 200:
            raise Invalid(("short_text",), f"is {len(self.short_text.encode())} bytes; IETEST holds 200")
        prefix = "INC-" if self.kind == "inclusion" else "EXC-"
        if not self.id.startswith(prefix):
            raise Invalid(("kind",), f"{self.id} is not an {self.kind} criterion id")
        if self.source == "clinical-rules" and self.rule != self.id:
            raise Invalid(("rule",), f"cite the criterion's own rule id {self.id!r}")
        return self


class Eligibility(Sourced):
    min_age_years: NonNegativeInt
    max_age_years: NonNegativeInt
    sexes: Literal["all", "female", "male"]
    healthy_volunteers: bool
    criteria: tuple[Criterion, ...]

    @model_validator(mode="after")
    def _criteria_match_the_rules(self) -> Self:
        ids = [c.id for c in self.criteria]
        unique(ids, "criterion id", ("criteria",), key="id")
        last_position = -1
        for index, criterion in enumerate(self.criteria):
            if criterion.id not in CRITERIA:
                raise Invalid(
                    ("criteria", index, "id"),
                    f"unknown criterion {criterion.id!r}: the eligibility engine implements "
                    "the ids of clinical-rules.md section 3 only",
                )
            position = CRITERION_IDS.index(criterion.id)
            if position < last_position:
                raise Invalid(
                    ("criteria", index, "id"),
                    f"{criterion.id} is out of order: criteria follow clinical-rules.md "
                    f"section 3 ({', '.join(CRITERION_IDS)})",
                )
            last_position = position
            wanted = CRITERIA[criterion.id]
            given = set(criterion.parameters)
            unexpected = sorted(given - wanted)
            if unexpected:
                raise Invalid(
                    ("criteria", index, "parameters", unexpected[0]),
                    f"{criterion.id} has no parameter {unexpected[0]!r} "
                    f"(its parameters: {', '.join(sorted(wanted)) or 'none'})",
                )
            if wanted - given:
                raise Invalid(
                    ("criteria", index, "parameters"),
                    f"{criterion.id} needs parameter(s) {', '.join(sorted(wanted - given))}",
                )
        missing = [i for i in CRITERION_IDS if i not in ids]
        if missing:
            raise Invalid(("criteria",), f"missing criteria: {', '.join(missing)}")
        age = self.criterion("INC-AGE").parameters
        if (age["min_age_years"], age["max_age_years"]) != (self.min_age_years, self.max_age_years):
            raise Invalid(
                ("criteria", ids.index("INC-AGE"), "parameters"),
                f"INC-AGE says {age['min_age_years']}-{age['max_age_years']} years but "
                f"eligibility says {self.min_age_years}-{self.max_age_years}",
            )
        return self

    def criterion(self, criterion_id: str) -> Criterion:
        for criterion in self.criteria:
            if criterion.id == criterion_id:
                return criterion
        raise KeyError(criterion_id)


class Parameters(Sourced):
    osfd_window_days: PositiveInt


class OutcomeVariable(Frozen):
    assessments: Annotated[tuple[Code, ...], Field(min_length=1)]
    type: Literal["continuous", "ordinal", "count", "binary", "time-to-event"]
    definition: Text
    horizon_day: PositiveInt


class OutcomeAnalysis(Frozen):
    population: Code
    method: Text
    statistic: Text
    analysis_ids: Annotated[tuple[Code, ...], Field(min_length=1)]


class Outcome(Sourced):
    id: Code
    kind: Literal["primary", "secondary"]
    title: Text
    description: Text
    time_frame: Text
    variable: OutcomeVariable
    analysis: OutcomeAnalysis


# --- the whole file ---------------------------------------------------------------------------


class Protocol(Frozen):
    """One trial protocol, as validated from its YAML file."""

    schema_version: Literal[1]
    id: Code
    version: Text
    identifiers: Identifiers
    titles: Titles
    sponsor: Sponsor
    design: Design
    dates: Dates
    enrollment: Enrollment
    sites: Annotated[tuple[Site, ...], Field(min_length=1)]
    arms: Annotated[tuple[Arm, ...], Field(min_length=1)]
    randomization: Randomization
    masking: Masking
    dosing: Dosing
    schedule: Schedule
    populations: Populations
    eligibility: Eligibility
    parameters: Parameters
    outcomes: tuple[Outcome, ...]
    forms: tuple[Form, ...] = ()
    prescreen: Prescreen | None = None  # docs/prescreen.md

    _sha256: str = PrivateAttr(default="")
    _path: Path | None = PrivateAttr(default=None)

    def __hash__(self) -> int:
        # pydantic's frozen hash would hash the dict-valued fields and fail; equal protocols
        # (same fields and same private file digest) have the same id, version and digest.
        return hash((self.id, self.version, self._sha256))

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the file's bytes, as read by the loader."""
        return self._sha256

    @property
    def path(self) -> Path | None:
        """The file this protocol was loaded from."""
        return self._path

    @property
    def osfd_window_days(self) -> int:
        return self.parameters.osfd_window_days

    @property
    def primary_outcome(self) -> Outcome:
        return next(o for o in self.outcomes if o.kind == "primary")

    def site(self, code: str) -> Site:
        for site in self.sites:
            if site.code == code:
                return site
        raise KeyError(code)

    def arm(self, code: str) -> Arm:
        for arm in self.arms:
            if arm.code == code:
                return arm
        raise KeyError(code)

    def form(self, form_id: str) -> Form:
        for form in self.forms:
            if form.id == form_id:
                return form
        raise KeyError(form_id)

    def outcome(self, outcome_id: str) -> Outcome:
        for outcome in self.outcomes:
            if outcome.id == outcome_id:
                return outcome
        raise KeyError(outcome_id)

    @model_validator(mode="after")
    def _sections_agree(self) -> Self:
        if self.id != self.titles.acronym:
            raise Invalid(("id",), f"id {self.id!r} differs from titles.acronym")
        unique([s.code for s in self.sites], "site code", ("sites",), key="code")
        unique([a.code for a in self.arms], "arm code", ("arms",), key="code")
        self._check_allocation()
        self._check_dosing()
        self._check_dose_visits()
        self._check_outcomes()
        self._check_forms()
        return self

    def _check_forms(self) -> None:
        unique([f.id for f in self.forms], "form id", ("forms",), key="id")
        assessments = {a.id: a for a in self.schedule.assessments}
        for index, form in enumerate(self.forms):
            for a_index, assessment_id in enumerate(form.assessments):
                assessment = assessments.get(assessment_id)
                if assessment is None:
                    raise Invalid(
                        ("forms", index, "assessments", a_index),
                        f"no assessment {assessment_id!r} in schedule.assessments",
                    )
                if form.repeat == "visit" and not assessment.visits:
                    raise Invalid(
                        ("forms", index, "repeat"),
                        f"assessment {assessment_id} is scheduled at no visit: the form cannot be filled per visit",
                    )

    def _check_allocation(self) -> None:
        arms = [a.code for a in self.arms]
        ratio = self.randomization.allocation.ratio
        for code in ratio:
            if code not in arms:
                raise Invalid(
                    ("randomization", "allocation", "ratio", code),
                    f"no arm {code!r} (arms: {', '.join(arms)})",
                )
        missing = [code for code in arms if code not in ratio]
        if missing:
            raise Invalid(
                ("randomization", "allocation", "ratio"),
                f"arm(s) {', '.join(missing)} have no share of the allocation ratio",
            )

    def _check_dosing(self) -> None:
        arms = [a.code for a in self.arms]
        for key in ("active_arm", "placebo_arm"):
            code = getattr(self.dosing, key)
            if code not in arms:
                raise Invalid(("dosing", key), f"no arm {code!r} (arms: {', '.join(arms)})")
        if self.dosing.active_arm == self.dosing.placebo_arm:
            raise Invalid(("dosing", "placebo_arm"), "is the same arm as active_arm")
        if self.dosing.prepared_by not in self.masking.unblinded_roles:
            raise Invalid(
                ("dosing", "prepared_by"),
                f"{self.dosing.prepared_by!r} is not among masking.unblinded roles",
            )

    def _check_dose_visits(self) -> None:
        dosing = self.dosing
        seen: dict[int, str] = {}
        for index, visit in enumerate(self.schedule.visits):
            if visit.dose is None:
                continue
            where = ("schedule", "visits", index)
            if visit.dose > dosing.max_doses:
                raise Invalid((*where, "dose"), f"dose {visit.dose} > max_doses {dosing.max_doses}")
            if visit.dose in seen:
                raise Invalid((*where, "dose"), f"dose {visit.dose} is already given at {seen[visit.dose]}")
            seen[visit.dose] = visit.id
            target = dosing.target_days[visit.dose - 1]
            if visit.target_day != target:
                raise Invalid(
                    (*where, "target_day"),
                    f"dose {visit.dose} targets day {target} in dosing.target_days, not day {visit.target_day}",
                )
            window = dosing.window_for_dose(visit.dose)
            if (visit.window_days.before, visit.window_days.after) != (window, window):
                raise Invalid(
                    (*where, "window_days"),
                    f"dose {visit.dose} has a window of +/- {window} day(s) under dosing",
                )
        missing = [str(d) for d in range(1, dosing.max_doses + 1) if d not in seen]
        if missing:
            raise Invalid(("schedule", "visits"), f"no visit for dose(s) {', '.join(missing)}")

    def _check_outcomes(self) -> None:
        ids = [o.id for o in self.outcomes]
        unique(ids, "outcome id", ("outcomes",), key="id")
        for index, outcome_id in enumerate(ids):
            if outcome_id not in OUTCOME_IDS:
                raise Invalid(
                    ("outcomes", index, "id"),
                    f"unknown outcome {outcome_id!r}: the record's outcomes are {', '.join(OUTCOME_IDS)}",
                )
        missing = [i for i in OUTCOME_IDS if i not in ids]
        if missing:
            raise Invalid(("outcomes",), f"missing outcome(s): {', '.join(missing)}")
        populations = [p.id for p in self.populations.definitions]
        assessments = [a.id for a in self.schedule.assessments]
        last_day = max(v.latest_day for v in self.schedule.visits)
        analysis_ids: dict[str, str] = {}
        for index, outcome in enumerate(self.outcomes):
            where = ("outcomes", index)
            primary = outcome.id == PRIMARY_OUTCOME_ID
            if (outcome.kind == "primary") != primary:
                raise Invalid(
                    (*where, "kind"),
                    f"{PRIMARY_OUTCOME_ID} is the primary outcome and the only one",
                )
            if outcome.analysis.population not in populations:
                raise Invalid(
                    (*where, "analysis", "population"),
                    f"no population {outcome.analysis.population!r} (populations: {', '.join(populations)})",
                )
            for a_index, assessment in enumerate(outcome.variable.assessments):
                if assessment not in assessments:
                    raise Invalid(
                        (*where, "variable", "assessments", a_index),
                        f"no assessment {assessment!r} in schedule.assessments",
                    )
            if outcome.variable.horizon_day > last_day:
                raise Invalid(
                    (*where, "variable", "horizon_day"),
                    f"day {outcome.variable.horizon_day} is after the last visit (day {last_day})",
                )
            for a_index, analysis_id in enumerate(outcome.analysis.analysis_ids):
                if analysis_id in analysis_ids:
                    raise Invalid(
                        (*where, "analysis", "analysis_ids", a_index),
                        f"analysis id {analysis_id!r} is already used by {analysis_ids[analysis_id]}",
                    )
                analysis_ids[analysis_id] = outcome.id
        osfd = self.outcome("OSFD")
        if osfd.variable.horizon_day != self.parameters.osfd_window_days:
            raise Invalid(
                ("outcomes", ids.index("OSFD"), "variable", "horizon_day"),
                f"OSFD is counted through day {self.parameters.osfd_window_days} (parameters.osfd_window_days)",
            )
