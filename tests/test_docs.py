"""The README keeps up with the code: every setting and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli.main import cli
from server.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_setting_is_documented(name: str) -> None:
    """Every Settings field has a description and a row in the README's table."""
    assert Settings.model_fields[name].description
    assert f"`AGRI_{name.upper()}`" in README


def test_quick_start_is_two_commands() -> None:
    """The quick start shows the demo and the test command CI runs."""
    assert "make demo" in README
    assert "make test" in README


GROUPS = ["ledger", "plots", "damage", "livestock", "edge", "users"]
SUBCOMMANDS = [
    (group, command)
    for group in GROUPS
    for command in sorted(cli.commands[group].commands)  # type: ignore[attr-defined]
]


@pytest.mark.parametrize(("group", "command"), SUBCOMMANDS)
def test_command_is_documented(group: str, command: str) -> None:
    """Every 'agri <group> <command>' appears in the README and has help."""
    assert f"agri {group} {command}" in README
    r = CliRunner().invoke(cli, [group, command, "--help"], obj={})
    assert r.exit_code == 0
