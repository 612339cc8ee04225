"""The package's layout rules, over every module: stages import only earlier stages, the
definitions in ``hwnas.core`` import nothing else of hwnas, and library code neither prints,
asserts nor moves tensors with ``.cuda()`` (the command line prints; devices are named)."""

import ast
from pathlib import Path

import pytest

import hwnas

PACKAGE = Path(hwnas.__file__).resolve().parent

# The pipeline's order: a stage may import its own modules and those of earlier stages only.
STAGES = ["core", "device", "spaces", "runs", "table", "check", "profile", "search", "pareto", "train", "export", "demo", "api",
          "cli"]
LIBRARY_LIMIT_LINES = 400


def stage_of(module: str) -> str:
    parts = module.split(".")
    if module == "hwnas.__main__":  # python -m hwnas: the command line
        return "cli"
    return parts[1] if len(parts) > 1 else "__init__"


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


def hwnas_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hwnas":
            if node.module == "hwnas":
                yield from (f"hwnas.{a.name}" for a in node.names if a.name != "__version__")
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "hwnas")


ALL = list(modules())


def test_every_module_belongs_to_a_stage():
    assert {stage_of(name) for name, _ in ALL} - {"__init__"} <= set(STAGES)


@pytest.mark.parametrize("name,path", ALL, ids=[n for n, _ in ALL])
def test_a_module_imports_only_its_own_and_earlier_stages(name, path):
    if name == "hwnas":
        return
    own = STAGES.index(stage_of(name))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for imported in hwnas_imports(tree):
        stage = stage_of(imported)
        assert stage in STAGES and STAGES.index(stage) <= own, f"{name} imports {imported} (a later stage)"


@pytest.mark.parametrize("name,path", [(n, p) for n, p in ALL if stage_of(n) != "cli"],
                         ids=[n for n, _ in ALL if stage_of(n) != "cli"])
def test_library_code_does_not_print_assert_or_call_cuda(name, path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Assert), f"{name}:{node.lineno} asserts (raise a clear error instead)"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "print", f"{name}:{node.lineno} prints (return text, or log)"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr != "cuda", f"{name}:{node.lineno} calls .cuda() (use .to(device))"


def test_the_top_of_the_package_shows_the_pipeline():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top
    assert not [n for n in top if n.startswith("cli")], top
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert {"core", "device", "spaces", "profile", "search", "pareto", "export", "cli"} <= stages


@pytest.mark.parametrize("name,path", ALL, ids=[n for n, _ in ALL])
def test_modules_stay_small(name, path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= LIBRARY_LIMIT_LINES, f"{name} has {lines} lines; split it by job"


def imported_modules(name: str, path: Path) -> set:
    """The hwnas modules a module imports anywhere (type-only and in-function imports too), a
    ``from package import module`` counted as the module."""
    names = {n for n, _ in ALL}
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hwnas":
            subs = {f"{node.module}.{a.name}" for a in node.names} & names
            out |= subs or {node.module}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "hwnas"}
    return (out & names) - {name}


def test_no_import_circles():
    """No two modules import each other, directly or through others (a type-only import counts:
    it still ties the two files). An import of a package counts as importing what its
    ``__init__`` imports (``hwnas.spaces``' lazy names, by where they live)."""
    graph = {n: imported_modules(n, p) for n, p in ALL}
    from hwnas.spaces import _WHERE as lazy  # its names, by the module each lives in

    graph["hwnas.spaces"] |= {f"hwnas.spaces.{module}" for module in lazy.values()}
    done, path = set(), []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_the_python_api_name_is_free():
    """``hwnas.api`` is the Python API's module: no stage package may take the name."""
    assert not (PACKAGE / "api").is_dir()
