"""Reads a protocol YAML file into a validated `Protocol`, or says exactly what is wrong.

ruamel.yaml's round-trip loader keeps the line of every key, so a schema or
cross-reference error found by pydantic is mapped back to the YAML path and
line a person can go and fix. Any failure is a `ProtocolError`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from iliad7.protocol.base import Invalid
from iliad7.protocol.errors import ROOT, Problem, ProtocolError
from iliad7.protocol.models import Protocol

#: Environment variable naming the protocol file to use instead of the default.
PROTOCOL_ENV = "ILIAD7_PROTOCOL"
DEFAULT_FILE_NAME = "iliad-7-us-o.yaml"


class _Constructor(RoundTripConstructor):
    """Reports an impossible date (2020-16-11) as a YAML error with its line."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError as exc:
            raise ConstructorError(
                problem=f"invalid date {node.value!r} ({exc})", problem_mark=node.start_mark
            ) from None


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def default_protocol_path() -> Path:
    """`$ILIAD7_PROTOCOL` if set, else `<repository>/protocols/iliad-7-us-o.yaml`.

    The repository is found from this package's location (src layout,
    installed editable): the directory that holds `src/`.
    """
    override = os.environ.get(PROTOCOL_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "protocols" / DEFAULT_FILE_NAME


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Load and validate a protocol file (`None`: the default file).

    Raises `ProtocolError` naming the file, the YAML path and line, and the
    problem, for every kind of failure: unreadable file, YAML syntax,
    missing or unknown keys, wrong types, failed cross-checks.
    """
    file = Path(path) if path is not None else default_protocol_path()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ProtocolError.single(file, ROOT, f"cannot read the file: {exc.strerror}") from None
    return _validated(file, raw)


# Parsing with positions is pure Python (~0.1 s for this file); the result is immutable, so a
# file read again with the same bytes is the same Protocol.
@lru_cache(maxsize=8)
def _validated(file: Path, raw: bytes) -> Protocol:
    document = _parse(file, raw)
    try:
        protocol = Protocol.model_validate(_plain(document))
    except ValidationError as exc:
        raise ProtocolError(file, _problems(document, exc)) from None
    protocol._sha256 = hashlib.sha256(raw).hexdigest()
    protocol._path = file
    return protocol


def _parse(file: Path, raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError.single(file, ROOT, f"not UTF-8 text ({exc.reason})") from None
    yaml = YAML(typ="rt")  # round-trip: keeps the line of every key
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ProtocolError.single(file, ROOT, f"invalid YAML: {_first_line(message)}", line) from None
    except (YAMLError, ValueError, TypeError) as exc:  # a constructor's own errors carry no mark
        raise ProtocolError.single(file, ROOT, f"invalid YAML: {_first_line(str(exc))}") from None
    if not isinstance(document, CommentedMap):
        found = "an empty file" if document is None else _kind(document)
        raise ProtocolError.single(file, ROOT, f"expected a mapping of sections, found {found}", 1)
    return document


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "a list"
    return f"the value {value!r}"


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "invalid YAML"


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain Python: dicts, tuples and built-in scalars.

    Sequences become tuples because the models are frozen and strict; scalar
    subclasses (ScalarFloat, quoted strings) become their built-in types.
    """
    if isinstance(node, Mapping):
        return {_plain(key): _plain(value) for key, value in node.items()}
    if isinstance(node, Sequence) and not isinstance(node, str):
        return tuple(_plain(item) for item in node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node  # dates, None


@dataclass
class _Found:
    """The problems pydantic reported at one YAML path."""

    line: int
    kind: str  # pydantic's error type of the first report
    loc: tuple[Any, ...]
    messages: list[str] = field(default_factory=list)

    def problem(self, yaml_path: str, suggestion: str | None) -> Problem:
        # A union reports once per member type: one problem lists them all.
        message = self.messages[0] if len(self.messages) == 1 else "no allowed type fits: " + "; ".join(self.messages)
        if suggestion is not None:
            message += f" (did you mean {suggestion!r}?)"
        return Problem(yaml_path, self.line, message)


def _problems(document: Any, error: ValidationError) -> list[Problem]:
    found: dict[str, _Found] = {}
    for detail in error.errors():
        loc = tuple(detail["loc"])
        # pydantic's own part of the location may hold union tags; an Invalid's part is exact,
        # and so is the last element of a missing key.
        exact_from = len(loc) - 1 if detail["type"] == "missing" else len(loc)
        context_error = detail.get("ctx", {}).get("error")
        if isinstance(context_error, Invalid):
            loc = (*loc, *context_error.path)
        yaml_path, line = _locate(document, loc, exact_from=exact_from)
        entry = found.setdefault(yaml_path, _Found(line, detail["type"], loc))
        message = _message(detail, loc)
        if message not in entry.messages:
            entry.messages.append(message)
    # A key that is missing beside an unknown one was probably misspelt as it.
    missing: dict[tuple[Any, ...], list[str]] = {}
    for entry in found.values():
        if entry.kind == "missing" and entry.loc:
            missing.setdefault(entry.loc[:-1], []).append(str(entry.loc[-1]))
    problems: list[Problem] = []
    for yaml_path, entry in found.items():
        suggestion = None
        if entry.kind == "extra_forbidden" and entry.loc:
            close = difflib.get_close_matches(str(entry.loc[-1]), missing.get(entry.loc[:-1], []))
            suggestion = close[0] if close else None
        problems.append(entry.problem(yaml_path, suggestion))
    # An unknown key is usually a misspelt one: report it before the "missing" it causes.
    problems.sort(key=lambda problem: found[problem.yaml_path].kind != "extra_forbidden")
    return problems


def _locate(document: Any, loc: tuple[Any, ...], *, exact_from: int) -> tuple[str, int]:
    """The YAML path and 1-based line of a pydantic location in the parsed document.

    Before `exact_from`, elements of `loc` that are not keys of the document
    (pydantic's union member tags) are skipped; from `exact_from` on, the
    location is exact and a key absent from the file (a missing key) is still
    named in the path, located at its parent.
    """
    node: Any = document
    parts: list[str | int] = []
    line = document.lc.line + 1
    for position, key in enumerate(loc):
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            parts.append(str(key))
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            parts.append(key)
            node = node[key]
        elif position >= exact_from:
            parts.append(key if isinstance(key, int) else str(key))
            node = None
    return _format_path(parts), line


def _format_path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or ROOT


def _message(detail: ErrorDetails, loc: tuple[Any, ...]) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}"
    if kind == "value_error":
        context_error = detail.get("ctx", {}).get("error")
        return str(context_error) if context_error is not None else detail["msg"]
    value = detail.get("input")
    if isinstance(value, bool | int | float | str | date) or value is None:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return f"{detail['msg']} (found {shown})"
    return str(detail["msg"])
