"""Where a key sits in a TOML file's text, so a refusal can name the line to fix.

tomllib gives values without positions; this reads the text's table headers and `key =` lines, enough
for the files csdesk reads (tables, dotted and quoted keys, inline tables on one line).
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*(?P<key>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_PART = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)"""
_KEY = re.compile(rf"^\s*(?P<key>{_PART}(?:\s*\.\s*{_PART})*)\s*=")


def split_key(text: str) -> tuple[str, ...]:
    """A dotted TOML key's parts, quotes removed: `signals."survey.nps"` → ("signals", "survey.nps")."""
    parts, current, quote = [], "", ""
    for char in text.strip():
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return tuple(part for part in parts if part)


def line_of(text: str, path: tuple[str, ...]) -> int:
    """The 1-based line that sets the longest leading part of `path` (1 when none does)."""
    best_line, best_length = 1, 0
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = split_key(header["key"])
            found = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            found = (*table, *split_key(key["key"]))
        length = _common(found, path)
        if length > best_length:
            best_line, best_length = number, length
    return best_line


def _common(found: tuple[str, ...], path: tuple[str, ...]) -> int:
    """How many leading parts of `path` the key `found` sets (0 unless `found` is a prefix or the whole path)."""
    length = 0
    for mine, wanted in zip(found, path, strict=False):
        if mine != wanted:
            return 0
        length += 1
    return length
