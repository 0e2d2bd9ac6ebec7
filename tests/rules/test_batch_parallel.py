"""Large batches are judged on several processes: the output must be byte-identical to one process."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson
import pytest
import typer

from iliad7.cli import rules

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from screening_inputs import record as generated_record


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "PARALLEL_FROM_BYTES", 1)
    monkeypatch.setattr(rules.os, "cpu_count", lambda: 4)


def records(n: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    return [generated_record(rng) for _ in range(n)]


@pytest.mark.usefixtures("small_threshold")
@pytest.mark.parametrize("jobs", [2, 3, 4])
def test_parallel_output_is_identical_to_one_process(jobs: int) -> None:
    data = orjson.dumps(records(40), option=orjson.OPT_INDENT_2)  # nested arrays of objects, newlines
    one = b"".join(rules.judge("screen", data, jobs=1))
    assert b"".join(rules.judge("screen", data, jobs=jobs)) == one
    assert len(orjson.loads(one)) == 40


def test_split_points_are_between_records_only() -> None:
    data = orjson.dumps(records(30))
    parts = rules.split_array(data, 3)
    assert parts is not None and len(parts) == 3
    assert sum(len(orjson.loads(p)) for p in parts) == 30


@pytest.mark.usefixtures("small_threshold")
def test_a_cut_inside_a_string_falls_back_to_one_process() -> None:
    tricky = records(6)
    for item in tricky:
        item["sex"] = "}, {"  # invalid value: the batch must still be refused as a whole
    data = orjson.dumps(tricky)
    with pytest.raises(typer.Exit) as exited:
        rules.judge("screen", data, jobs=2)
    assert exited.value.exit_code == 2


@pytest.mark.usefixtures("small_threshold")
def test_an_invalid_record_in_any_part_is_reported_with_its_index_in_the_whole_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = records(20)
    batch[17]["clinical_frailty_scale"] = 12
    with pytest.raises(typer.Exit):
        rules.judge("screen", orjson.dumps(batch), jobs=2)
    assert "[17].clinical_frailty_scale" in capsys.readouterr().err
