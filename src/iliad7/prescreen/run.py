"""One pre-screening run: extract on the engine, build each person's record, judge it, write.

The verdicts are `iliad7.eligibility.screen`'s, the very function `iliad7 screen` runs, on the
records written with `--records`: the two agree line for line by construction. The output is
JSON Lines in `person_id` order, `{"person_id", "verdict", "criteria"}`; large populations are
built and judged on forked processes (the features are read once, in the parent), each part
written to its own file and joined in order.
"""

from __future__ import annotations

import gc
import io
import multiprocessing as mp
import os
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import orjson

from iliad7.eligibility import screen
from iliad7.eligibility.contract_json import ResultJson
from iliad7.prescreen.features import STEPS, Extracted, Moment, extract
from iliad7.prescreen.mapping import prescreen_mappings
from iliad7.prescreen.records import RecordBuilder
from iliad7.prescreen.source import Engine, OmopInputError, open_source

PARALLEL_FROM = 50_000  # persons: below this a second process costs more than it saves


@dataclass
class Candidate:
    """A person with no failed criterion: what the worklist shows and the screening form is prefilled from."""

    person_id: int
    verdict: str
    unknown: tuple[str, ...]
    criteria: list[dict[str, Any]]
    record: dict[str, Any]  # the screening record as JSON
    sources: dict[str, str]


@dataclass
class Summary:
    source: str
    engine: str
    as_of: str
    persons: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    candidates: int = 0
    seconds: float = 0.0
    extract_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "engine": self.engine,
            "as_of": self.as_of,
            "persons": self.persons,
            "verdicts": self.verdicts,
            "candidates": self.candidates,
            "seconds": round(self.seconds, 2),
            "extract_seconds": round(self.extract_seconds, 2),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "notes": self.notes,
        }


def parse_as_of(text: str) -> datetime:
    """--as-of: ISO 8601 with its UTC offset (T0), or OmopInputError naming the option."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise OmopInputError("--as-of", f"{text!r} is not an ISO 8601 date and time") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise OmopInputError("--as-of", f"{text!r} has no UTC offset (write e.g. {text}+00:00)")
    return value


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its finished children, in MB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


class Progress:
    """A rich progress bar on a terminal; nothing when standard error is not one."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    @contextmanager
    def running(self) -> Iterator[Progress]:
        if not self.enabled:
            yield self
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        with Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            console=_stderr_console(),
        ) as bar:
            self._bar = bar
            yield self
        self._bar = None

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self._bar is None:
            return lambda advance: None
        task_id = self._bar.add_task(description, total=total)
        return lambda advance: self._bar.advance(task_id, advance)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


# ---------------------------------------------------------------- building and judging, in parts

_STATE: tuple[Extracted, Any, Moment, bool] | None = None  # inherited by forked workers, never pickled
Judged = tuple[list[Candidate], Counter[str]]


def _judge_range(start: int, stop: int, out: IO[bytes], records: IO[bytes] | None, first: bool) -> Judged:
    """Build, judge and write persons[start:stop]; the candidates among them and the verdict counts."""
    assert _STATE is not None
    extracted, prescreen, moment, keep_candidates = _STATE
    features = extracted.features(start, stop)
    builder = RecordBuilder(features, prescreen, moment)
    candidates: list[Candidate] = []
    verdicts: Counter[str] = Counter()
    dumps = orjson.dumps
    fragments = ResultJson()
    lines = []
    parts = []
    for person in features.persons:
        built = builder.build(person)
        result = screen(built.record)
        verdicts[result.verdict] += 1
        lines.append(fragments.line(built.person_id, result))
        if records is not None:
            parts.append(dumps(built.record))
        if keep_candidates and result.verdict != "ineligible":
            sourced = builder.build(person, with_sources=True)
            candidates.append(
                Candidate(
                    built.person_id,
                    result.verdict,
                    result.unknown,
                    [c.as_contract() for c in result.criteria],
                    orjson.loads(dumps(built.record)),
                    sourced.sources,
                )
            )
        if len(lines) >= 5000:
            out.write(b"\n".join(lines) + b"\n")
            lines.clear()
            if records is not None:
                records.write((b"" if first else b",") + b",".join(parts))
                first = False
                parts.clear()
    if lines:
        out.write(b"\n".join(lines) + b"\n")
    if records is not None and parts:
        records.write((b"" if first else b",") + b",".join(parts))
    return candidates, verdicts


def _worker(args: tuple[int, int, str, str | None, bool]) -> Judged:
    start, stop, out_path, records_path, first = args
    with open(out_path, "wb") as out, open(records_path, "wb") if records_path else nullcontext() as records:
        return _judge_range(start, stop, out, records, first)


