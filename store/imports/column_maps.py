"""Column maps: another tool's export read as csdesk's columns, without editing the file.

A map is a TOML file (or one shipped with csdesk, by name: see `shipped_maps`):

    kind = "accounts"                    # what it imports; optional
    [columns]                            # csdesk column = the export's column
    name = "Company name"
    external_id = "Record ID"
    [values.segment]                     # the export's value = csdesk's, any case
    "Enterprise" = "enterprise"
    [bands.segment]                      # or a number in bands: from this value up
    column = "Number of Employees"
    bands = [[0, "smb"], [200, "mid_market"], [1000, "enterprise"]]
    [joined]                             # several columns in one, with spaces
    name = ["First Name", "Last Name"]
    [defaults]                           # for rows (or files) without a value
    segment = "mid_market"

With a map, the export's other columns are left out. `--column dst=src` renames one column on top of a
map, or alone (then the file's other columns are kept as they are).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from store.errors import InvalidInput
from store.imports.sources import Row

MAPS_PACKAGE = "store.imports.maps"


@dataclass(frozen=True)
class ColumnMap:
    name: str
    kind: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    bands: dict[str, tuple[str, tuple[tuple[float, str], ...]]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    joined: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # True for a map file: the export's columns it does not name are left out.
    only_mapped: bool = True

    def header(self, source_header: Iterable[str]) -> list[str]:
        """csdesk's columns for a file with these columns."""
        present = set(source_header)
        mapped = [dst for dst, src in self.columns.items() if src in present]
        mapped += [dst for dst, (src, _) in self.bands.items() if src in present and dst not in mapped]
        mapped += [dst for dst, parts in self.joined.items() if set(parts) & present and dst not in mapped]
        kept = [] if self.only_mapped else [c for c in present if c not in set(self.columns.values())
                                            and c not in mapped]
        return list(dict.fromkeys([*mapped, *kept, *(d for d in self.defaults if d not in mapped)]))

    def apply(self, row: Row) -> Row:
        """The row with csdesk's column names and values."""
        values: dict[str, str] = {} if self.only_mapped else {
            k: v for k, v in row.values.items() if k not in set(self.columns.values()) or k in self.columns}
        for dst, src in self.columns.items():
            if src in row.values:
                values[dst] = row.values[src]
        for dst, parts in self.joined.items():
            if not values.get(dst):
                values[dst] = " ".join(row.values[p].strip() for p in parts if row.values.get(p, "").strip())
        for dst, (src, bands) in self.bands.items():
            if not values.get(dst) and row.values.get(src, "").strip():
                values[dst] = _band(row.values[src], bands)
        for dst, mapping in self.values.items():
            if values.get(dst):
                values[dst] = mapping.get(values[dst].strip().lower(), values[dst])
        for dst, default in self.defaults.items():
            if not values.get(dst, "").strip():
                values[dst] = default
        lists = {self._dst_of(src): items for src, items in row.lists.items()}
        return Row(line=row.line, values=values, lists=lists, problem=row.problem)

    def _dst_of(self, src: str) -> str:
        return next((dst for dst, source in self.columns.items() if source == src), src)

    def with_columns(self, pairs: Iterable[str]) -> ColumnMap:
        """This map with `dst=src` renames on top."""
        columns = dict(self.columns)
        for pair in pairs:
            dst, separator, src = pair.partition("=")
            if not separator or not dst.strip() or not src.strip():
                raise InvalidInput(f"--column takes csdesk_column=export_column, e.g. account=Company; got {pair!r}")
            columns[dst.strip()] = src.strip()
        return replace(self, columns=columns)


NO_MAP = ColumnMap(name="none", only_mapped=False)


def mapped(rows: Iterator[Row], column_map: ColumnMap | None) -> Iterator[Row]:
    """The rows through the map; without one, the rows themselves (no generator in between)."""
    return rows if column_map is None else (column_map.apply(row) for row in rows)


def shipped_maps() -> list[str]:
    """The maps csdesk ships, by name (hubspot-companies, zendesk-tickets, ...)."""
    return sorted(entry.name.removesuffix(".toml") for entry in resources.files(MAPS_PACKAGE).iterdir()
                  if entry.name.endswith(".toml"))


def load_map(reference: str) -> ColumnMap:
    """A shipped map by name, or a TOML map file by path.

    Raises:
        InvalidInput: no such map, or the file is not a valid map.
    """
    if reference in shipped_maps():
        text = resources.files(MAPS_PACKAGE).joinpath(f"{reference}.toml").read_text(encoding="utf-8")
        name = reference
    else:
        path = Path(reference)
        if not path.is_file():
            raise InvalidInput(f"no map {reference!r}: give a TOML file or one of {', '.join(shipped_maps())}")
        text, name = path.read_text(encoding="utf-8"), path.name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"the map {name} is not valid TOML: {exc}") from exc
    return _parse(name, data)


def _parse(name: str, data: dict[str, object]) -> ColumnMap:
    unknown = set(data) - {"kind", "columns", "values", "bands", "defaults", "joined", "description"}
    if unknown:
        raise InvalidInput(f"the map {name} has unknown sections: {', '.join(sorted(unknown))}; a map has kind, "
                           "columns, values, bands, joined and defaults")
    columns = _strings(data.get("columns", {}), f"{name} [columns]")
    defaults = _strings(data.get("defaults", {}), f"{name} [defaults]")
    values_section = data.get("values", {})
    if not isinstance(values_section, dict):
        raise InvalidInput(f"the map {name}: [values] must be tables of value = value")
    values = {dst: {k.lower(): v for k, v in _strings(table, f"{name} [values.{dst}]").items()}
              for dst, table in values_section.items()}
    bands_section = data.get("bands", {})
    if not isinstance(bands_section, dict):
        raise InvalidInput(f"the map {name}: [bands] must be tables with column and bands")
    bands = {}
    for dst, table in bands_section.items():
        try:
            pairs = tuple(sorted((float(low), str(value)) for low, value in table["bands"]))
            bands[dst] = (str(table["column"]), pairs)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"the map {name} [bands.{dst}] needs column = \"...\" and bands = [[0, \"...\"], ...]"
                               ) from exc
    joined_section = data.get("joined", {})
    if not isinstance(joined_section, dict) or not all(isinstance(v, list) for v in joined_section.values()):
        raise InvalidInput(f"the map {name}: [joined] must hold name = [\"column\", ...] lists")
    joined = {dst: tuple(str(part) for part in parts) for dst, parts in joined_section.items()}
    kind = data.get("kind")
    return ColumnMap(name=name, kind=str(kind) if kind else None, columns=columns, values=values, bands=bands,
                     defaults=defaults, joined=joined)


def _strings(table: object, where: str) -> dict[str, str]:
    if not isinstance(table, dict) or not all(isinstance(v, str | int | float) for v in table.values()):
        raise InvalidInput(f"{where} must hold name = \"value\" pairs")
    return {str(k): str(v) for k, v in table.items()}


def _band(value: str, bands: tuple[tuple[float, str], ...]) -> str:
    try:
        number = float(value.replace(",", "").strip())
    except ValueError:
        return value
    chosen = bands[0][1]
    for low, label in bands:
        if number >= low:
            chosen = label
    return chosen
