"""The ``agri`` command starts fast: no heavy library loads before a command needs it.

Timings are not asserted (they depend on the machine); what makes the start slow
is: importing torch, web3, GDAL (rasterio, pyogrio), shapely or fastapi at startup.
These tests run a fresh interpreter and read its ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "web3", "rasterio", "pyogrio", "shapely", "fastapi", "geopandas")


def _loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The packages of ``HEAVY`` loaded after ``code`` runs in a new process.

    The process sees no ``AGRI_*`` variable of this one, only those of ``env``.
    """
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AGRI_")},
            **(env or {}),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import server.cli",
        "import ledger",
        "import livestock",
        "import remote_sensing",
        "from server.cli.main import cli",
    ],
)
def test_import_loads_no_heavy_library(statement: str) -> None:
    """Importing the CLI or a leaf package loads none of torch, web3, GDAL, shapely, fastapi."""
    assert _loaded_after(statement) == set()


def test_help_loads_no_heavy_library() -> None:
    """``agri --help`` (and a group's --help) run and load no heavy library."""
    code = (
        "from server.cli.main import cli\n"
        "for args in (['--help'], ['ledger', '--help'], ['plots', 'check', '--help'],"
        " ['damage', 'assess', '--help'], ['livestock', '--help']):\n"
        "    try:\n"
        "        cli(args, obj={})\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (args, exc.code)\n"
    )
    assert _loaded_after(code) == set()


def test_ledger_append_loads_no_heavy_library(tmp_path: Path) -> None:
    """``agri ledger append`` touches only the ledger: no torch, GDAL, shapely or web3."""
    payload = tmp_path / "p.json"
    payload.write_text('{"note": "import"}')
    args = [
        "ledger",
        "append",
        "--type",
        "claim.imported",
        "--subject",
        "claim=C-1",
        "--payload-file",
        str(payload),
    ]
    code = (
        "from server.cli.main import cli\n"
        f"try:\n    cli({args!r}, obj={{}})\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
    )
    env = {"AGRI_DATA_DIR": str(tmp_path / "var"), "AGRI_ANCHOR_ENABLED": "false"}
    assert _loaded_after(code, env) == set()


def test_agri_help_runs() -> None:
    """The installed ``agri --help`` exits 0 and lists the command groups."""
    agri = Path(sys.executable).with_name("agri")
    if not agri.exists():
        pytest.skip("the agri entry point is not installed next to this interpreter")
    out = subprocess.run(
        [str(agri), "--help"], cwd=REPO, capture_output=True, text=True, check=True
    )
    for group in ("ledger", "plots", "damage", "livestock", "demo", "serve"):
        assert group in out.stdout
