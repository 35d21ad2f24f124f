"""Column maps: renames, value maps, bands, joined columns and defaults; clear errors for bad maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.errors import InvalidInput
from store.imports.column_maps import NO_MAP, load_map
from store.imports.sources import Row


def test_a_map_file_renames_maps_values_bands_joins_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "crm.toml"
    path.write_text('kind = "accounts"\n[columns]\nname = "Company"\n[values.lifecycle_stage]\n"Customer" = "growth"\n'
                    '[bands.segment]\ncolumn = "Staff"\nbands = [[0, "smb"], [200, "mid_market"]]\n'
                    '[joined]\nowner = ["Owner First", "Owner Last"]\n[defaults]\narr = "0"\n', encoding="utf-8")
    column_map = load_map(str(path)).with_columns(["lifecycle_stage=Stage"])
    row = Row(line=2, values={"Company": "Acme", "Stage": "CUSTOMER", "Staff": "250", "Owner First": "Ana",
                              "Owner Last": "Garcia", "Ignored": "x"}, lists={})
    assert column_map.apply(row).values == {"name": "Acme", "lifecycle_stage": "growth", "segment": "mid_market",
                                            "owner": "Ana Garcia", "arr": "0"}
    assert set(column_map.header(row.values)) == {"name", "lifecycle_stage", "segment", "owner", "arr"}


def test_column_renames_alone_keep_the_files_other_columns() -> None:
    column_map = NO_MAP.with_columns(["account=Company"])
    row = Row(line=2, values={"Company": "Acme", "period": "2026-10"}, lists={})
    assert column_map.apply(row).values == {"account": "Acme", "period": "2026-10"}


@pytest.mark.parametrize(("text", "message"), [
    ("[columns\n", "is not valid TOML"),
    ("[colums]\nname = 'x'\n", "unknown sections: colums"),
    ("[bands.segment]\ncolumn = 'Staff'\n", r"\[bands.segment\] needs column"),
])
def test_a_bad_map_is_refused_with_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        load_map(str(path))


def test_unknown_maps_and_bad_column_pairs_say_what_is_accepted() -> None:
    with pytest.raises(InvalidInput, match="give a TOML file or one of delighted-nps, hubspot-companies"):
        load_map("pipedrive")
    with pytest.raises(InvalidInput, match="--column takes csdesk_column=export_column"):
        NO_MAP.with_columns(["account"])
