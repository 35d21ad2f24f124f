"""The health model file: the shipped defaults, a team's file laid over them, per-segment overrides, every
problem of a bad file named at its line, and a bad edit while running leaving the last good model in force."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from store.health.model import SIGNAL_IDS, ModelFileError, default_model, load_model, parse_model_text
from store.health.model_source import HealthModelSource
from store.health.model_summary import model_summary
from tests.server.processes import plain_env, run_csdesk


def test_the_shipped_model_covers_every_signal_and_names_its_version() -> None:
    model = default_model()
    assert set(model.base.signals) == set(SIGNAL_IDS)
    assert model.id.startswith("csdesk-default.v2.")
    assert model.for_segment("enterprise").thresholds.adoption_norm == 6
    assert model.for_segment("smb").thresholds.adoption_norm == 3


def test_a_team_file_changes_only_what_it_names_and_gets_its_own_id() -> None:
    model = parse_model_text('[signals."survey.csat"]\nweight = 4\n[segments.smb.signals."survey.nps"]\nweight = 0\n',
                             "team.toml")
    shipped = default_model()
    assert model.base.signals["survey.csat"].weight == 4
    assert model.base.signals["survey.csat"].scale == shipped.base.signals["survey.csat"].scale
    assert model.for_segment("smb").signals["survey.nps"].weight == 0
    assert model.for_segment("enterprise").signals["survey.nps"].weight == shipped.base.signals["survey.nps"].weight
    assert model.id != shipped.id
    summary = model_summary(model)
    assert summary["segments"]["smb"]["signals"]["survey.nps"]["weight"] == 0


def test_scales_interpolate_between_their_points_and_stay_flat_beyond_them() -> None:
    csat = default_model().base.signals["survey.csat"]
    assert [csat.points_for(value) for value in (0, 1, 3, 3.5, 4, 5, 7)] == [0, 0, 40, 52.5, 65, 100, 100]
    sponsor = default_model().base.signals["sponsor.primary"]
    assert sponsor.points_for("left") == 0 and sponsor.points_for("present") == 100


BAD = """name = "team"
version = 1

[thresholds]
outbound_warn_days = 50

[signals."survey.csat"]
weight = -1

[signals."made.up"]
weight = 1

[signals."sponsor.primary"]
scale = [[0, 0], [1, 100]]

[segments.smb.signals."survey.nps"]
scale = [[5, 10], [3, 20]]

[segments.retail.thresholds]
adoption_norm = 1
"""


def test_every_problem_of_a_bad_file_is_named_with_its_line() -> None:
    with pytest.raises(ModelFileError) as refused:
        parse_model_text(BAD, "team.toml")
    problems = "\n".join(refused.value.problems)
    assert "team.toml:5: thresholds: outbound_warn_days (50) must be below outbound_critical_days (45)" in problems
    assert "team.toml:8: signals.survey.csat.weight: Input should be greater than or equal to 0" in problems
    assert "team.toml:10: unknown signal 'made.up'" in problems
    assert "team.toml:14: signals.sponsor.primary: give either scale" in problems
    assert "team.toml:17: segments.smb.signals.survey.nps: a scale's values must rise: [5.0, 3.0]" in problems
    assert "team.toml:19: unknown segment 'retail'" in problems
    assert len(refused.value.problems) == 6


def test_a_file_that_is_not_toml_is_refused_with_where_it_broke(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[signals."survey.csat"\nweight = 1\n')
    with pytest.raises(ModelFileError, match=r"broken.toml: not valid TOML: .*line 1"):
        load_model(path)


def test_a_bad_edit_while_running_leaves_the_last_good_model_in_force(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text('[signals."survey.csat"]\nweight = 3\n')
    source = HealthModelSource(path)
    good = source.current()
    assert good.base.signals["survey.csat"].weight == 3
    path.write_text('[signals."survey.csat"]\nweight = "heavy"\n')
    os.utime(path, (1, 1))  # a different modification time, however fast the edit
    assert source.current() is good
    assert source.refusal is not None and "model.toml:2" in source.refusal
    path.write_text('[signals."survey.csat"]\nweight = 5\n')
    os.utime(path, (2, 2))
    assert source.current().base.signals["survey.csat"].weight == 5 and source.refusal is None


def test_an_invalid_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text("[bands]\nneutral = 90\n")
    with pytest.raises(ModelFileError, match="band floors must fall"):
        HealthModelSource(path)


def test_health_model_check_and_show_on_the_command_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    good = tmp_path / "good.toml"
    good.write_text('[signals."survey.csat"]\nweight = 4\n')
    refused = run_csdesk("health", "model", "check", str(bad), env=plain_env())
    accepted = run_csdesk("health", "model", "check", str(good), env=plain_env())
    shown = run_csdesk("health", "model", "show", "--json", env=plain_env(CSDESK_HEALTH_MODEL=str(good)))
    assert refused.returncode == 2 and "bad.toml:19: unknown segment 'retail'" in refused.stderr
    assert accepted.returncode == 0 and "is a valid health model" in accepted.stdout
    summary = json.loads(shown.stdout)
    assert summary["signals"]["survey.csat"]["weight"] == 4 and summary["source"] == "good.toml"
