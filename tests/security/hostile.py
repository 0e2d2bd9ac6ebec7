"""Hostile values, and one request per (operation, parameter or body field, value) of an OpenAPI document.

Issue 22's classes of input that once gave a 500: integers no column holds (2**63), floats no
Decimal context holds (1e999999999, as a raw JSON number), control characters (NUL, which
PostgreSQL refuses), bidirectional overrides, path segments (`../../etc`), and their neighbours
(superscript and other non-ASCII digits that `str.isdigit()` accepts, a lone surrogate, very long
text). `cases(document, known)` starts from a plausible request for every operation (path
parameters from `known`, a body with a value of the right kind for every property) and spoils one
parameter or field at a time with every value of its kind. Used in-process by
tests/security/test_hostile_input.py and against the served app by tests/soak/test_api_fuzz.py:
every answer must be below 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode


@dataclass(frozen=True)
class Raw:
    """A JSON number written as is (json.dumps cannot write 1e999999999 or NaN as the attacker does)."""

    token: str


HUGE_INTEGERS: tuple[Any, ...] = (2**31, 2**63, 2**64, -(2**63) - 1, 10**30, Raw("9" * 400))
HUGE_FLOATS: tuple[Any, ...] = (1e308, Raw("1e999999999"), Raw("-1e999999999"), Raw("1e-999999999"), Raw("NaN"),
                                Raw("Infinity"))  # fmt: skip
CONTROL: tuple[str, ...] = ("\x00", "MSKCC-S\x00001", "\x1b[2J", "\x7f", "a\rb", "\u0085")
BIDI: tuple[str, ...] = ("\u202e", "MSKCC-S\u202e001", "\u2066x\u2069", "\u200f1")
PATH_SEGMENTS: tuple[str, ...] = ("../../etc", "..\\..\\etc", "%2e%2e%2f%2e%2e%2fetc", "/etc/passwd", "a/b", "%00")
DIGITS: tuple[str, ...] = ("²", "٣", "𝟙", "1" * 23, "-0", "+1", "0x10", "1_000")
TEXT: tuple[str, ...] = ("x" * 5000, "", " ", "\ud800")  # the lone surrogate only survives in a JSON body

STRINGS = CONTROL + BIDI + PATH_SEGMENTS + DIGITS + TEXT
NUMBERS = HUGE_INTEGERS + HUGE_FLOATS + ("1e999999999", "²", "\x00")
# Path parameters: percent-encoded whole, and the path-segment ones also as typed.
PATH_VALUES = CONTROL + BIDI + PATH_SEGMENTS + DIGITS + ("x" * 300, str(2**63), str(2**64))


@dataclass(frozen=True)
class Case:
    method: str
    url: str
    body: bytes | None
    spoiled: str  # which parameter or field, and how, for the failure message
    headers: dict[str, str] = field(default_factory=dict)


def _resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = document.get("components", {}).get("schemas", {}).get(name, {})
    return node


def _kind(document: dict[str, Any], schema: Any) -> str:
    schema = _resolve(document, schema)
    if not isinstance(schema, dict):
        return "string"
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        kind = _kind(document, option)
        if kind != "null":
            return kind
    kind = schema.get("type", "string")
    return kind if isinstance(kind, str) else "string"


def _plausible(name: str, kind: str, known: dict[str, Any]) -> Any:
    if name in known:
        return known[name]
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}, "null": None}.get(kind, "x")


def _dump(body: Any) -> bytes:
    raws: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, Raw):
            key = f"__raw_{len(raws)}__"
            raws[key] = value.token
            return key
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(body))
    for key, token in raws.items():
        text = text.replace(f'"{key}"', token)
    return text.encode("utf-8", "surrogatepass")


def _values(kind: str) -> tuple[Any, ...]:
    return NUMBERS if kind in ("integer", "number") else (*STRINGS, 2**63, Raw("1e999999999"))


def pick(values: tuple[Any, ...], per_input: int | None, turn: int) -> tuple[Any, ...]:
    """`per_input` of `values` (all when None), a different slice for each `turn`, so that every value is tried
    somewhere while each input gets only a few (the quick run); all of them for every input in `make soak`."""
    if per_input is None or per_input >= len(values):
        return values
    start = (turn * per_input) % len(values)
    return tuple(values[(start + i) % len(values)] for i in range(per_input))


def cases(
    document: dict[str, Any],
    known: dict[str, Any],
    *,
    methods: tuple[str, ...] = ("get", "post"),
    per_input: int | None = None,
) -> Iterator[Case]:
    """Every operation of `document` once as a plausible request, then spoilt one input at a time."""
    turn = 0
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in methods:
                continue
            parameters = [_resolve(document, p) for p in operation.get("parameters", [])]
            path_params = {p["name"]: str(known.get(p["name"], "1")) for p in parameters if p.get("in") == "path"}
            query_params = {p["name"]: p for p in parameters if p.get("in") == "query"}
            content = operation.get("requestBody", {}).get("content", {})
            schema = _resolve(document, content.get("application/json", {}).get("schema"))
            properties = (schema or {}).get("properties", {}) if isinstance(schema, dict) else {}
            body = (
                {n: _plausible(n, _kind(document, p), known) for n, p in properties.items()}
                if "application/json" in content
                else None
            )

            def case(spoiled: str, path: dict[str, str], query: dict[str, str], data: Any, *, how: str = method,
                     where: str = template) -> Case:  # fmt: skip
                raw = spoiled.partition(" raw")[0]
                for name, value in path.items():
                    where = where.replace("{" + name + "}", value if name == raw else quote(value, safe=""))
                url = where + ("?" + urlencode(query) if query else "")
                return Case(how.upper(), url, None if data is None else _dump(data), spoiled)

            yield case("(plausible)", path_params, {}, body)
            for name in path_params:
                turn += 1
                for value in pick(PATH_VALUES, per_input, turn):
                    yield case(f"path {name}={value[:20]!r}", {**path_params, name: value}, {}, body)
                for value in PATH_SEGMENTS:
                    yield case(f"{name} raw={value!r}", {**path_params, name: value}, {}, body)
            for name, parameter in query_params.items():
                turn += 1
                for value in pick(_values(_kind(document, parameter.get("schema"))), per_input, turn):
                    text = value.token if isinstance(value, Raw) else str(value)
                    if "\ud800" in text:
                        continue
                    yield case(f"query {name}={text[:20]!r}", path_params, {name: text}, body)
            if body is not None:
                for name, prop in properties.items():
                    turn += 1
                    for value in pick(_values(_kind(document, prop)), per_input, turn):
                        shown = value.token if isinstance(value, Raw) else value
                        yield case(f"body {name}={str(shown)[:20]!r}", path_params, {}, {**body, name: value})
