"""The export routes and ``agri export``: who may, media types, file names, refusals.

The files' contents are checked in ``test_exports_plots.py`` and
``test_exports_tables.py``; here each route answers the insurer's desks
(admin, underwriter, adjuster) with a file that parses, and nobody else. On
SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from server.cli.main import cli
from server.context import AppContext
from tests.server.pages_records import crop_claim, crop_policy
from tests.server.test_api_flows import login
from tests.server.test_exports_stac import _env

API = "/api/v1/exports"
FILES = {
    "/plots.parquet": "application/vnd.apache.parquet",
    "/plots.geojson": "application/geo+json",
    "/claims.csv": "text/csv; charset=utf-8; header=present",
    "/claims.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "/policies.csv": "text/csv; charset=utf-8; header=present",
    "/policies.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@pytest.fixture
def records(app: AppContext) -> str:
    _, policy = crop_policy(app, ["AT-0488", "AT-0002"], farmer="F-5")
    return crop_claim(app, policy, "AT-0488").id


def _rows(path: str, body: bytes) -> int:
    """How many records the file of route ``path`` holds."""
    if path.endswith(".parquet"):
        return pq.read_table(io.BytesIO(body)).num_rows
    if path.endswith(".geojson"):
        return len(json.loads(body)["features"])
    if path.endswith(".csv"):
        return len(list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))) - 1
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    return sheet.max_row - 1


def test_the_desks_get_each_file_and_nobody_else(
    client: TestClient, records: str
) -> None:
    for path, media in FILES.items():
        url = API + path
        assert client.get(url).status_code == 401, path
        for role in ("farmer", "field_agent"):
            r = client.get(url, headers=login(client, role))
            assert r.status_code == 403, (path, role, r.text)
        for role in ("admin", "underwriter", "adjuster"):
            r = client.get(url, headers=login(client, role))
            assert r.status_code == 200, (path, role, r.text)
            assert r.headers["content-type"] == media, path
            name = r.headers["content-disposition"]
            assert name.startswith('attachment; filename="') and name.endswith(
                path.rsplit(".", 1)[1] + '"'
            ), name
            assert r.headers["content-length"] == str(len(r.content))
            assert r.headers["cache-control"] == "no-store"
            want = 2 if "plots" in path else 1
            assert _rows(path, r.content) == want, path


def test_headers_follow_accept_language(client: TestClient, records: str) -> None:
    r = client.get(
        f"{API}/claims.xlsx",
        headers=login(client, "adjuster") | {"Accept-Language": "zh-CN"},
    )
    sheet = openpyxl.load_workbook(io.BytesIO(r.content))["claims"]
    assert sheet["A1"].value == "理赔编号" and sheet.freeze_panes == "A2"
    r = client.get(f"{API}/policies.csv", headers=login(client, "underwriter"))
    header = next(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert header[:3] == ["Policy", "Farmer", "Product"]


def test_refusals_name_the_input(client: TestClient, records: str) -> None:
    admin = login(client, "admin")
    cases = [
        (f"{API}/plots.parquet?product=RICE", 404, "product"),
        (f"{API}/plots.geojson?farmer_id=F-404", 404, "farmer_id"),
        (f"{API}/claims.csv?farmer_id=F-404", 404, "farmer_id"),
        (f"{API}/plots.parquet?on=2021-13-01", 422, "on"),
        (f"{API}/plots.parquet?on=0", 422, "on"),  # not read as 1970-01-01
        (f"{API}/claims.xlsx?status=lost", 422, "status"),
        (f"{API}/stac/claim.zip", 422, "claim_id"),
    ]
    for url, status, field in cases:
        r = client.get(url, headers=admin)
        assert r.status_code == status, (url, r.text)
        assert r.json()["field"] == field, (url, r.json())
        assert "Traceback" not in r.text
    empty = client.get(f"{API}/plots.parquet?on=2030-01-01", headers=admin)
    assert empty.status_code == 200 and _rows("/plots.parquet", empty.content) == 0


def test_the_cli_writes_files_and_leaves_none_when_refused(
    app: AppContext, records: str, tmp_path: Path
) -> None:
    runner = CliRunner(env=_env(app) | {"LANG": "zh_CN.UTF-8"})
    files = tmp_path / "out"
    files.mkdir()
    out = files / "plots.parquet"
    r = runner.invoke(
        cli, ["export", "plots", "--format", "fiboa", "--out", str(out)], obj={}
    )
    assert r.exit_code == 0, r.output
    assert "wrote 2 insured plots" in r.output
    assert pq.read_table(out).num_rows == 2
    geojson = files / "plots.geojson"
    r = runner.invoke(
        cli,
        [
            "export",
            "plots",
            "--format",
            "geojson",
            "--out",
            str(geojson),
            "--on",
            "2021-06-01",
        ],
        obj={},
    )
    assert r.exit_code == 0 and len(json.loads(geojson.read_text())["features"]) == 2
    xlsx = files / "claims.xlsx"
    r = runner.invoke(
        cli, ["export", "claims", "--format", "xlsx", "--out", str(xlsx)], obj={}
    )
    assert r.exit_code == 0, r.output
    assert openpyxl.load_workbook(xlsx)["claims"]["A1"].value == "理赔编号"  # LANG
    policies = files / "policies.csv"
    r = runner.invoke(
        cli,
        ["export", "policies", "--out", str(policies), "--lang", "en"],
        obj={},
    )
    assert r.exit_code == 0, r.output
    assert policies.read_bytes().startswith(b"\xef\xbb\xbfPolicy,")
    # Refused: exit 2 naming the option, and no file, not even a partial one.
    refused = files / "refused.parquet"
    r = runner.invoke(
        cli,
        ["export", "plots", "--out", str(refused), "--product", "RICE"],
        obj={},
    )
    assert (
        r.exit_code == 2 and "--product" in r.output and "no product RICE" in r.output
    )
    r = runner.invoke(
        cli, ["export", "plots", "--out", str(refused), "--max-rows", "1"], obj={}
    )
    assert r.exit_code == 2 and "2 insured plots match" in r.output
    assert sorted(p.name for p in files.iterdir()) == [
        "claims.xlsx",
        "plots.geojson",
        "plots.parquet",
        "policies.csv",
    ]
