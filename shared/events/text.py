"""Text that PostgreSQL and UTF-8 cannot hold: the one home of the rule for every edge.

PostgreSQL refuses a NUL character in text, and a lone UTF-16 surrogate (`"\\ud800"` in JSON) cannot be
encoded to UTF-8 at all; either, let through, fails later where it is stored, as a 500 or a dead letter.
The HTTP edges (shared/http/body_guard.py, ingest's CloudEvents) refuse it up front, naming where it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_SURROGATES = range(0xD800, 0xE000)


def text_problem(value: str) -> str | None:
    """What is wrong with `value` (the character escaped, never the raw one), or None."""
    for position, char in enumerate(value):
        if char == "\x00":
            return f"must not contain a NUL character (\\u0000, at position {position})"
        if ord(char) in _SURROGATES:
            return f"must not contain a lone surrogate (\\u{ord(char):04x}, at position {position})"
    return None


def _has_bad_char(value: str) -> bool:
    # The fast path: encoding fails on a surrogate; a NUL is found by `in`, both in C.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\x00" in value


def json_text_problems(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(dotted path, problem) for each bad string in a decoded JSON value; a bad key is reported at the
    path of its object, since a key that cannot be printed cannot name a field."""
    if isinstance(value, str):
        if _has_bad_char(value):
            yield ".".join(path), text_problem(value) or "is not valid text"
    elif isinstance(value, dict):
        for key, item in value.items():
            if _has_bad_char(key):
                yield ".".join(path), f"a key {text_problem(key) or 'is not valid text'}"
            else:
                yield from json_text_problems(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_text_problems(item, (*path, str(index)))
