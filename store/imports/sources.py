"""Reading an import file: CSV (any of the delimiters spreadsheets write) or JSON Lines, streamed row by
row with the line each row starts on, in whatever encoding exports come in.

Excel writes UTF-8 with a byte-order mark, UTF-16 ("Unicode text") and, in much of Europe, `;` between
fields; all of those read as they are. A file holding NUL bytes without a UTF-16 mark is refused: it is a
binary file or an encoding this cannot tell. Standard input (`-`) is spooled to a temporary file, since an
import reads its file twice (once to check every row, once to write).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from store.errors import InvalidInput

FORMATS = ("csv", "jsonl")
DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024
BLOCK_CHARACTERS = 1 << 20
# A field may be long (a ticket's subject, a survey comment), but not without bound.
csv.field_size_limit(1_000_000)


@dataclass(frozen=True)
class Source:
    """A file to import, as found: where it is, how it is written."""

    path: Path
    name: str
    format: str
    encoding: str
    delimiter: str = ","


# Not frozen: a frozen dataclass costs three times as much to make, and a file has a million rows.
@dataclass(slots=True)
class Row:
    line: int
    values: dict[str, str]
    # Values that came as JSON lists (a `features` list); CSV rows have none.
    lists: dict[str, list[object]]
    # What is wrong with the row as a whole (not a JSON object, more values than columns), if anything.
    problem: str | None = None

    def problems(self) -> list[str]:
        return [self.problem] if self.problem else []


@contextmanager
def opened(path: str, *, format: str | None = None) -> Iterator[Source]:
    """The file at `path` (or standard input for "-"), its format and encoding worked out.

    Raises:
        InvalidInput: no such file, an unknown format, NUL bytes, or an encoding that does not decode.
    """
    if path == "-":
        with tempfile.NamedTemporaryFile(prefix="csdesk-import-", suffix=".spool") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.flush()
            yield _describe(Path(spool.name), "standard input", format or "csv")
        return
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"no such file: {path}")
    suffix = file.suffix.lower()
    guessed = "jsonl" if suffix in {".jsonl", ".ndjson"} else "csv"
    yield _describe(file, file.name, format or guessed)


def _describe(path: Path, name: str, format: str) -> Source:
    if format not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    encoding = _encoding_of(head, name)
    if format == "jsonl":
        return Source(path=path, name=name, format=format, encoding=encoding)
    text = head.decode(encoding, errors="ignore")
    return Source(path=path, name=name, format=format, encoding=encoding, delimiter=_delimiter_of(text))


def _encoding_of(head: bytes, name: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise InvalidInput(f"{name} holds NUL bytes: it is not a text file, or it is UTF-16 without a byte-order "
                           "mark; save it as CSV UTF-8")
    return "utf-8"


def _delimiter_of(text: str) -> str:
    """The delimiter of the header line: whichever of , ; tab | it holds most outside quotes."""
    header = next(iter(text.splitlines()), "")
    unquoted = "".join(part for index, part in enumerate(header.split('"')) if index % 2 == 0)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def rows(source: Source) -> Iterator[Row]:
    """Every row of the file, streamed: CSV rows as their header's columns, JSON Lines objects as theirs.

    Raises:
        InvalidInput: the file does not decode, or holds NUL bytes.
    """
    try:
        with source.path.open("r", encoding=source.encoding, newline="") as handle:
            _refuse_nul(handle, source.name)
            yield from (_csv_rows(handle, source) if source.format == "csv" else _json_rows(handle, source))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source.name} is not {source.encoding} text (byte {exc.start}); save it as CSV "
                           "UTF-8") from exc


def header_of(source: Source) -> list[str]:
    """The CSV header's column names, or for JSON Lines the keys of the first object."""
    for row in rows(source):
        return list(row.values) + list(row.lists)
    return []


def _csv_rows(handle: io.TextIOBase, source: Source) -> Iterator[Row]:
    reader = csv.reader(handle, delimiter=source.delimiter)
    header = next(reader, None)
    if header is None:
        return
    columns = [column.strip() for column in header]
    every_column_named = all(columns)
    start = reader.line_num + 1
    for record in reader:
        if not any(map(str.strip, record)):
            start = reader.line_num + 1
            continue  # a blank line
        if every_column_named and len(record) >= len(columns):
            # The common case, read as below but faster; values past the header's columns are left out.
            values = dict(zip(columns, map(str.strip, record), strict=False))
        else:
            values = {column: (record[index].strip() if index < len(record) else "")
                      for index, column in enumerate(columns) if column}
        extra = len(record) - len(columns)
        problem = f"{extra} more value(s) than the header has columns" if extra > 0 else None
        yield Row(line=start, values=values, lists={}, problem=problem)
        start = reader.line_num + 1


def _json_rows(handle: io.TextIOBase, source: Source) -> Iterator[Row]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Row(line=number, values={}, lists={}, problem=f"not a JSON object: {exc.msg}")
            continue
        if not isinstance(value, dict):
            yield Row(line=number, values={}, lists={}, problem="not a JSON object")
            continue
        values = {str(k): _text_of(v) for k, v in value.items() if not isinstance(v, list)}
        lists = {str(k): v for k, v in value.items() if isinstance(v, list)}
        yield Row(line=number, values=values, lists=lists)


def _text_of(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _refuse_nul(handle: io.TextIOBase, name: str) -> None:
    """Refuse a file with a NUL character (checked a block at a time before any row is read, which costs a
    fraction of checking line by line), naming the first line that holds one."""
    lines_before = 0
    while block := handle.read(BLOCK_CHARACTERS):
        if "\x00" in block:
            line = lines_before + block.count("\n", 0, block.index("\x00")) + 1
            raise InvalidInput(f"{name} holds a NUL character on line {line}: it is not a text file")
        lines_before += block.count("\n")
    handle.seek(0)
