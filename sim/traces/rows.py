"""CSV rows with typed accessors whose errors name the line and the column (the header is line 1).

Pure: the readers take the text lines (any iterable of str, e.g. an open file); opening files is the
caller's job (the CLI or a benchmark), so every parser is testable on a list of strings.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator


class TraceFormatError(ValueError):
    """A trace or node list that cannot be read; `line` (1-based) and `column` say where."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None) -> None:
        self.line = line
        self.column = column
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class Row:
    __slots__ = ("line", "values")

    def __init__(self, line: int, values: dict[str, str]) -> None:
        self.line = line
        self.values = values

    def error(self, column: str | None, message: str) -> TraceFormatError:
        return TraceFormatError(message, self.line, column)

    def text(self, column: str, default: str = "") -> str:
        value = self.values.get(column, "").strip()
        return value or default

    def required_text(self, column: str) -> str:
        value = self.text(column)
        if not value:
            raise self.error(column, "is empty")
        return value

    def integer(
        self, column: str, default: int | None = None, minimum: int | None = 0, maximum: int | None = None
    ) -> int:
        raw = self.text(column)
        if not raw:
            if default is None:
                raise self.error(column, "is empty; expected a whole number")
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.error(column, f"expected a whole number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise self.error(column, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(column, f"must be at most {maximum}, got {value}")
        return value

    def seconds(self, column: str, default: float | None = None) -> float:
        value = self.optional_seconds(column)
        if value is None:
            if default is None:
                raise self.error(column, "is empty; expected a number of seconds")
            return default
        return value

    def optional_seconds(self, column: str) -> float | None:
        raw = self.text(column)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise self.error(column, f"expected a number of seconds, got {raw!r}") from None
        if not math.isfinite(value) or value < 0:
            raise self.error(column, f"must be a finite number >= 0, got {raw!r}")
        return value

    def models(self, column: str) -> tuple[str, ...]:
        """Acceptable GPU models joined by '|' (empty: any)."""
        return tuple(m.strip() for m in self.text(column).split("|") if m.strip())


def read_rows(
    lines: Iterable[str], required: tuple[str, ...], optional: tuple[str, ...] | None
) -> Iterator[Row]:
    """Data rows of a CSV with a header. `optional` None accepts any other column; else others are errors."""
    reader = csv.reader(lines)
    header_row = next(reader, None)
    if header_row is None:
        raise TraceFormatError(f"the file is empty; expected a header with {', '.join(required)}", 1)
    header = [name.strip() for name in header_row]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise TraceFormatError(f"column(s) {', '.join(duplicated)} appear more than once", 1)
    missing = [name for name in required if name not in header]
    if missing:
        raise TraceFormatError(f"missing column(s) {', '.join(missing)}; the header is {','.join(header)}", 1)
    if optional is not None:
        unknown = [name for name in header if name not in required and name not in optional]
        if unknown:
            known = ", ".join(required + optional)
            raise TraceFormatError(f"unknown column(s) {', '.join(unknown)}; known columns: {known}", 1)
    for values in reader:
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise TraceFormatError(f"expected {len(header)} fields, found {len(values)}", reader.line_num)
        yield Row(reader.line_num, dict(zip(header, values, strict=True)))


def unique(row: Row, column: str, seen: set[str]) -> str:
    value = row.required_text(column)
    if value in seen:
        raise row.error(column, f"{value!r} appears on an earlier line too")
    seen.add(value)
    return value
