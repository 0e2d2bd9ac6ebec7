"""The parameter file: every number cites its published source or says it is an assumption."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from iliad7.eligibility import CRITERION_IDS
from iliad7.errors import InputError
from iliad7.simulate.parameters import KNOWN_SOURCES, PARAMETERS_FILE, load_parameters

SOURCES_MD = Path(__file__).resolve().parents[3] / "shared" / "spec" / "simulation-sources.md"  # beside the repo
SIMULATE_SRC = Path(__file__).parents[2] / "src" / "iliad7" / "simulate"


def test_every_parameter_cites_a_source_or_is_marked_assumption() -> None:
    params = load_parameters()
    entries = params.entries()
    assert len(entries) > 40
    for name, entry in entries.items():
        if entry.kind == "assumption":
            assert entry.note, name
        else:
            assert entry.source, f"{name} is {entry.kind} without a source"
            assert all(source in KNOWN_SOURCES for source in entry.source), name
        if entry.kind == "estimate":
            assert entry.derivation, f"{name}: an estimate says how it was derived"


@pytest.mark.skipif(not SOURCES_MD.exists(), reason="the shared spec is not mounted here")
def test_every_known_source_is_a_citation_of_simulation_sources_md() -> None:
    text = SOURCES_MD.read_text(encoding="utf-8")
    for source in KNOWN_SOURCES:
        if source == "registry record NCT04426201":
            assert "NCT04426201" in text
            continue
        author = source.split(",")[0].replace(" et al.", "")
        assert author in text, source


def test_every_parameter_is_read_by_the_simulator() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for p in SIMULATE_SRC.glob("*.py"))
    code += "\n".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    unused = [name for name in load_parameters().entries() if not re.search(rf"\b{name.split('.')[1]}\b", code)]
    assert unused == []


def test_failure_shares_name_every_criterion_but_inc_alc() -> None:
    shares = load_parameters().screening.failure_share.value
    assert set(shares) | {"INC-ALC"} == set(CRITERION_IDS)


def test_an_estimate_without_derivation_is_refused(tmp_path: Path) -> None:
    text = PARAMETERS_FILE.read_text(encoding="utf-8")
    broken = text.replace("derivation: Ratio of the ICU medians CD4 261 / ALC 659.", "note: no derivation given", 1)
    assert broken != text
    path = tmp_path / "parameters.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(InputError, match="cd4_fraction"):
        load_parameters(path)


def test_a_source_not_in_the_spec_is_refused(tmp_path: Path) -> None:
    text = PARAMETERS_FILE.read_text(encoding="utf-8")
    broken = text.replace('source: ["Pan P et al., Virol J 2022"]', 'source: ["Somebody, Some Journal 2030"]', 1)
    path = tmp_path / "parameters.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(InputError, match="not in simulation-sources"):
        load_parameters(path)


def test_shares_that_do_not_sum_to_one_are_refused() -> None:
    with pytest.raises(InputError, match="severity_share"):
        load_parameters(overrides={"population.severity_share.mv": 0.9})


def test_an_override_changes_that_value_and_says_so() -> None:
    base = load_parameters()
    changed = load_parameters(overrides={"effect.alc_gmr": 1.2})
    assert changed.effect.alc_gmr.value == 1.2
    assert "overridden" in (changed.effect.alc_gmr.note or "")
    assert changed.course == base.course
    assert base.with_overrides({"effect.alc_gmr": 1.2}) == changed


def test_an_unknown_override_is_refused_naming_it() -> None:
    with pytest.raises(InputError, match=r"effect\.nope"):
        load_parameters(overrides={"effect.nope": 1.0})


def test_no_il7_effect_removes_every_cyt107_effect() -> None:
    null = load_parameters().without_il7_effect().effect
    assert (null.alc_gmr.value, null.mortality_hr.value, null.hai_rate_ratio.value) == (1.0, 1.0, 1.0)


def test_the_simulate_cli_module_starts_without_numpy() -> None:
    code = "import sys\nimport iliad7.cli.simulate\nprint(sorted(m for m in ('numpy', 'scipy', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
