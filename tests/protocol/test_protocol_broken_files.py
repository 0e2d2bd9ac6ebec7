"""A broken protocol file fails with its file, the YAML path, the line and a plain message.

Each case copies the real file, changes one thing, and checks where the error
points: a clinician must be able to go to that line and fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iliad7.protocol import ProtocolError, load_protocol

Broken = Callable[[str, str], Any]


def load_error(path: Path) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    return caught.value


def test_str_is_file_path_line_message(broken: Broken) -> None:
    case = broken("  planned: 48 #", "  planned: forty-eight #")
    error = load_error(case.path)
    assert str(error) == (
        f"{case.path}: enrollment.planned (line {case.line}): Input should be a valid integer (found 'forty-eight')"
    )
    assert (error.file, error.yaml_path, error.line) == (case.path, "enrollment.planned", case.line)


def test_yaml_syntax_error_names_its_line(broken: Broken) -> None:
    case = broken("  nct_id: NCT04426201", "  nct_id: [NCT04426201")
    error = load_error(case.path)
    assert error.yaml_path == "$"
    assert error.message.startswith("invalid YAML:")
    assert error.line is not None and case.line <= error.line <= case.line + 2


def test_duplicate_yaml_key_is_refused(broken: Broken) -> None:
    case = broken("  planned: 48 #", "  planned: 48\n  planned: 49 #")
    error = load_error(case.path)
    assert "duplicate key" in error.message
    assert error.line == case.line + 1


def test_impossible_date_is_a_yaml_error_with_its_line(broken: Broken) -> None:
    case = broken("first_posted: 2020-06-11", "first_posted: 2020-16-11")
    error = load_error(case.path)
    assert "invalid date '2020-16-11'" in error.message
    assert error.line == case.line


def test_missing_required_key_is_named_at_its_parent(broken: Broken) -> None:
    case = broken("  planned: 48 #", "  # planned: 48 #")
    error = load_error(case.path)
    assert error.yaml_path == "enrollment.planned"
    assert error.message == "required key is missing"
    assert error.line == case.line_of("enrollment:\n")


def test_missing_section_is_named(broken: Broken) -> None:
    case = broken("parameters:\n  source: clinical-rules\n", "parameterz:\n  source: clinical-rules\n")
    error = load_error(case.path)
    assert error.yaml_path == "parameterz"
    assert error.message == "unknown key 'parameterz' (did you mean 'parameters'?)"
    assert [p.yaml_path for p in error.problems] == ["parameterz", "parameters"]


@pytest.mark.parametrize(
    ("old", "new", "yaml_path", "expected"),
    [
        ("  planned: 48 #", "  planned: 48.5 #", "enrollment.planned", "valid integer"),
        (
            "  identical_syringes: true",
            '  identical_syringes: "yes"',
            "dosing.identical_syringes",
            "valid boolean",
        ),
        ("  phase: 2\n", "  phase: II\n", "design.phase", "Input should be 1, 2, 3 or 4"),
        ("  max_doses: 7", "  max_doses: -7", "dosing.max_doses", "greater than 0"),
        (
            "  prepared_by: unblinded-pharmacist",
            "  prepared_by: nurse",
            "dosing.prepared_by",
            "'unblinded-pharmacist'",
        ),
        ("  nct_id: NCT04426201", "  nct_id: NCT0442620", "identifiers.nct_id", "pattern"),
        (
            "{max_alc_cells_per_mm3: 1000, lookback_hours: 72}",
            "{max_alc_cells_per_mm3: {value: 1000}, lookback_hours: 72}",
            "eligibility.criteria[3].parameters.max_alc_cells_per_mm3",
            "no allowed type fits",
        ),
    ],
)
def test_wrong_type_names_the_key(broken: Broken, old: str, new: str, yaml_path: str, expected: str) -> None:
    case = broken(old, new)
    error = load_error(case.path)
    assert error.yaml_path == yaml_path
    assert expected in error.message
    assert error.line == case.line


def test_unknown_key_suggests_the_intended_one(broken: Broken) -> None:
    case = broken("  planned: 48 #", "  planed: 48 #")
    error = load_error(case.path)
    assert error.yaml_path == "enrollment.planed"
    assert error.message == "unknown key 'planed' (did you mean 'planned'?)"
    assert error.line == case.line


def test_unknown_key_deep_in_a_list(broken: Broken) -> None:
    case = broken(
        "      category: score\n      visits: [BASELINE]\n",
        "      category: score\n      colour: red\n      visits: [BASELINE]\n",
    )
    error = load_error(case.path)
    assert error.yaml_path == "schedule.assessments[6].colour"
    assert error.message == "unknown key 'colour'"
    assert error.line == case.line + 1


@pytest.mark.parametrize(
    ("old", "new", "yaml_path", "expected"),
    [
        ("  - code: MDACC", "  - code: MSKCC", "sites[1].code", "duplicate site code 'MSKCC'"),
        ("  - code: placebo", "  - code: CYT107", "arms[1].code", "duplicate arm code 'CYT107'"),
        (
            "    - {id: DOSE6,",
            "    - {id: DOSE5,",
            "schedule.visits[6].id",
            "duplicate visit id 'DOSE5'",
        ),
        (
            "    - id: EXC-DIALYSIS\n      kind: exclusion\n      source: clinical-rules\n      rule: EXC-DIALYSIS",
            "    - id: EXC-PROLONGED-MV\n      kind: exclusion\n      source: clinical-rules\n"
            "      rule: EXC-PROLONGED-MV",
            "eligibility.criteria[18].id",
            "duplicate criterion id 'EXC-PROLONGED-MV'",
        ),
        (
            "  - id: CRP\n    kind: secondary",
            "  - id: FERRITIN\n    kind: secondary",
            "outcomes[12].id",
            "duplicate outcome id 'FERRITIN'",
        ),
    ],
)
def test_duplicate_id(broken: Broken, old: str, new: str, yaml_path: str, expected: str) -> None:
    case = broken(old, new)
    error = load_error(case.path)
    assert error.yaml_path == yaml_path
    assert error.message == expected
    assert error.line == case.line


@pytest.mark.parametrize(
    ("old", "new", "yaml_path", "expected"),
    [
        (
            "ratio: {CYT107: 1, placebo: 1}",
            "ratio: {CYT107: 1, saline: 1}",
            "randomization.allocation.ratio.saline",
            "no arm 'saline' (arms: CYT107, placebo)",
        ),
        (
            "ratio: {CYT107: 1, placebo: 1}",
            "ratio: {CYT107: 1}",
            "randomization.allocation.ratio",
            "arm(s) placebo have no share",
        ),
        (
            "visits: [BASELINE, DOSE4, DOSE5, D21, D30]",
            "visits: [BASELINE, DOSE4, DAY14, D21, D30]",
            "schedule.assessments[15].visits[2]",
            "no visit 'DAY14' in schedule.visits",
        ),
        (
            "      assessments: [VIRAL-LOAD]",
            "      assessments: [VIRAL-RNA]",
            "outcomes[2].variable.assessments[0]",
            "no assessment 'VIRAL-RNA'",
        ),
        (
            "      population: SAFETY",
            "      population: SAFE",
            "outcomes[15].analysis.population",
            "no population 'SAFE'",
        ),
        ("  active_arm: CYT107", "  active_arm: IL7", "dosing.active_arm", "no arm 'IL7'"),
    ],
)
def test_bad_cross_reference(broken: Broken, old: str, new: str, yaml_path: str, expected: str) -> None:
    case = broken(old, new)
    error = load_error(case.path)
    assert error.yaml_path == yaml_path
    assert expected in error.message
    assert error.line == case.line


@pytest.mark.parametrize(
    ("days", "index", "message"),
    [
        ("[0, 3, 10, 7, 14, 17, 21]", 3, "dose 4 on day 7 does not follow dose 3 on day 10"),
        ("[0, 3, 7, 7, 14, 17, 21]", 3, "dose 4 on day 7 does not follow dose 3 on day 7"),
    ],
)
def test_dose_days_must_strictly_increase(broken: Broken, days: str, index: int, message: str) -> None:
    case = broken("target_days: [0, 3, 7, 10, 14, 17, 21]", f"target_days: {days}")
    error = load_error(case.path)
    assert error.yaml_path == f"dosing.target_days[{index}]"
    assert message in error.message
    assert error.line == case.line


def test_dose_days_must_number_max_doses(broken: Broken) -> None:
    case = broken("target_days: [0, 3, 7, 10, 14, 17, 21]", "target_days: [0, 3, 7, 10, 14, 17]")
    error = load_error(case.path)
    assert error.yaml_path == "dosing.target_days"
    assert error.message == "6 target days for max_doses 7: give one day per dose"


def test_dose_2_inside_the_72_hour_observation_is_refused(broken: Broken) -> None:
    case = broken("target_days: [0, 3, 7, 10, 14, 17, 21]", "target_days: [0, 2, 7, 10, 14, 17, 21]")
    error = load_error(case.path)
    assert error.yaml_path == "dosing.target_days[1]"
    assert "72 h observation" in error.message


def test_dose_visit_must_be_on_its_target_day(broken: Broken) -> None:
    case = broken("{id: DOSE4, name: Dose 4, target_day: 10,", "{id: DOSE4, name: Dose 4, target_day: 11,")
    error = load_error(case.path)
    assert error.yaml_path == "schedule.visits[4].target_day"
    assert error.message == "dose 4 targets day 10 in dosing.target_days, not day 11"


def test_dose_visit_window_must_match_dosing(broken: Broken) -> None:
    case = broken(
        "target_day: 10, window_days: {before: 1, after: 1}",
        "target_day: 10, window_days: {before: 2, after: 1}",
    )
    error = load_error(case.path)
    assert error.yaml_path == "schedule.visits[4].window_days"
    assert error.line == case.line


def test_block_sizes_must_fit_the_ratio(broken: Broken) -> None:
    case = broken("ratio: {CYT107: 1, placebo: 1}", "ratio: {CYT107: 2, placebo: 1}")
    error = load_error(case.path)
    assert error.yaml_path == "randomization.blocking.block_sizes[0]"
    assert "not a multiple of the allocation ratio total 3" in error.message


def test_masking_level_must_match_the_roles(broken: Broken) -> None:
    case = broken("  level: quadruple", "  level: triple")
    error = load_error(case.path)
    assert error.yaml_path == "masking.masked"
    assert error.message == "masking triple masks 3 roles, 4 listed"


def test_criteria_must_keep_spec_order(broken: Broken, real_text: str) -> None:
    start = real_text.index("    - id: EXC-SOFA\n")
    middle = real_text.index("    - id: EXC-BMI\n")
    end = real_text.index("    - id: EXC-NEWS2-RISE\n")
    sofa, bmi = real_text[start:middle], real_text[middle:end]
    case = broken(sofa + bmi, bmi + sofa)
    error = load_error(case.path)
    assert error.yaml_path == "eligibility.criteria[20].id"
    assert error.message.startswith("EXC-SOFA is out of order")
    assert error.line == case.line_of("    - id: EXC-SOFA\n")


def test_criterion_must_cite_its_own_rule(broken: Broken) -> None:
    case = broken("      rule: EXC-GUARDIANSHIP\n", "      rule: EXC-FRAILTY\n")
    error = load_error(case.path)
    assert error.yaml_path == "eligibility.criteria[23].rule"
    assert error.line == case.line


def test_unknown_criterion_is_refused(broken: Broken) -> None:
    case = broken(
        "    - id: EXC-GUARDIANSHIP\n      kind: exclusion\n      source: clinical-rules\n"
        "      rule: EXC-GUARDIANSHIP\n",
        "    - id: EXC-GUARDIAN\n      kind: exclusion\n      source: clinical-rules\n      rule: EXC-GUARDIAN\n",
    )
    error = load_error(case.path)
    assert error.yaml_path == "eligibility.criteria[23].id"
    assert "unknown criterion 'EXC-GUARDIAN'" in error.message


def test_criterion_parameter_must_be_one_its_rule_reads(broken: Broken) -> None:
    case = broken("{min_sofa: 9}", "{sofa_at_least: 9}")
    error = load_error(case.path)
    assert error.yaml_path == "eligibility.criteria[19].parameters.sofa_at_least"
    assert error.message == "EXC-SOFA has no parameter 'sofa_at_least' (its parameters: min_sofa)"


def test_age_range_must_agree_with_inc_age(broken: Broken) -> None:
    case = broken("  max_age_years: 80\n", "  max_age_years: 85\n")
    error = load_error(case.path)
    assert error.yaml_path == "eligibility.criteria[2].parameters"
    assert "25-80 years but eligibility says 25-85" in error.message


def test_unknown_outcome_is_refused(broken: Broken) -> None:
    case = broken("  - id: NEWS2\n    kind: secondary", "  - id: NEWS-2\n    kind: secondary")
    error = load_error(case.path)
    assert error.yaml_path == "outcomes[14].id"
    assert "unknown outcome 'NEWS-2'" in error.message


def test_only_alc_is_primary(broken: Broken) -> None:
    case = broken("  - id: WHO-SCALE\n    kind: secondary", "  - id: WHO-SCALE\n    kind: primary")
    error = load_error(case.path)
    assert error.yaml_path == "outcomes[1].kind"


def test_osfd_horizon_must_be_the_osfd_window(broken: Broken) -> None:
    case = broken("  osfd_window_days: 45", "  osfd_window_days: 28")
    error = load_error(case.path)
    assert error.yaml_path == "outcomes[7].variable.horizon_day"
    assert "parameters.osfd_window_days" in error.message


def test_interpretation_needs_its_note(broken: Broken) -> None:
    case = broken(
        "  stratification:\n    source: interpretation\n    interpretation: >-\n"
        "      The record does not say how the 1:1 allocation is made. Stratifying by\n"
        "      site keeps the arms balanced within each hospital.\n",
        "  stratification:\n    source: interpretation\n",
    )
    error = load_error(case.path)
    assert error.yaml_path == "randomization.stratification.interpretation"
    assert error.message.startswith("source is interpretation")
    assert error.line == case.line  # a missing key is located at its parent


def test_registry_block_cannot_hide_an_interpretation(broken: Broken) -> None:
    case = broken(
        "enrollment:\n  source: registry\n",
        "enrollment:\n  source: registry\n  interpretation: we think\n",
    )
    error = load_error(case.path)
    assert error.yaml_path == "enrollment.interpretation"


def test_interpreted_must_name_a_key_of_its_block(broken: Broken) -> None:
    case = broken(
        "      name: Capitalised from the record's location line.",
        "      nmae: Capitalised from the record's location line.",
    )
    error = load_error(case.path)
    assert error.yaml_path == "sites[1].interpreted.nmae"
    assert error.message.startswith("'nmae' is not a key of this block")


def test_unknown_source_is_refused(broken: Broken) -> None:
    case = broken("enrollment:\n  source: registry\n", "enrollment:\n  source: folklore\n")
    error = load_error(case.path)
    assert error.yaml_path == "enrollment.source"
    assert error.line == case.line + 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "expected a mapping of sections, found an empty file"),
        (b"- a\n- b\n", "expected a mapping of sections, found a list"),
        (b"just text\n", "expected a mapping of sections, found the value 'just text'"),
        (b"\xff\xfe not utf-8", "not UTF-8 text"),
    ],
)
def test_file_that_is_not_a_protocol(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    error = load_error(path)
    assert (error.file, error.yaml_path) == (path, "$")
    assert error.message.startswith(message)


def test_missing_file_is_a_protocol_error(tmp_path: Path) -> None:
    error = load_error(tmp_path / "absent.yaml")
    assert error.message.startswith("cannot read the file")
    assert str(error) == f"{tmp_path / 'absent.yaml'}: $: {error.message}"


def test_no_single_line_deletion_escapes_as_a_traceback(tmp_path: Path, real_text: str) -> None:
    lines = real_text.splitlines(keepends=True)
    path = tmp_path / "cut.yaml"
    outcomes = {"loaded": 0, "refused": 0}
    for index in range(0, len(lines), 17):
        if not lines[index].strip() or lines[index].lstrip().startswith("#"):
            continue
        path.write_text("".join(lines[:index] + lines[index + 1 :]), encoding="utf-8")
        try:
            load_protocol(path)
        except ProtocolError as error:
            outcomes["refused"] += 1
            assert error.line is None or 1 <= error.line <= len(lines)
            assert error.message
        else:
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 20  # most lines matter
