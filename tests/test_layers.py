"""The package's import graph: each module imports only from its own layer or lower ones, with
no cycle between modules (docs/architecture.md draws the layers)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pmfnas

ROOT = Path(pmfnas.__file__).parent

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_version", "errors", "units", "registry", "types", "safe_pickle", "outputs"),
    ("data",),
    ("spaces",),
    ("tables", "training", "predictors"),
    ("evaluators",),
    ("strategies", "oneshot"),
    ("storage", "executors", "study", "parallel", "ask_tell"),
    ("runs",),
    ("report",),
    ("cli", "__main__", "__init__"),
)
"""Lowest first; a module's layer is that of its top-level name under ``pmfnas``."""


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for number, names in enumerate(LAYERS):
        if top in names:
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def module_name(path: Path) -> str:
    parts = ["pmfnas", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module → the pmfnas modules it imports (at any depth of its code)."""
    graph: dict[str, set[str]] = {}
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = node.module
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            found.update(t for t in targets if t.split(".")[0] == "pmfnas" and t in modules)
        graph[name] = found - {name}
    return graph


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{module} ({layer(module)}) imports {target} ({layer(target)})"
        for module, targets in imports().items()
        for target in targets
        if layer(target) > layer(module) and not module.endswith("__init__") and module != "pmfnas"
    ]
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycle():
    graph = imports()
    # a package's __init__ re-exporting its modules is not a dependency of those modules on it
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_a_tabular_search_from_the_cli_never_imports_torch(bench, tmp_path):
    """The tabular path stays light: no torch is loaded to search a table (2 s, not 10)."""
    script = (
        "import sys\n"
        "from pmfnas.cli import main\n"
        "try:\n"
        "    main(['search', '--benchmark', 'nb201', '--strategy', 'rea', '--budget', '2000',\n"
        f"          '--data-dir', {str(bench.source.parent)!r}, '--json', {str(tmp_path / 's.json')!r}])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "s.json").read_text())["strategy"] == "rea"


def test_a_worker_process_imports_only_what_it_runs():
    """A worker imports the executor's module before anything else: the package's names are
    imported on first use, so strategies and SciPy (1.5 s of every worker's start) stay out."""
    script = (
        "import sys\n"
        "import pmfnas.executors.process\n"
        "heavy = [m for m in ('pmfnas.strategies', 'pmfnas.parallel', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from pmfnas import Study, __all__\n"
        "import pmfnas\n"
        "assert all(hasattr(pmfnas, name) for name in __all__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
