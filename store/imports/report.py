"""What an import says: its counts, its refused rows, and the two ways it refuses a file (columns that
do not fit, bad rows) — one wording for every kind."""

from __future__ import annotations

from dataclasses import dataclass, field

from store.errors import InvalidInput
from store.imports.column_maps import ColumnMap
from store.imports.sources import Source, header_of

SHOWN_PROBLEMS = 50


@dataclass
class ImportReport:
    kind: str
    file: str
    dry_run: bool
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    matched: str = ""
    contacts_not_found: int = 0

    def line(self) -> str:
        verb = "would be" if self.dry_run else ""
        counts = (f"{self.inserted:,} {verb} inserted, {self.updated:,} {verb} updated, {self.unchanged:,} unchanged, "
                  f"{len(self.rejected):,} rejected").replace("  ", " ")
        found = f"; accounts found {self.matched}" if self.matched else ""
        contacts = f"; {self.contacts_not_found:,} contact email(s) not on the account, kept without a contact" \
            if self.contacts_not_found else ""
        return f"{self.kind} from {self.file}: {counts}{found}{contacts}"

    def refusal(self) -> InvalidInput:
        """The error for a file with bad rows, naming the first SHOWN_PROBLEMS."""
        shown = "\n".join(self.rejected[:SHOWN_PROBLEMS])
        more = f"\n...and {len(self.rejected) - SHOWN_PROBLEMS:,} more" if len(self.rejected) > SHOWN_PROBLEMS else ""
        return InvalidInput(f"{self.file}: {len(self.rejected):,} bad row(s); nothing was imported. Fix them or pass "
                            f"--skip-invalid to import the rest:\n{shown}{more}")


def check_columns(kind: str, source: Source, column_map: ColumnMap | None, *, required: tuple[str, ...],
                  optional: tuple[str, ...], help: str) -> None:
    """Refuse a file whose columns (after its map, if any) leave out a required one or hold an unknown one.

    Raises:
        InvalidInput: naming what is missing, what is unknown, and every column the kind takes.
    """
    header = header_of(source)
    columns = set(column_map.header(header) if column_map else header)
    missing = [column for column in required if column not in columns]
    unknown = sorted(columns - set(required) - set(optional))
    if missing or unknown:
        problems = [f"missing columns: {', '.join(missing)}"] if missing else []
        problems += [f"unknown columns: {', '.join(unknown)}"] if unknown else []
        raise InvalidInput(f"{'; '.join(problems)}. A {kind} file has the columns: {', '.join(required)} (required); "
                           f"{', '.join(optional)} (optional) — {help}. Map other names with --column (e.g. "
                           "--column account=Company) or --map.")
