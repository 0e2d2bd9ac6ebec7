"""The `iliad7 score` / `iliad7 screen` contract (clinical-rules 5), through the installed command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONTRACT_EXAMPLES, ELIGIBLE

IL7 = str(Path(sys.executable).with_name("iliad7"))


def run(args: list[str], payload: Any = None, raw: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    data = raw if raw is not None else json.dumps(payload).encode()
    return subprocess.run([IL7, *args], input=data, capture_output=True, timeout=60)


def matches(expected: Any, got: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(k in got and matches(v, got[k]) for k, v in expected.items())
    if isinstance(expected, float) or isinstance(got, float):
        return abs(float(expected) - float(got)) <= 1e-6 * max(1.0, abs(float(expected)))
    return bool(expected == got)


def test_every_spec_example_in_one_batch_per_kind() -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for example in CONTRACT_EXAMPLES:
        by_kind.setdefault(example["kind"], []).append(example)
    for kind, examples in by_kind.items():
        done = run(kind.split(), [e["input"] for e in examples])
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout)
        for example, result in zip(examples, results, strict=True):
            assert matches(example["expected"], result), example["name"]


def test_single_object_in_gives_single_object_out() -> None:
    done = run(["screen"], ELIGIBLE)
    result = json.loads(done.stdout)
    assert set(result) == {"verdict", "criteria", "failed", "unknown"}
    assert set(result["criteria"][0]) == {"id", "status", "reason", "missing"}


def test_input_file_option(tmp_path: Path) -> None:
    path = tmp_path / "news2.json"
    path.write_text(json.dumps({"respiratory_rate": 25}))
    done = subprocess.run([IL7, "score", "news2", "--input", str(path)], capture_output=True, timeout=60)
    assert done.returncode == 0
    assert json.loads(done.stdout)["components"] == {"respiratory_rate": 3}


def test_empty_array_gives_empty_array() -> None:
    done = run(["screen"], [])
    assert (done.returncode, json.loads(done.stdout)) == (0, [])


BAD = [
    (["score", "news2"], None, b"{not json", "JSON"),
    (["score", "news2"], None, b"", "empty"),
    (["score", "news2"], None, b"42", "object"),
    (["score", "news2"], {"consciousness": "alert"}, None, "consciousness"),
    (["score", "news2"], {"spo2": 101}, None, "spo2"),
    (["score", "news2"], {"respiratory_rate": -1}, None, "respiratory_rate"),
    (["score", "news2"], {"temperature": "38.4"}, None, "temperature"),
    (["score", "news2"], {"on_supplemental_oxygen": 1}, None, "on_supplemental_oxygen"),
    (["score", "news2"], {"spo2_scale": 3}, None, "spo2_scale"),
    (["score", "news2"], {"pulse": 80.5}, None, "pulse"),
    (["score", "news2"], {"heart_rate": 80}, None, "heart_rate"),
    (["score", "sofa"], {"gcs": 2}, None, "gcs"),
    (["score", "sofa"], {"gcs": 14.5}, None, "gcs"),
    (["score", "sofa"], {"platelets": -5}, None, "platelets"),
    (["score", "who-cps"], {"oxygen_support": "cpap"}, None, "oxygen_support"),
    (["score", "ctcae"], {"term": "lymphocyte_count_decreased", "value": 600, "unit": "mg/dL"}, None, "unit"),
    (["score", "ctcae"], {"term": "anemia", "value": 9, "unit": "mmol/L"}, None, "unit"),
    (["score", "ctcae"], {"term": "fever", "value": 39}, None, "term"),
    (["score", "ctcae"], {"term": "anemia", "value": -1, "unit": "g/dL"}, None, "value"),
    (["score", "bmi"], {"weight_kg": 70, "height_cm": 0}, None, "height_cm"),
    (["score", "bmi"], {"weight_kg": True, "height_cm": 170}, None, "weight_kg"),
    (["screen"], {**ELIGIBLE, "birth_date": "1880-01-01"}, None, "birth_date"),
    (["screen"], {**ELIGIBLE, "birth_date": "2022-01-01"}, None, "birth_date"),
    (["screen"], {**ELIGIBLE, "baseline_time": "2021-03-05T14:00:00"}, None, "baseline_time"),
    (["screen"], {**ELIGIBLE, "baseline_time": "yesterday"}, None, "baseline_time"),
    (["screen"], {**ELIGIBLE, "clinical_frailty_scale": 10}, None, "clinical_frailty_scale"),
    (["screen"], {**ELIGIBLE, "clinical_frailty_scale": 0}, None, "clinical_frailty_scale"),
    (["screen"], {**ELIGIBLE, "sofa": 25}, None, "sofa"),
    (["screen"], {**ELIGIBLE, "sofa": {"gcs": 16}}, None, "sofa.gcs"),
    (["screen"], {**ELIGIBLE, "sex": "x"}, None, "sex"),
    (["screen"], {**ELIGIBLE, "consent": {**ELIGIBLE["consent"], "type": "verbal"}}, None, "consent.type"),
    (["screen"], {**ELIGIBLE, "respiratory_support": {"device": "cpap"}}, None, "respiratory_support.device"),
    (["screen"], {**ELIGIBLE, "alc": [{"time": "2021-03-05T10:00:00+00:00", "value": 0.5, "unit": "g/L"}]}, None, "alc[0].unit"),
    (["screen"], {**ELIGIBLE, "alc": [{"time": "2021-03-05T10:00:00+00:00", "value": -3, "unit": "/uL"}]}, None, "alc[0].value"),
    (["screen"], {**ELIGIBLE, "news2": [{"time": "2021-03-05T10:00:00+00:00", "score": 21}]}, None, "news2[0].score"),
    (["screen"], {**ELIGIBLE, "weight_kg": "88"}, None, "weight_kg"),
    (["screen"], {**ELIGIBLE, "hospitalized": "yes"}, None, "hospitalized"),
    (["screen"], {**ELIGIBLE, "alc": {"value": 500}}, None, "alc"),
    (["screen"], {**ELIGIBLE, "max_unresolved_prior_therapy_toxicity_grade": 6}, None, "max_unresolved_prior_therapy_toxicity_grade"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "payload", "raw", "named"), BAD)
def test_bad_input_exits_2_naming_the_field_and_prints_nothing(
    args: list[str], payload: Any, raw: bytes | None, named: str
) -> None:
    done = run(args, payload, raw)
    assert done.returncode == 2
    assert done.stdout == b""
    assert named in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_bad_record_in_a_batch_names_its_index_and_nothing_is_judged() -> None:
    bad = {
        **ELIGIBLE,
        "alc": [{"time": "2021-03-05T10:00:00+00:00", "value": 500, "unit": "cells/L"}],
    }
    done = run(["screen"], [ELIGIBLE, ELIGIBLE, bad])
    assert done.returncode == 2
    assert done.stdout == b""
    message = done.stderr.decode()
    assert "[2].alc[0].unit" in message and "index 2" in message


def test_batch_output_is_in_input_order() -> None:
    records = [{**ELIGIBLE, "clinical_frailty_scale": cfs} for cfs in (7, 1, 6, 2)]
    done = run(["screen"], records)
    verdicts = [r["verdict"] for r in json.loads(done.stdout)]
    assert verdicts == ["ineligible", "eligible", "ineligible", "eligible"]