def _append(target: IO[bytes], path: str) -> None:
    """Copy a part file onto the end of `target`, in the kernel when both are files (a run writes GBs)."""
    with open(path, "rb") as part:
        try:
            fd = target.fileno()
        except (OSError, AttributeError, io.UnsupportedOperation):
            fd = -1
        if fd >= 0:
            target.flush()
            size, sent = os.fstat(part.fileno()).st_size, 0
            while sent < size:
                sent += os.sendfile(fd, part.fileno(), sent, size - sent)
            return
        while block := part.read(1 << 24):
            target.write(block)


def judge_all(
    extracted: Extracted,
    prescreen: Any,
    moment: Moment,
    out: IO[bytes],
    records: IO[bytes] | None,
    *,
    jobs: int,
    keep_candidates: bool,
    advance: Callable[[int], None],
) -> Judged:
    """Every person's line (and record) in person order; the candidates and the verdict counts."""
    global _STATE
    total = extracted.person_count
    jobs = max(1, min(jobs, os.cpu_count() or 1))
    if records is not None:
        records.write(b"[")
    _STATE = (extracted, prescreen, moment, keep_candidates)
    gc_was = gc.isenabled()
    gc.disable()  # a heap of live rows: collecting it would cost a third of the time
    try:
        if jobs == 1 or total < PARALLEL_FROM or "fork" not in mp.get_all_start_methods():
            candidates: list[Candidate] = []
            verdicts: Counter[str] = Counter()
            step = 20_000
            for start in range(0, total, step):
                found, counts = _judge_range(start, min(total, start + step), out, records, first=start == 0)
                candidates += found
                verdicts += counts
                advance(min(step, total - start))
        else:
            candidates, verdicts = _judge_parallel(total, out, records, jobs, advance)
    finally:
        _STATE = None
        if gc_was:
            gc.enable()
    if records is not None:
        records.write(b"]\n")
    return candidates, verdicts


def _judge_parallel(
    total: int, out: IO[bytes], records: IO[bytes] | None, jobs: int, advance: Callable[[int], None]
) -> Judged:
    chunk = max(10_000, total // (jobs * 8))
    bounds = [(s, min(total, s + chunk)) for s in range(0, total, chunk)]
    candidates: list[Candidate] = []
    verdicts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="iliad7-prescreen-") as tmp:
        tasks = [
            (s, e, f"{tmp}/{i}.jsonl", f"{tmp}/{i}.records" if records is not None else None, s == 0)
            for i, (s, e) in enumerate(bounds)
        ]
        with mp.get_context("fork").Pool(jobs) as pool:
            for (s, e, out_path, records_path, _), (found, counts) in zip(
                tasks, pool.imap(_worker, tasks), strict=True
            ):
                _append(out, out_path)
                if records is not None and records_path is not None:
                    _append(records, records_path)
                candidates += found
                verdicts += counts
                advance(e - s)
                os.unlink(out_path)
    return candidates, verdicts


def run(
    source: str,
    as_of: datetime,
    *,
    engine: Engine,
    out: IO[bytes],
    records: IO[bytes] | None = None,
    jobs: int = 1,
    progress: bool = False,
    keep_candidates: bool = False,
    protocol_path: str | None = None,
) -> tuple[Summary, list[Candidate]]:
    """Pre-screen every person of `source` at T0 = `as_of`."""
    started = time.perf_counter()
    prescreen = prescreen_mappings(protocol_path)
    moment = Moment(as_of)
    summary = Summary(source=source, engine=engine, as_of=as_of.isoformat())
    with Progress(progress).running() as bar:
        with open_source(source, engine) as opened:  # closed (its threads stopped) before the workers fork
            summary.source = opened.description
            summary.notes += opened.notes
            step = bar.task(f"reading OMOP tables ({engine})", len(STEPS))
            concepts, features = extract(opened, prescreen, moment, lambda name: step(1))
        if concepts.not_found:
            summary.notes.append("codes not in this vocabulary (they match nothing): " + ", ".join(concepts.not_found))
        summary.extract_seconds = time.perf_counter() - started
        count = bar.task("screening persons", features.person_count)
        candidates, verdicts = judge_all(
            features, prescreen, moment, out, records, jobs=jobs, keep_candidates=keep_candidates, advance=count
        )
    summary.persons = features.person_count
    summary.verdicts = {v: verdicts[v] for v in ("eligible", "incomplete", "ineligible") if v in verdicts}
    summary.candidates = verdicts["eligible"] + verdicts["incomplete"]
    summary.seconds = time.perf_counter() - started
    summary.peak_memory_mb = peak_memory_mb()
    return summary, candidates
