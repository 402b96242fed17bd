"""The README's commands run as written: its ```sh blocks, line by line, in a scratch copy.

The scratch folder stands in for a fresh clone: ``repo/`` (the working folder,
with ``.venv`` and the test data the commands name linked in) beside
``shared/data`` (the sample data), so ``../shared/data``, ``var/`` and
``.venv/bin/agri`` mean what they mean in a clone, and every output lands in
the scratch ``var/``, never in the repository. No ``AGRI_*`` variable is set:
the defaults the README describes apply.

Commands that take minutes, start a server or rebuild everything are listed in
``SKIPPED`` with the reason; every other line runs. The ledger commands read
the demo's database: here they read a stand-in, a ledger of 8 operator entries
in the scratch ``var/`` (the README's ``proof 7`` needs 8). The face-ID block
runs only with ``-m slow``. The README's Python example runs as a doctest.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_data_dir

README = REPO / "README.md"
TEXT = README.read_text()

# Lines that are not run, by their start, with why; each must match one README line.
SKIPPED = {
    "make demo": "the whole story on real data: minutes",
    "make test": "the whole suite, which runs this test too: many minutes",
    ".venv/bin/agri serve": "starts a server that runs until stopped",
}
# Its block (face ID) runs only with -m slow: each evaluation embeds hundreds to
# thousands of photos, a minute or more.
SLOW = ".venv/bin/agri livestock evaluate"
# What the README's files name from the repository, linked into the scratch clone.
LINKED = (".venv", "tests/remote_sensing/data")
STAND_IN_ENTRIES = 8


def sh_blocks(markdown: str) -> list[tuple[int, list[tuple[int, str]]]]:
    """Each ```sh block's first line number and its commands (``\\`` lines joined)."""
    blocks, lines, start = [], markdown.splitlines(), None
    for number, line in enumerate(lines, start=1):
        if start is None and line.strip() == "```sh":
            start = number
        elif start is not None and line.strip() == "```":
            commands: list[tuple[int, str]] = []
            pending: list[str] = []
            for offset, raw in enumerate(lines[start : number - 1], start=start + 1):
                if not pending:
                    first = offset
                pending.append(raw)
                if not raw.rstrip().endswith("\\"):
                    commands.append((first, "\n".join(pending)))
                    pending = []
            assert not pending, f"README line {first}: a continuation ends the block"
            blocks.append((start, commands))
            start = None
    return blocks


BLOCKS = sh_blocks(TEXT)


def _skip_reason(command: str) -> str | None:
    for start, reason in SKIPPED.items():
        if command.startswith(start):
            return reason
    return None


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A scratch clone: ``repo/`` with the linked paths, ``shared/data`` beside it."""
    repo = tmp_path / "repo"
    for name in LINKED:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).symlink_to(REPO / name)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data_dir())
    return repo


def _env(clone: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRI_")}
    env.update(HOME=str(clone.parent / "home"), LANG="C.UTF-8")
    return env


def _stand_in_ledger(clone: Path) -> None:
    """The demo's database, as far as the ledger commands need it: 8 entries in var/."""
    from ledger import Event
    from server.config import Settings
    from server.context import build_context

    var = clone / "var"  # what the README's commands use with no AGRI_* set
    settings = Settings(
        environment="development",
        data_dir=var,
        database_url=f"sqlite:///{var / 'agri.db'}",  # type: ignore[arg-type]
        ledger_key_file=None,
        ledger_key_name="agri-insurance.local/ledger",
        _env_file=None,  # type: ignore[call-arg]
    )
    app = build_context(settings, chain=False)
    try:
        now = datetime.now(UTC)
        app.ledger.append(
            [
                Event(
                    "op.standin", {"entry": str(i)}, "test", now, {}
                ).to_canonical_bytes()
                for i in range(STAND_IN_ENTRIES)
            ]
        )
    finally:
        app.close()


def _run_blocks(clone: Path, *, slow: bool, only: bool = False) -> str:
    lines = ["set -euo pipefail"]
    for start, commands in BLOCKS:
        face_id = any(c.startswith(SLOW) for _, c in commands)
        if only and not face_id:
            continue
        if face_id and not slow:
            lines.append(f": README block of line {start} skipped: -m slow runs it")
            continue
        for number, command in commands:
            reason = _skip_reason(command)
            if reason is not None:
                lines.append(f": README line {number} skipped: {reason}")
                continue
            lines.append(f"echo '### README line {number}' >&2")
            lines.append(command)
    script = clone.parent / "readme.sh"
    script.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        ["bash", str(script)],
        cwd=clone,
        env=_env(clone),
        capture_output=True,
        text=True,
        timeout=1800 if slow else 300,
    )
    if done.returncode != 0:
        where = re.findall(r"### (.*)", done.stderr)
        pytest.fail(
            f"the README failed (exit {done.returncode}) at {where[-1:]}:\n"
            f"{done.stderr[-3000:]}\n--- stdout ---\n{done.stdout[-2000:]}"
        )
    return done.stdout


def test_every_skipped_line_is_in_the_readme_once() -> None:
    """The skip list names real README lines, so it cannot drift silently."""
    commands = [c for _, block in BLOCKS for _, c in block]
    for start in (*SKIPPED, SLOW):
        matches = [c for c in commands if c.startswith(start)]
        assert matches, f"no README command starts with {start!r}"
        if start != SLOW:
            assert len(matches) == 1, matches


def test_the_readme_commands_run_as_written(clone: Path) -> None:
    """Every quick line of every ```sh block, in order, in the scratch clone."""
    _stand_in_ledger(clone)
    out = _run_blocks(clone, slow=False)
    var = clone / "var"
    assert f"ledger OK: {STAND_IN_ENTRIES} entries" in out
    receipt = var / "receipt-7.json"
    assert receipt.is_file() and '"index": 7' in receipt.read_text()
    assert "receipt valid: entry 7 is in agri-insurance.local/ledger" in out
    assert "overlapping pairs: 0" in out  # plots check
    assert "498 plots: assessed 498" in out  # damage assess
    assert (var / "damage.geojson").is_file()
    assert (var / "damaged_areas.geojson").is_file()
    assert re.search(r"no_drop|normal_for_season|unusual_drop", out)  # damage series


@pytest.mark.slow
def test_the_face_id_block_runs(clone: Path) -> None:
    """The face-ID block, whole: the shipped model on training cows, v1 on its 15."""
    (clone / ".git").symlink_to(REPO / ".git")  # `git show` of cowface-v1's files
    out = _run_blocks(clone, slow=True, only=True)
    # each row is labelled with its model's name
    (training,) = re.findall(r"^cowface-v2\s+(\d\.\d{3}) ", out, re.M)
    (held_out,) = re.findall(r"^cowface-v1\s+(\d\.\d{3}) ", out, re.M)
    assert float(training) > 0.9  # cows it trained on: the README says about 0.97
    assert held_out == "0.718"  # the README's figure for v1 on its 15 held-out cows
    assert (clone / "var" / "cowface-v1" / "cowface-v1.pt").stat().st_size > 1_000_000


def _python_examples() -> Iterator[str]:
    yield from re.findall(r"```pycon\n(.*?)```", TEXT, flags=re.S)


@pytest.mark.parametrize("example", list(_python_examples()))
def test_the_readme_python_example_runs(example: str) -> None:
    test = doctest.DocTestParser().get_doctest(example, {}, "README", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0
