"""Reading one import row's fields, gathering every problem of the row rather than stopping at the first."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from store import validation
from store.errors import InvalidInput

TRUE = frozenset({"true", "yes", "y", "1"})
FALSE = frozenset({"false", "no", "n", "0"})


class RowFields:
    """The values of one row by column, read as types; `problems` says what was wrong with which column."""

    def __init__(self, values: dict[str, str], lists: dict[str, list[object]] | None = None) -> None:
        self.values = values
        self.lists = lists or {}
        self.problems: list[str] = []

    def _raw(self, column: str, required: bool) -> str | None:
        value = self.values.get(column, "").strip()
        if not value:
            if required:
                self.problems.append(f"{column} is required")
            return None
        return value

    def text(self, column: str, *, max_length: int, required: bool = False) -> str | None:
        value = self._raw(column, required)
        if value is not None and len(value) > max_length:
            self.problems.append(f"{column} must be at most {max_length} characters; got {len(value)}")
            return None
        return value

    def integer(self, column: str, *, minimum: int = 0, maximum: int = 1_000_000_000,
                required: bool = False) -> int | None:
        value = self._raw(column, required)
        if value is None:
            return None
        if value.isascii() and value.isdigit():  # the common case: plain digits, read as below but faster
            number = int(value)
            if minimum <= number <= maximum:
                return number
        try:
            number = float(value.replace(",", "")) if "." in value else int(value.replace(",", ""))
        except ValueError:
            self.problems.append(f"{column} must be a whole number; got {value!r}")
            return None
        if number != int(number) or not minimum <= number <= maximum:
            self.problems.append(f"{column} must be a whole number from {minimum} to {maximum}; got {value!r}")
            return None
        return int(number)

    def choice(self, column: str, allowed: Iterable[str], *, required: bool = False) -> str | None:
        value = self._raw(column, required)
        if value is None:
            return None
        options = tuple(allowed)
        normalised = value.strip().lower().replace(" ", "_").replace("-", "_")
        if normalised not in options:
            self.problems.append(f"{column} must be one of {', '.join(options)}; got {value!r}")
            return None
        return normalised

    def boolean(self, column: str) -> bool | None:
        value = self._raw(column, False)
        if value is None:
            return None
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        self.problems.append(f"{column} must be true or false; got {value!r}")
        return None

    def email(self, column: str, *, required: bool = False) -> str | None:
        value = self._raw(column, required)
        if value is None:
            return None
        try:
            return validation.email(value, column)
        except InvalidInput as exc:
            self.problems.append(str(exc))
            return None

    def day(self, column: str) -> date | None:
        """A date like 2026-11-20."""
        value = self._raw(column, False)
        if value is None:
            return None
        try:
            return validation.parse_date(value, column)
        except InvalidInput as exc:
            self.problems.append(str(exc))
            return None

    def moment(self, column: str, *, now: datetime, required: bool = False, future_ok: bool = False) -> datetime | None:
        """A time (ISO 8601, a time zone or UTC) or a date (midnight UTC), not in the future."""
        value = self._raw(column, required)
        if value is None:
            return None
        parsed = parse_moment(value)
        if parsed is None:
            self.problems.append(f"{column} must be a date like 2026-11-20 or a time like 2026-11-20T15:00:00Z; "
                                 f"got {value!r}")
            return None
        if not future_ok and parsed > now:
            self.problems.append(f"{column} is in the future ({value}); import what has happened")
            return None
        return parsed

    def month(self, column: str, *, now: datetime, required: bool = False) -> date | None:
        """The month a period falls in: "2026-11", or a day of it (rolled up to the month)."""
        value = self._raw(column, required)
        if value is None:
            return None
        parsed = _month_of(value)
        if parsed is None:
            self.problems.append(f"{column} must be a month like 2026-11 or a day like 2026-11-05; got {value!r}")
            return None
        if parsed > now.date():
            self.problems.append(f"{column} is in the future ({value}); import what has happened")
            return None
        return parsed

    def count_of_list(self, column: str) -> int | None:
        """How many different items a list holds — a JSON list, or in CSV a cell of items separated by `;` or
        `|` ("reports; exports") — or None when the row has none."""
        items = self.lists.get(column)
        if items is None:
            cell = self.values.get(column, "").strip()
            if not cell:
                return None
            items = [item.strip() for item in cell.replace("|", ";").split(";") if item.strip()]
        return len({str(item) for item in items})


def parse_moment(value: str) -> datetime | None:
    """A time as exports write it: ISO 8601, or "2026-11-01 09:15:00" with "+0000", "UTC" or no zone (UTC)."""
    try:  # the common case first: ISO 8601 as Python reads it
        parsed = datetime.fromisoformat(value)
    except ValueError:
        pass
    else:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    text = value.strip().removesuffix(" UTC").removesuffix("Z") + ("Z" if value.strip().endswith("Z") else "")
    text = re.sub(r"\s+([+-]\d{2}:?\d{2})$", r"\1", text)
    text = text.replace(" ", "T", 1) if "T" not in text and ":" in text else text
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(value.strip()), time(), tzinfo=UTC)
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _month_of(value: str) -> date | None:
    text = value.strip()
    try:
        if len(text) == 7:
            return date.fromisoformat(f"{text}-01")
        day = parse_moment(text)
        return day.date().replace(day=1) if day else None
    except ValueError:
        return None
