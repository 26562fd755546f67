"""The shape of the package, as docs/architecture.md draws it: which module may import which, and what each exports.

The rule: the core (the pipeline's pure modules and ``detectors/``) imports only the core; the edges (``streams/``,
``api/``, ``notify/`` and the serve side's state) import the core and each other; the lab (``lab/``) and the
command line may import anything, and nothing but the command line imports the lab.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "correlate"

CORE = {
    "correlate.actions",
    "correlate.config",
    "correlate.contracts",
    "correlate.engine",
    "correlate.errors",
    "correlate.events",
    "correlate.incidents",
    "correlate.intake",
    "correlate.lifecycle",
    "correlate.limits",
    "correlate.scope",
    "correlate.severity",
    "correlate.stamps",
    "correlate.status_feed",
    "correlate.stitch",
    "correlate.telemetry",
    "correlate.topics",
    "correlate.vendor_view",
    "correlate.vendors",
}
FREE = {"correlate.cli", "correlate.extras", "correlate.logs", "correlate.progress", "correlate.settings_doc"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> str:
    if module in CORE or module.startswith("correlate.detectors"):
        return "core"
    if module.startswith("correlate.lab") or module in FREE:
        return "free"
    return "edge"


def _imports(path: Path) -> set[str]:
    """Every correlate module the file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("correlate"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("correlate"):
            names.add(node.module)
            names.update(
                f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in MODULES
            )
    return {name for name in names if name in MODULES and name != "correlate"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module: str) -> None:
    layer = _layer(module)
    imported = _imports(MODULES[module])
    if layer == "core":
        outside = sorted(name for name in imported if _layer(name) != "core")
        assert not outside, f"the core module {module} imports {outside}: the core does no I/O and knows no edge"
    elif layer == "edge":
        lab = sorted(name for name in imported if name.startswith("correlate.lab") or name == "correlate.cli")
        assert not lab, f"{module} imports {lab}: the pipeline must run without the lab"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_exports(module: str) -> None:
    """``__all__`` lists exactly the module's public definitions: what another module may rely on."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    declared: list[str] | None = None
    defined: set[str] = set()
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == "__all__" and node.value is not None:
                    declared = list(ast.literal_eval(node.value))
                elif isinstance(target, ast.Name):
                    bound.add(target.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            if not node.name.startswith("_"):
                defined.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    assert declared is not None, f"{module} has no __all__"
    missing = sorted(defined - set(declared))
    assert not missing, f"{module} defines {missing} but does not export them in __all__"
    unknown = sorted(set(declared) - bound)
    assert not unknown, f"{module} exports {unknown}, which it neither defines nor imports"
