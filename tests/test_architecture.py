"""The import rules of ARCHITECTURE.md, checked on the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PACKAGES

REPO = Path(__file__).resolve().parent.parent
LEAVES = {"ledger", "livestock", "remote_sensing"}
HEAVY = {
    "torch",
    "torchvision",
    "rasterio",
    "rio_tiler",
    "rio_cogeo",
    "geopandas",
    "exactextract",
    "reportlab",
    "segno",
    "web3",
    "fastapi",
    "sqlalchemy",
    "alembic",
    "babel",
    "pyarrow",
    "openpyxl",
    "pystac",
}
# Where each heavy library may be imported.
ALLOWED = {
    "torch": {"livestock", "edge"},
    "torchvision": {"livestock", "edge"},
    "rasterio": {"remote_sensing"},
    "rio_tiler": {"remote_sensing"},
    "rio_cogeo": {"remote_sensing"},
    "geopandas": {"remote_sensing"},
    "exactextract": {"remote_sensing"},
    # a public notice's PDF and its QR code: drawn in the notices service only
    "reportlab": {"server/services/notices.py"},
    "segno": {"server/services/notices.py"},
    "web3": {"ledger/adapters/evm.py", "server"},
    "fastapi": {"server"},
    "sqlalchemy": {"server"},
    "alembic": {"server"},
    # Numbers, money and months in the shell's locale: the report command's tables.
    "babel": {"server/cli/reports.py"},
    # The standard file formats of the exports, written in one module.
    "pyarrow": {"server/services/exports.py"},
    "openpyxl": {"server/services/exports.py"},
    "pystac": {"server/services/exports.py"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_nothing_imports_server(package: str) -> None:
    """server is the composition root: no other package imports it."""
    if package == "server":
        return
    for path in _modules(package):
        assert "server" not in _imports(path), path


@pytest.mark.parametrize("package", sorted(LEAVES))
def test_leaves_import_no_sibling(package: str) -> None:
    """ledger, livestock and remote_sensing import no other project package."""
    for path in _modules(package):
        siblings = _imports(path) & (set(PACKAGES) - {package})
        assert not siblings, f"{path} imports {siblings}"


@pytest.mark.parametrize("package", ["underwriting", "claims"])
def test_domain_packages_stay_light(package: str) -> None:
    """claims and underwriting import no heavy library and never claims from underwriting."""
    for path in _modules(package):
        imported = _imports(path)
        assert not imported & HEAVY, f"{path} imports {imported & HEAVY}"
        if package == "underwriting":
            assert "claims" not in imported


@pytest.mark.parametrize("package", PACKAGES)
def test_heavy_libraries_stay_in_their_corner(package: str) -> None:
    """torch, rasterio, web3, fastapi, sqlalchemy appear only where ARCHITECTURE allows."""
    for path in _modules(package):
        rel = path.relative_to(REPO).as_posix()
        for lib in _imports(path) & HEAVY:
            allowed = ALLOWED[lib]
            assert package in allowed or rel in allowed, f"{rel} imports {lib}"


def _server_imports(path: Path) -> set[str]:
    """Full module names a server module imports (``from x.y import z`` gives ``x.y``)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


# What each layer of server/ must never import (ARCHITECTURE.md, issue: server/ in layers).
LAYER_FORBIDS = {
    "i18n": ("server.storage", "server.services", "server.http", "server.cli"),
    "storage": ("server.services", "server.http", "server.cli"),
    "services": ("server.http", "server.cli"),
    "http": ("server.storage", "server.cli"),
    "cli": ("server.storage",),
}


@pytest.mark.parametrize("layer", sorted(LAYER_FORBIDS))
def test_server_layers_import_downwards(layer: str) -> None:
    """storage <- services <- http, cli: no layer imports one above it or beside it."""
    for path in _modules(f"server/{layer}"):
        if "migrations" in path.parts and layer == "storage":
            continue
        for name in _server_imports(path):
            for banned in LAYER_FORBIDS[layer]:
                assert not (name + ".").startswith(banned + "."), (
                    f"{path.relative_to(REPO)} imports {name}"
                )


# SQL is written in server/storage only: services and http see stores, records and
# connections, never the schema's tables or a query builder.
SQL_TYPES_ALLOWED = {"Connection", "Engine"}


@pytest.mark.parametrize("layer", ["services", "http", "cli"])
def test_sql_is_written_in_storage_only(layer: str) -> None:
    """No table, no select/insert/update above server/storage (ARCHITECTURE: stores only)."""
    for path in _modules(f"server/{layer}"):
        where = str(path.relative_to(REPO))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module != "server.storage.schema", (
                    f"{where} reads the schema"
                )
                if node.module.split(".")[0] == "sqlalchemy":
                    names = {a.name for a in node.names}
                    allowed = node.module == "sqlalchemy" and names <= SQL_TYPES_ALLOWED
                    assert allowed or node.module == "sqlalchemy.exc", (
                        f"{where} builds SQL: {node.module} {names}"
                    )
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "sqlalchemy" for a in node.names), (
                    where
                )


def test_server_root_is_only_wiring() -> None:
    """server/'s root holds config, context, chain wiring and errors, nothing else."""
    root = {p.name for p in (REPO / "server").glob("*.py")}
    assert root == {"__init__.py", "config.py", "context.py", "chain.py", "errors.py"}


def test_each_layer_says_what_it_may_import() -> None:
    """Every layer is a folder whose docstring names what it may import."""
    for layer in LAYER_FORBIDS:
        doc = ast.get_docstring(
            ast.parse((REPO / "server" / layer / "__init__.py").read_text())
        )
        assert doc and "import" in doc, layer


# Submodules server may still name: an adapter (web3 stays out of ``ledger``'s
# namespace) and the training tool (its function ``train`` would shadow the module).
SUBMODULES_ALLOWED = {"ledger.adapters.evm", "livestock.train"}
DOMAIN_AND_LEAVES = LEAVES | {"underwriting", "claims"}


def test_server_uses_only_public_names_of_the_packages() -> None:
    """server imports ``from livestock import X``, never ``from livestock.quality import X``."""
    for path in _modules("server"):
        for name in _server_imports(path):
            top = name.split(".")[0]
            if top in DOMAIN_AND_LEAVES and name != top:
                assert name in SUBMODULES_ALLOWED, (
                    f"{path.relative_to(REPO)} imports {name}"
                )


def _module_graph() -> dict[str, set[str]]:
    """Every module of the house and the modules it imports (at the top or inside a function)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in _modules(package):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if target not in modules:
                        target = node.module
                    if target in modules and target != name:
                        graph[name].add(target)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules}
    return graph


def test_no_import_circle_anywhere_in_the_house() -> None:
    graph = _module_graph()
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert (
        "server.cli.livestock" in graph["server.cli.main"]
    )  # the walk sees lazy imports
    assert circles == []
