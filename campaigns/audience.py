"""Reading an audience: a CSV file (with a column mapping) or a list, into unique E.164
recipients and a report with one line per row that was not taken, and why.

Nothing is dropped silently: every data row is either a recipient or a report line
(`INVALID_NUMBER`, `DUPLICATE`, `INVALID_ROW`); opted-out recipients are marked by the
service (they need the database). A file that cannot be read at all (not text, no header,
an unknown phone column) is one `VALIDATION_ERROR` naming the field to fix.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actions.validation import Invalid, e164
from twilioflow.core import errors
from twilioflow.core.errors import TwilioFlowError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_VALUE = 1_000  # characters per variable value
VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

INVALID_NUMBER = "INVALID_NUMBER"
DUPLICATE = "DUPLICATE"
INVALID_ROW = "INVALID_ROW"


@dataclass
class AudienceRow:
    row: int  # the line's number in the file (1 = the header), or the list index + 1
    phone: str
    variables: dict[str, str]


@dataclass
class RowProblem:
    row: int
    value: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "phone": self.value, "code": self.code, "message": self.message}


@dataclass
class Audience:
    rows: list[AudienceRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.problems)


def _field_error(name: str, message: str) -> TwilioFlowError:
    return TwilioFlowError(errors.VALIDATION_ERROR, message, fields={name: [message]})


def decode(data: bytes | str) -> str:
    """Text of an uploaded file: UTF-8 (with or without BOM), else Windows-1252 (what Excel
    writes); NUL bytes, which no CSV reader accepts, are dropped."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise _field_error("file", f"The file is over {MAX_BYTES // (1024 * 1024)} MB; split it.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    else:
        text = data.removeprefix("\ufeff")
    return text.replace("\x00", "")


class _Dialect(csv.excel):
    pass


def _dialect(sample: str) -> type[csv.Dialect]:
    """Comma, semicolon (European Excel) or tab: whichever the header line uses most."""
    header = sample.splitlines()[0] if sample else ""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: (counts[d], d == ","))
    return type("Detected", (_Dialect,), {"delimiter": delimiter if counts[delimiter] else ","})


def csv_columns(data: bytes | str) -> list[str]:
    """The header of a CSV file (for the mapping form)."""
    text = decode(data)
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), _dialect(text[:4096])), None)
    except csv.Error as error:
        raise _field_error("file", f"Line 1 cannot be read as CSV: {error}.") from None
    if not first or not any(c.strip() for c in first):
        raise _field_error("file", "The file has no header row (the first line names the columns).")
    return [c.strip() for c in first]


def variable_mapping(raw: Mapping[str, str] | Iterable[str] | str, columns: list[str]) -> dict[str, str]:
    """{variable name: column}. Given as a mapping, a list of columns (each its own name), or
    text "name=column, column2". Every column must exist and every name be usable in
    {{ templates }}."""
    if isinstance(raw, str):
        items = [part.strip() for part in re.split(r"[,\n]", raw) if part.strip()]
        pairs = [item.split("=", 1) if "=" in item else [item, item] for item in items]
        mapping = {name.strip(): column.strip() for name, column in pairs}
    elif isinstance(raw, Mapping):
        mapping = {str(k).strip(): str(v).strip() for k, v in raw.items()}
    else:
        mapping = {str(c).strip(): str(c).strip() for c in raw}
    problems = []
    for name, column in mapping.items():
        if column not in columns:
            problems.append(f"No column {column!r} (the file has: {', '.join(columns)}).")
        if not VARIABLE_NAME_RE.match(name):
            problems.append(
                f"{name!r} cannot be a variable name: letters, digits and _, starting with a letter."
            )
    if problems:
        raise TwilioFlowError(
            errors.VALIDATION_ERROR, " ".join(problems), fields={"variable_columns": problems}
        )
    return mapping


def audience_from_csv(
    data: bytes | str,
    *,
    phone_column: str,
    variables: Mapping[str, str] | Iterable[str] | str = (),
    default_country: str | None = None,
) -> Audience:
    """Parse a CSV upload: `phone_column` holds the number, `variables` maps names to columns."""
    text = decode(data)
    dialect = _dialect(text[:4096])
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise _field_error("file", f"Line 1 cannot be read as CSV: {error}.") from None
    if not header or not any(c.strip() for c in header):
        raise _field_error("file", "The file has no header row (the first line names the columns).")
    columns = [c.strip() for c in header]
    if phone_column not in columns:
        raise _field_error(
            "phone_column", f"No column {phone_column!r} (the file has: {', '.join(columns)})."
        )
    mapping = variable_mapping(variables, columns)
    phone_at = columns.index(phone_column)
    where = {name: columns.index(column) for name, column in mapping.items()}
    audience = Audience(columns=columns)
    seen: dict[str, int] = {}
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            line = reader.line_num
            if len(audience.problems) > MAX_ROWS:
                raise _field_error(
                    "file", f"More than {MAX_ROWS:,} unreadable rows; is it a CSV file?"
                ) from None
            audience.problems.append(RowProblem(line, "", INVALID_ROW, f"Not readable as CSV: {error}."))
            continue
        line = reader.line_num
        if not values or not any(v.strip() for v in values):
            continue  # a blank line is not a row
        if audience.total >= MAX_ROWS:
            raise _field_error("file", f"More than {MAX_ROWS:,} rows; split the file.")
        raw = values[phone_at].strip() if phone_at < len(values) else ""
        row_vars = {name: (values[i] if i < len(values) else "")[:MAX_VALUE] for name, i in where.items()}
        _take(audience, seen, line, raw, row_vars, default_country)
    return audience


def audience_from_list(
    items: Iterable[Any], *, default_country: str | None = None, phone_key: str = "phone"
) -> Audience:
    """A list of numbers, or of {"phone": …, "variables"|other keys: …} (the API's form)."""
    audience = Audience()
    seen: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        if audience.total >= MAX_ROWS:
            raise _field_error("recipients", f"More than {MAX_ROWS:,} recipients; send them in parts.")
        if isinstance(item, Mapping):
            raw = str(item.get(phone_key) or item.get("to") or item.get("To") or "")
            given = item.get("variables")
            extra = given if isinstance(given, Mapping) else {k: v for k, v in item.items() if k != phone_key}
            row_vars = {
                str(k): str(v)[:MAX_VALUE] for k, v in extra.items() if VARIABLE_NAME_RE.match(str(k))
            }
        else:
            raw, row_vars = str(item if item is not None else ""), {}
        _take(audience, seen, index, raw.strip(), row_vars, default_country)
    return audience


def _take(
    audience: Audience,
    seen: dict[str, int],
    row: int,
    raw: str,
    row_vars: dict[str, str],
    default_country: str | None,
) -> None:
    if not raw:
        audience.problems.append(RowProblem(row, raw, INVALID_NUMBER, "No phone number in this row."))
        return
    try:
        phone = e164(raw[:64], default_country)
    except Invalid as error:
        audience.problems.append(RowProblem(row, raw[:64], INVALID_NUMBER, str(error)))
        return
    if phone in seen:
        audience.problems.append(
            RowProblem(row, raw[:64], DUPLICATE, f"{phone} is already on row {seen[phone]}; sent once.")
        )
        return
    seen[phone] = row
    audience.rows.append(AudienceRow(row, phone, row_vars))
