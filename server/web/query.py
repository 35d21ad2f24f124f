"""Reading a page's filters from its URL: every problem is collected and shown together, with what is
accepted, and a page with a bad filter shows nothing else (never a silently ignored filter)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

PAGE_SIZES = (25, 50, 100, 200)


class QueryReader:
    def __init__(self, params: QueryParams) -> None:
        self._params = params
        self.problems: list[str] = []
        self.kept: list[tuple[str, str]] = []  # the filters as given, for links that keep them

    def _raw(self, name: str) -> str | None:
        value = self._params.get(name)
        return value.strip() if value is not None and value.strip() else None

    def choice(self, name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
        allowed = tuple(allowed)
        value = self._raw(name)
        if value is None:
            return default
        if value not in allowed:
            self.problems.append(f"{name}={value!r} is not one of: {', '.join(allowed)}")
            return default
        self.kept.append((name, value))
        return value

    def choices(self, name: str, allowed: Iterable[str]) -> tuple[str, ...]:
        """A filter that may be given more than once (status=at_risk&status=needs_attention)."""
        allowed = tuple(allowed)
        chosen = []
        for value in (v.strip() for v in self._params.getlist(name) if v.strip()):
            if value in allowed:
                chosen.append(value)
                self.kept.append((name, value))
            else:
                self.problems.append(f"{name}={value!r} is not one of: {', '.join(allowed)}")
        return tuple(chosen)

    def integer(self, name: str, default: int | None, *, low: int, high: int) -> int | None:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            self.problems.append(f"{name}={value!r} must be a whole number from {low} to {high}")
            return default
        self.kept.append((name, value))
        return number

    def text(self, name: str, *, longest: int = 200) -> str | None:
        value = self._raw(name)
        if value is not None and len(value) > longest:
            self.problems.append(f"{name} is longer than {longest} characters")
            return None
        if value is not None:
            self.kept.append((name, value))
        return value

    def page(self) -> tuple[int, int]:
        """The page number (from 1) and its size."""
        size = self.integer("size", 25, low=1, high=max(PAGE_SIZES))
        number = self.integer("page", 1, low=1, high=100_000)
        return number or 1, size or 25

    def link(self, **changes: object) -> str:
        """This page's query string with some values changed (None removes one), e.g. for the next page
        or another sort; the page number starts again at 1 unless it is one of the changes."""
        replaced = set(changes) | {"page"}
        pairs = [(name, value) for name, value in self.kept if name not in replaced]
        pairs += [(name, str(value)) for name, value in changes.items() if value is not None]
        return "?" + urlencode(pairs) if pairs else "?"


def pager(reader: QueryReader, *, number: int, size: int, total: int) -> dict[str, object]:
    """What a list's page links need: where this page starts and ends, and the previous and next links."""
    last = max(1, -(-total // size))
    return {"first_row": (number - 1) * size + 1 if total else 0, "last_row": min(number * size, total),
            "total": total, "number": number, "pages": last,
            "previous": reader.link(page=number - 1) if number > 1 else None,
            "next": reader.link(page=number + 1) if number < last else None}
