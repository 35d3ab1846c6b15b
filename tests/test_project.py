"""Project plumbing: pins in sync, CLI help for every command, Makefile targets, layout."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_list) == wanted
    assert wanted["torch"] == "2.14.1" and wanted["torchvision"] == "0.29.1"
    assert all("==" in d for d in project["dependencies"]), "every runtime dependency is pinned"


def test_layout():
    for name in ("notebooks", "replication", "figures", "data_manifests", "tests", "results",
                 "environment.yml", "Makefile", "README.md", ".ci/run", "pyproject.toml"):
        assert (REPO / name).exists(), name


def test_makefile_targets_and_readme_commands():
    makefile = (REPO / "Makefile").read_text()
    for target in ("setup", "test", "figures", "experiments", "report", "bench", "clean"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    readme = (REPO / "README.md").read_text()
    assert "make figures" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()


from replication.__main__ import COMMANDS  # noqa: E402


@pytest.mark.parametrize("command", list(COMMANDS))
def test_cli_help(command):
    out = subprocess.run([sys.executable, "-m", "replication", command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_cli_without_command_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "replication"], capture_output=True, text=True)
    assert out.returncode == 0
    listed = re.findall(r"^    (\S+)", out.stdout, re.M)
    assert set(COMMANDS) <= set(listed), set(COMMANDS) - set(listed)


def test_one_command_line_no_module_entry_points():
    """Every command goes through `python -m replication`: no module of the package runs on its own."""
    for path in sorted((REPO / "replication").rglob("*.py")):
        if path.name != "__main__.py":
            assert '__name__ == "__main__"' not in path.read_text(), path


# ---- layout: the subject at the root, the study layer above it, no import circles -----------------
def _imports(path: Path, root: Path = REPO) -> set[str]:
    """Modules of the package under ``root`` that ``path`` imports (at any depth: function-level imports count)."""
    package = "replication." + ".".join(path.relative_to(root / "replication").with_suffix("").parts)
    package = package.removesuffix(".__init__")
    base = package if path.name == "__init__.py" else package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                mod = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [f"{mod}.{a.name}" for a in node.names]
            found |= {n for n in names if _module_file(n, root)} or {mod}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("replication") and _module_file(m, root)}


def _module_file(name: str, root: Path = REPO) -> Path | None:
    path = root / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _graph(root: Path = REPO) -> dict[str, set[str]]:
    graph = {}
    for path in sorted((root / "replication").rglob("*.py")):
        name = "replication." + ".".join(path.relative_to(root / "replication").with_suffix("").parts)
        name = name.removesuffix(".__init__")
        graph[name] = {m for m in _imports(path, root) if m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_and_the_config_schema_is_a_leaf():
    """Every import counts, function-level ones and a package's imports of its own modules included: a module
    that imports a name of its package's ``__init__``, which imports that module, is a circle too."""
    graph = _graph()
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph))}"
    assert graph["replication.config"] == set(), graph["replication.config"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the walker finds a circle


def test_the_circle_check_finds_a_function_level_circle_through_a_package(tmp_path):
    package = tmp_path / "replication" / "report"
    package.mkdir(parents=True)
    (tmp_path / "replication" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("TABLES = ()\n\ndef write():\n    from replication.report import document\n")
    (package / "document.py").write_text("from replication.report import TABLES\n")
    assert _cycle(_graph(tmp_path)) == ["replication.report", "replication.report.document", "replication.report"]


def test_every_function_level_import_of_the_package_says_why_it_is_lazy():
    """Imports of the package's own modules sit at the top of a module, unless a ``# lazy:`` comment on the line
    says what importing later saves (issue 32: timm, torchvision or the trainer for commands that need none)."""
    unexplained = []
    for path in sorted((REPO / "replication").rglob("*.py")):
        lines = path.read_text().splitlines()
        for func in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                module = node.module if isinstance(node, ast.ImportFrom) else \
                    node.names[0].name if isinstance(node, ast.Import) else ""
                if (module or "").startswith("replication") and "# lazy:" not in lines[node.lineno - 1]:
                    unexplained.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not unexplained, f"function-level imports without a '# lazy:' reason: {unexplained}"


def test_the_subject_does_not_import_the_study_layer():
    graph = _graph()
    subject = [m for m in graph if not m.startswith(("replication.study", "replication.report", "replication.__main__"))]
    for module in subject:
        above = {m for m in graph[module] if m.startswith(("replication.study", "replication.report"))}
        assert not above, f"{module} imports {above}"


def test_the_study_layer_does_not_import_the_report():
    """Imports run one way: the report reads the study's specs; the study never reads the report (issue 32)."""
    graph = _graph()
    for module in (m for m in graph if m.startswith("replication.study")):
        above = {m for m in graph[module] if m.startswith("replication.report")}
        assert not above, f"{module} imports {above}"


def test_the_module_index_names_every_module():
    index = (REPO / "replication" / "__init__.py").read_text()
    for path in sorted((REPO / "replication").iterdir()):
        if (path.suffix == ".py" and not path.name.startswith("_")) or (path / "__init__.py").is_file() \
                or path.name == "studies":
            assert re.search(rf"^  {path.stem}\b", index, re.M), f"replication/__init__.py does not list {path.stem}"


# ---- one place for each value ---------------------------------------------------------------------
def _files(*suffixes):
    return [p for p in sorted(REPO.glob("**/*")) if p.suffix in suffixes and p.is_file()
            and not any(part in (".venv", "build", ".git", "results", "figures") for part in p.relative_to(REPO).parts)
            and "paper_data" not in p.parts]


def test_experiment_names_and_profile_values_are_written_once():
    from replication.study.spec import EXPERIMENTS

    texts = {p: p.read_text() for p in _files(".py", ".yaml", ".sh", ".ipynb", ".md")
             if p.name != "REPORT.md" and "tests" not in p.relative_to(REPO).parts}
    for name in set(EXPERIMENTS.values()) - {"static", "bench", "nas"}:  # those three are plain words too
        places = [str(p.relative_to(REPO)) for p, t in texts.items() if re.search(rf"\b{name}\b", t)
                  and p.suffix in (".py", ".yaml")]
        assert places == ["replication/study/spec.py"], f"{name} is written in {places}"
    profiles = sorted(p.stem for p in (REPO / "replication" / "studies").glob("*.yaml"))
    assert profiles == ["cpu", "gpu", "smoke"]
    assert not (REPO / "replication" / "profiles").exists() and not (REPO / "notebooks" / "profiles").exists()


def test_table6_values_are_read_from_the_transcription_only():
    from replication import progressive

    assert not hasattr(progressive, "PAPER_DEFAULTS")
    table6 = progressive.paper_defaults()
    pairs = ("image_size", "randaug_magnitude", "mixup_alpha", "dropout")
    for path in _files(".yaml"):
        for node in _mappings(yaml.safe_load(path.read_text())):
            if all(k in node for k in pairs):
                values = {k: tuple(node[k]) for k in pairs}
                assert values not in table6.values(), f"{path} writes a Table 6 row again"
    for path in _files(".py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "dict" and node.keywords:
                try:
                    values = {k.arg: tuple(ast.literal_eval(k.value)) for k in node.keywords}
                except (ValueError, TypeError):
                    continue
                assert values not in table6.values(), f"{path}:{node.lineno} types a Table 6 row again"


def _mappings(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _mappings(value)


# ---- the README's commands, as written --------------------------------------------------------------
from helpers import readme_commands  # noqa: E402

README = readme_commands("python -m replication")
# cheap enough to run as written (the others train, download, or write results/: their options are parsed)
RUN_AS_WRITTEN = {("schedule", "--mode"), ("config", "show"), ("data", "list"), ("study", "show"), ("models",),
                  ("info", "efficientnetv2_s")}


def test_the_readme_shows_the_commands_these_tests_run():
    assert len(README) >= 12 and all(any(tuple(c[:len(k)]) == k for c in README) for k in RUN_AS_WRITTEN)


@pytest.mark.parametrize("argv", README, ids=" ".join)
def test_readme_command_parses_as_written(argv, capsys):
    """Every option of the README's line exists and takes the value shown (``--help`` after them)."""
    from replication.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0, capsys.readouterr().err
    assert "usage: python -m replication" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [c for c in README if any(tuple(c[:len(k)]) == k for k in RUN_AS_WRITTEN)],
                         ids=" ".join)
def test_readme_command_runs_as_written(argv, capsys):
    from replication.__main__ import main

    assert main(list(argv)) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip()


def test_the_readme_stops_a_run_by_the_pid_in_its_lock(tmp_path):
    """The README's kill line, with the lock of a stand-in process; never a pkill of every training."""
    import json
    import shlex

    readme = (REPO / "README.md").read_text()
    assert 'pkill -f "replication train"`: it stops every training' in readme  # named only as what not to do
    (line,) = re.findall(r"^kill \$\(python .*$", readme, re.M)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / ".lock"
        lock.write_text(json.dumps({"pid": victim.pid, "host": "here", "started": "now"}))
        command = line.replace("$(python ", f"$({shlex.quote(sys.executable)} ", 1)
        command = command.replace(" results/t12_progressive/P_seed0/.lock)", f" {shlex.quote(str(lock))})")
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (command, out.stderr)
        assert victim.wait(timeout=30) != 0
    finally:
        victim.kill()


@pytest.mark.parametrize("path", sorted((REPO / "tests").glob("test_*.py")), ids=lambda p: p.name)
def test_no_test_sharing_a_slow_fixture_has_a_time_limit_of_its_own(path):
    """A module-scoped fixture runs inside the first test that uses it, so a per-test time limit there
    measures the machine's speed (a busy one failed at 300 s); the suite-wide --timeout is the only limit."""
    tree = ast.parse(path.read_text())
    shared = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for d in f.decorator_list
              if isinstance(d, ast.Call) and any(k.arg == "scope" for k in d.keywords)}
    for f in ast.walk(tree):
        if isinstance(f, ast.FunctionDef) and f.name.startswith("test_"):
            limited = any("timeout" in ast.unparse(d) for d in f.decorator_list)
            assert not (limited and shared & {a.arg for a in f.args.args}), \
                f"{path.name}::{f.name} has its own timeout but uses a shared fixture ({shared})"
