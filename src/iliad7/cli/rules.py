"""`iliad7 score KIND` and `iliad7 screen`: the clinical rules for scripts (clinical-rules section 5).

Input is one JSON object or an array of objects, on standard input or from
``--input FILE``; output is one JSON result, or an array in the same order.
Invalid input exits with status 2, prints what is wrong and where on standard
error (array index and field), and prints nothing on standard output: a batch is
judged whole or not at all.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import re
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import TypeAdapter, ValidationError

EXIT_BAD_INPUT = 2
MAX_ERRORS_SHOWN = 20


class ScoreKind(StrEnum):
    news2 = "news2"
    sofa = "sofa"
    who_cps = "who-cps"
    ctcae = "ctcae"
    bmi = "bmi"


class Rule:
    """How one KIND is validated (one record and a batch) and judged."""

    def __init__(self, one: TypeAdapter[Any], many: TypeAdapter[Any], judge: Callable[[Any], Any]) -> None:
        self.one, self.many, self.judge = one, many, judge


def _rule(kind: str) -> Rule:
    from iliad7 import eligibility, scores

    if kind == "screen":
        # Screening results are dataclasses in contract order: serialized as they are.
        return Rule(eligibility.record.SCREENING_RECORD, eligibility.SCREENING_RECORDS, eligibility.screen)
    model, function = {
        "news2": (scores.News2Input, scores.news2),
        "sofa": (scores.SofaInput, scores.sofa),
        "who-cps": (scores.WhoInput, scores.who_clinical_progression),
        "ctcae": (scores.CtcaeInput, scores.ctcae_grade),
        "bmi": (scores.BmiInput, scores.bmi),
    }[kind]
    return Rule(TypeAdapter(model), TypeAdapter(list[model]), lambda x: function(x).as_contract())


_FIELD_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*(?:\[\d+\])?): (.*)$", re.S)
_UNION_TAGS = frozenset({"sofa-score", "sofa-inputs"})


def _path(loc: Iterable[int | str], batch: bool) -> str:
    text = ""
    for part in loc:
        if part in _UNION_TAGS:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    if batch and text.startswith("["):
        index = text[1 : text.index("]")]
        text = f"{text} (record index {index})"
    return text


def describe(error: ValidationError, batch: bool) -> list[str]:
    """One line per problem, naming the field as a path (``[3].alc[0].unit``)."""
    lines = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "json_invalid":
            lines.append(f"input is not valid JSON: {item['ctx'].get('error', message)}")
            continue
        if item["type"] == "extra_forbidden":
            message = "unknown field (not part of the contract)"
        match = _FIELD_PREFIX.match(message)
        if match:
            name, message = match.groups()
            if not loc or loc[-1] != name:
                loc.append(name)
        if item["type"] not in {"missing", "extra_forbidden"} and "input" in item:
            shown = orjson.dumps(item["input"], default=str).decode()
            if len(shown) <= 60:
                message = f"{message} (got {shown})"
        where = _path(loc, batch) or "input"
        lines.append(f"{where}: {message}")
    return lines


def _read(input_file: Path | None) -> bytes:
    if input_file is None:
        return sys.stdin.buffer.read()
    try:
        return input_file.read_bytes()
    except OSError as exc:
        _fail([f"--input: cannot read {input_file}: {exc.strerror}"])
        raise AssertionError from exc  # unreachable: _fail exits


def _fail(lines: list[str]) -> None:
    shown = lines[:MAX_ERRORS_SHOWN]
    if len(lines) > MAX_ERRORS_SHOWN:
        shown.append(f"... and {len(lines) - MAX_ERRORS_SHOWN} more problems")
    sys.stderr.write("".join(f"error: {line}\n" for line in shown))
    raise typer.Exit(EXIT_BAD_INPUT)


def judge(kind: str, data: bytes, jobs: int = 1) -> list[bytes]:
    """Validate ``data`` (JSON) for ``kind`` and return the JSON results, in pieces to be written
    one after the other (a batch's output is hundreds of megabytes: joining would copy it);
    exits 2 on bad input."""
    rule = _rule(kind)
    head = data.lstrip()[:1]
    batch = head == b"["
    if head not in (b"[", b"{"):
        if not data.strip():
            _fail(["input: empty; expected a JSON object or an array of objects"])
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            _fail([f"input is not valid JSON: {exc}"])
        _fail(["input: expected a JSON object or an array of objects"])
    try:
        if batch:
            return judge_array(rule, data, jobs)
        return [orjson.dumps(rule.judge(rule.one.validate_json(data)))]
    except ValidationError as exc:
        _fail(describe(exc, batch))
        raise AssertionError from exc  # unreachable


PARALLEL_FROM_BYTES = 4_000_000  # about 3,000 screening records: below this a second process costs more than it saves
_SEPARATOR = re.compile(rb"\}\s*,\s*\{")
_PARTS: tuple[Rule, list[bytes]] | None = None  # inherited by forked workers, never pickled


def split_array(data: bytes, parts: int) -> list[bytes] | None:
    """Cut a JSON array of objects into ``parts`` smaller arrays at separators between records.

    A separator ``}, {`` counts as one between records when the object after it
    opens with the same first key as the array's first record (a nested object,
    such as an ALC measurement, opens with another key). A cut that lands
    anywhere else makes a part invalid JSON, which the caller detects (and then
    judges the whole array in one process): a wrong cut can cost time but never
    change a result.
    """
    open_at, close_at = data.find(b"["), data.rfind(b"]")
    first = data.find(b"{", open_at)
    colon = data.find(b":", first)
    if first < 0 or colon < 0:
        return None
    first_key = data[first + 1 : colon].strip()  # e.g. b'"baseline_time"'
    cuts: list[re.Match[bytes]] = []
    for k in range(1, parts):
        position = max(open_at + 1, k * len(data) // parts, cuts[-1].end() if cuts else 0)
        while (found := _SEPARATOR.search(data, position, close_at)) is not None:
            after_brace = data[found.end() : found.end() + len(first_key) + 64].lstrip()
            if after_brace.startswith(first_key):
                cuts.append(found)
                break
            position = found.end() - 1
        else:
            break
    if not cuts:
        return None
    pieces = [data[: cuts[0].start() + 1] + b"]"]
    for left, right in zip(cuts, [*cuts[1:], None], strict=True):
        stop = right.start() + 1 if right is not None else len(data)
        body = data[left.end() - 1 : stop]
        pieces.append(b"[" + body + (b"]" if right is not None else b""))
    return pieces


def _judge_part(index: int) -> bytes | None:
    """The JSON body (without brackets) of one part's results, or None if the part is not valid."""
    assert _PARTS is not None
    rule, parts = _PARTS
    try:
        items = rule.many.validate_json(parts[index])
    except ValidationError:
        return None
    return orjson.dumps([rule.judge(item) for item in items])[1:-1]


