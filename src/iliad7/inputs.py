"""Checks of what people type, before it reaches the database or decimal arithmetic.

Every number a page, the API or the command line passes on is checked against a
range here first, so that a value no column can hold (an instance of 2**63, a
weight of 1e999999999) is a clear error naming its field, never an overflow of
the database or of the Decimal context. Identifiers (screening numbers, lot
numbers) are plain ASCII; free text may hold any language but no NUL or other
control character (PostgreSQL cannot store NUL; a control character in a stored
value breaks exports and pages).

Screening numbers follow one pattern: the site's code, `-S`, and 3 to 6 digits
(`MSKCC-S001`, as the numbers the trial assigns itself); they are upper-cased
before they are compared or stored, so `mskcc-s001` and `MSKCC-S001` are the
same number.

Pure: no Django, no database.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from iliad7.errors import InputError

# The smallest integer column of the trial database (PositiveIntegerField on PostgreSQL: int4).
DB_INT_MAX = 2_147_483_647
# Row ids (BigAutoField): what SQLite and PostgreSQL both hold.
DB_ID_MAX = 2**63 - 1
# Instances of a repeating form (adverse events, daily vital signs, ...) of one participant: far beyond any
# course, and well inside the column.
MAX_INSTANCE = 999_999

SCREENING_NUMBER_DIGITS = (3, 6)
_SCREENING_NUMBER = re.compile(r"(?P<site>[A-Z][A-Z0-9]{0,15})-S(?P<digits>[0-9]{3,6})", re.ASCII)
# The longest text a screening number, a lot or another identifier can be in a lookup.
IDENTIFIER_MAX = 64
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)
# Bidirectional formatting characters ("Trojan source"): they reorder how text is shown.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_control(text: str, *, allow_newlines: bool = True) -> bool:
    """Whether `text` holds NUL or another control character (tab and line breaks allowed in free text)."""
    allowed = "\t\n\r" if allow_newlines else ""
    return any(unicodedata.category(c) == "Cc" and c not in allowed for c in text)


def has_bidi_control(text: str) -> bool:
    return any(c in BIDI_CONTROLS for c in text)


def clean_text(field: str, value: Any, *, max_length: int | None = None, single_line: bool = False) -> str:
    """`value` stripped; an InputError naming `field` for a control character or more than `max_length`."""
    if not isinstance(value, str):
        raise InputError(field, f"give text, not {type(value).__name__}")
    text = value.strip()
    if has_control(text, allow_newlines=not single_line):
        raise InputError(field, "holds a control character (NUL, escape, ...); type plain text")
    if max_length is not None and len(text) > max_length:
        raise InputError(field, f"is {len(text)} characters long; at most {max_length}")
    return text


def identifier(field: str, value: Any, *, max_length: int = IDENTIFIER_MAX) -> str:
    """An identifier typed by a person (a lot number): ASCII letters and digits, then also `-`, `_`, `.`."""
    text = clean_text(field, value, max_length=max_length, single_line=True)
    if not text:
        raise InputError(field, "is required")
    if not _IDENTIFIER.fullmatch(text):
        raise InputError(field, f"{_shown(text)} is not an identifier (letters, digits, '-', '_', '.')")
    return text


def screening_number(value: Any, site_code: str, field: str = "screening_number") -> str:
    """The screening number `value` for a participant of `site_code`, upper-cased; an InputError otherwise.

    The pattern is the site's code, `-S` and 3 to 6 digits (`MSKCC-S001`); nothing else is accepted:
    no other site's code, no path separator, no control or bidirectional character, no non-ASCII
    letter that upper-cases to an ASCII one.
    """
    if not isinstance(value, str):
        raise InputError(field, f"give text, not {type(value).__name__}")
    text = value.strip()
    low, high = SCREENING_NUMBER_DIGITS
    example = f"{site_code}-S001"
    if len(text) > IDENTIFIER_MAX or not text.isascii() or has_control(text) or has_bidi_control(text):
        raise InputError(field, f"a screening number is {site_code}-S and {low} to {high} digits, e.g. {example}")
    normal = text.upper()
    match = _SCREENING_NUMBER.fullmatch(normal)
    if match is None:
        raise InputError(
            field, f"{_shown(text)} is not a screening number: {site_code}-S and {low} to {high} digits, e.g. {example}"
        )
    if match.group("site") != site_code:
        raise InputError(field, f"{_shown(text)} is not a screening number of {site_code} (e.g. {example})")
    return normal


def lookup_key(value: str) -> str | None:
    """A typed identifier made fit to look up (stripped), or None when no stored value can equal it.

    None for text no identifier holds (control characters, which PostgreSQL refuses in a query,
    or more than IDENTIFIER_MAX characters): the caller answers "not found" without asking the
    database.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > IDENTIFIER_MAX or has_control(text, allow_newlines=False):
        return None
    return text


def bounded_int(field: str, value: Any, low: int, high: int, *, what: str = "a whole number") -> int:
    """`value` as an int within [low, high]: an int, or text of ASCII digits; an InputError otherwise."""
    if isinstance(value, bool):
        raise InputError(field, f"give {what} from {low} to {high}, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only: str.isdigit() also admits "²", which int() refuses.
        if not re.fullmatch(r"[+-]?[0-9]{1,20}", text, re.ASCII):
            raise InputError(field, f"give {what} from {low} to {high}, not {_shown(text)}")
        value = int(text)
    if not isinstance(value, int):
        raise InputError(field, f"give {what} from {low} to {high}, not {type(value).__name__}")
    if not low <= value <= high:
        raise InputError(field, f"give {what} from {low} to {high}, not {_shown(str(value))}")
    return value


def bounded_decimal(
    field: str,
    value: Any,
    *,
    low: Decimal | int,
    high: Decimal | int,
    places: int | None = None,
    low_inclusive: bool = False,
    unit: str = "",
) -> Decimal:
    """`value` as an exact Decimal within its range, with at most `places` decimals; an InputError otherwise.

    Text, int or Decimal (never a binary float: 70.05 as a float is 70.0499...). Checked without
    any arithmetic in the Decimal context, so 1e999999999 is refused, not an Overflow.
    """
    shown_unit = f" {unit}" if unit else ""
    span = f"from {low} to {high}{shown_unit}" if low_inclusive else f"above {low} and at most {high}{shown_unit}"
    if isinstance(value, bool | float):
        raise InputError(field, f"give an exact number {span}, not a {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        if len(text) > 40:
            raise InputError(field, f"give a number {span}, not {len(text)} characters")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InputError(field, f"give a number {span}, not {_shown(value.strip())}") from None
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
    else:
        raise InputError(field, f"give a number {span}, not {type(value).__name__}")
    if not number.is_finite():
        raise InputError(field, f"give a number {span}, not {number}")
    # Compare by exponent first: no operation of the Decimal context touches a huge or tiny number.
    if number.adjusted() > 30 or (number != 0 and number.adjusted() < -30):
        raise InputError(field, f"give a number {span}, not {_shown(str(value))}")
    below = number < low if low_inclusive else number <= low
    if below or number > high:
        raise InputError(field, f"give a number {span}, not {_shown(str(value))}")
    if places is not None:
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places and number != number.quantize(Decimal(1).scaleb(-places)):
            raise InputError(field, f"give at most {places} decimal place{'s' if places != 1 else ''}, not {number}")
        if isinstance(exponent, int) and exponent < -places:
            number = number.quantize(Decimal(1).scaleb(-places))  # 70.500 -> 70.50: the same number
    return number


def _shown(text: str, limit: int = 40) -> str:
    """Typed text as an error message quotes it: short, with control characters escaped."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)
