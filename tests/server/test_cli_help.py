"""Every command and group has help, and it reads as help: names and types in capitals, no raw markers."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.testing import CliRunner

from server.cli import app

# What typer 0.27 and later print in place of DRAFT_ID, INTEGER and a plain flag.
RAW_MARKERS = re.compile(r"<(?:bool|int|str|path|float)>|\{[a-z_]+\}")


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under `group`, as the words that call it."""
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_no_command_help_shows_raw_markers() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert ("drafts", "show") in commands and ("import", "usage") in commands and len(commands) > 30
    runner = CliRunner()
    for command in commands:
        shown = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
        assert shown.exit_code == 0, (command, shown.output)
        assert not RAW_MARKERS.search(shown.output), (command, RAW_MARKERS.findall(shown.output))
    usage = runner.invoke(app, ["drafts", "show", "--help"], env={"COLUMNS": "100"}).output
    assert "DRAFT_ID" in usage and "INTEGER" in usage