def judge_array(rule: Rule, data: bytes, jobs: int) -> list[bytes]:
    """Validate and judge a JSON array, on ``jobs`` processes when it is large.

    Each forked worker validates and judges its own part of the raw input, so
    nothing is pickled on the way in. If any part is not valid on its own, the
    whole array is validated again in one process: error messages then carry
    the record's index in the whole input.
    """
    global _PARTS
    gc.disable()  # a short-lived batch: collecting a heap of live records would cost a third of the time
    jobs = min(jobs, os.cpu_count() or 1)
    parts = None
    if jobs > 1 and len(data) >= PARALLEL_FROM_BYTES and "fork" in mp.get_all_start_methods():
        parts = split_array(data, jobs)
    if parts is not None:
        _PARTS = (rule, parts)
        try:
            with ProcessPoolExecutor(max_workers=len(parts) - 1, mp_context=mp.get_context("fork")) as pool:
                others = pool.map(_judge_part, range(1, len(parts)))
                first = _judge_part(0)
                bodies = [first, *others]
        finally:
            _PARTS = None
        if all(body is not None for body in bodies):
            pieces = [b"["]
            for body in bodies:
                if body:
                    pieces.extend((b"," if len(pieces) > 1 else b"", body))
            return [*pieces, b"]"]
    return [orjson.dumps([rule.judge(item) for item in rule.many.validate_json(data)])]


def _write(pieces: list[bytes]) -> None:
    out = sys.stdout.buffer
    for piece in pieces:
        out.write(piece)
    out.write(b"\n")
    out.flush()


InputOption = Annotated[
    Path | None,
    typer.Option("--input", "-i", help="Read the JSON from FILE instead of standard input.", dir_okay=False),
]


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score(
        kind: Annotated[ScoreKind, typer.Argument(help="news2, sofa, who-cps, ctcae or bmi")],
        input_file: InputOption = None,
    ) -> None:
        """Compute a clinical score (clinical-rules section 2) for a JSON object or array."""
        _write(judge(kind.value, _read(input_file)))

    @app.command("screen")
    def screen(
        input_file: InputOption = None,
        jobs: Annotated[
            int,
            typer.Option("--jobs", "-j", min=1, help="Processes for large batches (default: all cores)."),
        ] = os.cpu_count() or 1,
    ) -> None:
        """Judge screening records against the eligibility criteria (clinical-rules section 3)."""
        _write(judge("screen", _read(input_file), jobs))

    @app.command("demo")
    def demo() -> None:
        """Screen the example records and show each verdict with its reasons."""
        from iliad7.cli.demo import screening_demo

        screening_demo()
