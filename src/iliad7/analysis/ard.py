"""The analysis results dataset (``ard.json``) and the provenance of every output (docs/sap.md section 5).

:func:`ard_rows` turns the typed results into the rows of shared/spec/interfaces.md, exactly the
nine fields ``analysis_id, outcome, population, method, statistic, value, ci_lower, ci_upper, n``
in that order, CYT107 versus placebo for contrasts. A closed (unblinded) ARD holds the contrasts
and the summaries by arm; an open (blinded) ARD holds only pooled summaries, never an arm-level
number. :func:`provenance` records the snapshot hash (for now a SHA-256 of the input datasets),
the protocol file's SHA-256 and version, and the code version. Serialisation is deterministic:
the same inputs give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from iliad7.analysis.datasets import AnalysisData
from iliad7.analysis.results import AnalysisResult

ARD_FIELDS = ("analysis_id", "outcome", "population", "method", "statistic", "value", "ci_lower", "ci_upper", "n")
OPEN_METHOD = "descriptive, pooled over arms (blinded)"


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _row(
    result: AnalysisResult, method: str, statistic: str, value: Any, low: Any, high: Any, n: int
) -> dict[str, Any]:
    return dict(
        zip(
            ARD_FIELDS,
            (
                result.analysis_id,
                result.outcome,
                result.population,
                method,
                statistic,
                _number(value),
                _number(low),
                _number(high),
                int(n),
            ),
            strict=True,
        )
    )


def ard_rows(results: list[AnalysisResult], *, closed: bool) -> list[dict[str, Any]]:
    """The ARD rows: contrasts and by-arm summaries when `closed`, pooled summaries only otherwise."""
    rows: list[dict[str, Any]] = []
    for result in results:
        if closed:
            for estimate in result.estimates:
                rows.append(
                    _row(
                        result,
                        result.method,
                        estimate.statistic,
                        estimate.value,
                        estimate.ci_lower,
                        estimate.ci_upper,
                        result.n,
                    )
                )
            for summary in result.by_arm:
                rows.append(
                    _row(
                        result,
                        "descriptive, by arm",
                        f"{summary.statistic}[{summary.group}]",
                        summary.value,
                        summary.ci_lower,
                        summary.ci_upper,
                        result.n,
                    )
                )
        else:
            for summary in result.pooled:
                rows.append(
                    _row(
                        result,
                        OPEN_METHOD,
                        f"{summary.statistic}[pooled]",
                        summary.value,
                        summary.ci_lower,
                        summary.ci_upper,
                        result.n,
                    )
                )
    return rows


def dumps(document: Any) -> bytes:
    """Deterministic JSON: fixed key order as given, no NaN, a final newline."""
    return (json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False) + "\n").encode()


def snapshot_hash(data: AnalysisData) -> str:
    """SHA-256 over the input datasets, each written as CSV in a fixed order (name, then bytes)."""
    digest = hashlib.sha256()
    for name, frame in data.frames().items():
        digest.update(name.encode() + b"\n")
        digest.update(frame.write_csv().encode())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def protocol_identity() -> tuple[str, str]:
    """(SHA-256 of the protocol file, its version string)."""
    from iliad7.protocol import default_protocol_path, load_protocol

    path = default_protocol_path()
    return hashlib.sha256(Path(path).read_bytes()).hexdigest(), str(load_protocol().version)


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version, with the git commit of the working tree when there is one."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("iliad7")
    except PackageNotFoundError:
        text = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{text}+g{commit}" if commit else text


def provenance(data: AnalysisData, *, source: str) -> dict[str, str]:
    """What an output was computed from: snapshot hash, protocol SHA-256 and version, code version."""
    protocol_sha, protocol_version = protocol_identity()
    return {
        "snapshot_sha256": snapshot_hash(data),
        "protocol_sha256": protocol_sha,
        "protocol_version": protocol_version,
        "code_version": code_version(),
        "source": source,
    }


def write_datasets(data: AnalysisData, directory: Path) -> None:
    """Write each dataset as CSV (deterministic) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in data.frames().items():
        (directory / f"{name}.csv").write_bytes(frame.write_csv().encode())
