"""Notebooks: clean committed files, complete parameters, smoke execution, `make figures`, failures."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from replication.study import experiments, runbook

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT_NBS = sorted((REPO / "notebooks" / "experiments").glob("*.ipynb"))
FIGURE_NBS = sorted((REPO / "notebooks" / "figures").glob("*.ipynb"))
ALL_NBS = EXPERIMENT_NBS + FIGURE_NBS


def _parameters_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    return nb, cells[0]


def test_notebook_sets_are_complete():
    assert [p.stem for p in EXPERIMENT_NBS] == sorted(runbook.EXPERIMENT_ORDER)
    assert [p.stem for p in FIGURE_NBS] == ["figure01", "figure03", "figure05", "figure06", "tables"]


def test_notebooks_are_generated_from_their_sources():
    assert runbook.sync_notebooks(check=True) == []
    source = REPO / "notebooks" / "figures" / "figure06.py"
    edited = source.read_text().replace("include_smoke = False", "include_smoke = True")
    folder = REPO / "build" / "sync_check" / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "figure06.py").write_text(edited)
    (folder / "figure06.ipynb").write_text((REPO / "notebooks" / "figures" / "figure06.ipynb").read_text())
    assert runbook.sync_notebooks(check=True, folder=folder.parent) == [folder / "figure06.ipynb"]  # it can fail


@pytest.mark.parametrize("path", ALL_NBS, ids=lambda p: p.name)
def test_committed_notebook_is_clean(path):
    nb, params = _parameters_cell(path)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} carries outputs"
    for node in ast.parse(params.source).body:  # plain literals: no derived values in the parameters cell
        assert isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name), ast.dump(node)
        ast.literal_eval(node.value)


@pytest.mark.parametrize("path", EXPERIMENT_NBS, ids=lambda p: p.name)
def test_parameters_and_their_help_come_from_the_spec(path):
    _, params = _parameters_cell(path)
    lines = params.source.splitlines()
    names = [line.split("=")[0].strip() for line in lines]
    assert names[0] == "study" and set(names) <= set(experiments.PARAMETERS)
    for line, name in zip(lines, names):
        assert line.endswith(f"# {experiments.PARAMETERS[name][2]}"), line
    out = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in names:
        assert f"  {name}: " in out.stdout, f"--help-notebook does not list {name}"


@pytest.mark.parametrize("values,needle", [
    ({"study": "smoke", "arms": "P", "seeds": [], "root": ""}, "notebook parameter arms='P': expected a list of str"),
    ({"study": "smoke", "arms": [], "seeds": 0, "root": ""}, "notebook parameter seeds=0: expected a list of int"),
    ({"study": "smoke", "arms": [], "seeds": ["0"], "root": ""}, "seeds=\\['0'\\]"),
    ({"study": 1, "arms": [], "seeds": [], "root": ""}, "notebook parameter study=1: expected a str"),
    ({"study": "smoke", "arms": [], "seeds": [], "root": "", "samplez": 3}, "\\['samplez'\\] unknown to the progressive"),
])
def test_notebook_parameters_of_the_wrong_shape_are_named(values, needle):
    with pytest.raises(ValueError, match=needle):
        experiments.check_parameters(values, "progressive")
    experiments.check_parameters({"study": "smoke", "arms": ["P"], "seeds": [0], "root": "", "np": pytest}, "progressive")
    with pytest.raises(ValueError, match="unknown to the static notebook"):
        experiments.check_parameters({"study": "smoke", "root": "", "arms": []}, "static")


def test_unknown_set_key_is_refused(tmp_path):
    with pytest.raises(runbook.NotebookFailure, match="samplez"):
        runbook.experiment_jobs("smoke", tmp_path / "build", only=["nas"], overrides={"samplez": 3})
    (job,) = runbook.experiment_jobs("cpu", tmp_path / "build", only=["progressive"], overrides={"seeds": [0]})
    assert job[2] == {"study": "cpu", "seeds": [0]}


def _cli(*args, timeout=600):
    # one thread per process: on 2 shared cores, oversubscribed OpenMP threads slow torch down by 10-50x
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "replication", *map(str, args)], cwd=REPO,
                         capture_output=True, text=True, timeout=timeout, env=env)
    return out, time.perf_counter() - start


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """Every experiment notebook executed top to bottom under the smoke profile (into a tmp folder)."""
    root = tmp_path_factory.mktemp("smoke")
    out, seconds = _cli("experiments", "--profile", "smoke", "--build", root / "build", "--set", f"root={root}")
    assert out.returncode == 0, out.stdout + out.stderr
    print(f"experiments --profile smoke: {seconds:.1f} s")
    return root


@pytest.mark.timeout(420)
def test_experiment_notebooks_run_under_smoke_and_are_resumable(smoke_results):
    results = smoke_results / "results"
    for path in ("static/params_macs.csv", "static/table04.csv", "static/datasets.csv", "bench/speed_smoke.csv",
                 "nas/STATUS.yaml"):
        assert (results / path).is_file(), path
    for experiment in ("t05_size_aug", "t12_progressive", "t08_transfer"):
        summaries = list((results / experiment).glob("*/summary.json"))
        assert summaries, experiment
        assert json.loads(summaries[0].read_text())["status"] == "complete"
    for nb in EXPERIMENT_NBS:
        assert (smoke_results / "build" / "experiments" / "smoke" / nb.name).is_file()
    # a second pass skips finished runs: the summaries are left untouched
    stamp = {p: p.stat().st_mtime_ns for p in results.glob("*/*/summary.json")}
    out, _ = _cli("experiments", "--profile", "smoke", "--only", "size_augmentation", "--build",
                  smoke_results / "build", "--set", f"root={smoke_results}")
    assert out.returncode == 0, out.stderr
    assert {p: p.stat().st_mtime_ns for p in results.glob("*/*/summary.json")} == stamp


@pytest.mark.timeout(300)
def test_make_figures_writes_every_figure_table_and_the_report(smoke_results, tmp_path):
    out, seconds = _cli("figures", "--results", smoke_results / "results", "--figures", tmp_path / "fig",
                        "--build", tmp_path / "build", "--include-smoke")
    assert out.returncode == 0, out.stdout + out.stderr
    print(f"figures from smoke results: {seconds:.1f} s")
    names = [f"figure0{n}.{ext}" for n in (1, 3, 5, 6) for ext in ("png", "svg")]
    names += [f"table{n:02d}.{ext}" for n in range(2, 14) for ext in ("csv", "md")] + ["REPORT.md"]
    for name in names:
        assert (tmp_path / "fig" / name).stat().st_size > 0, name
    report = (tmp_path / "fig" / "REPORT.md").read_text()
    for heading in ("## Claims ledger", "## Where the paper and the official code disagree",
                    "## Still missing measured values", "![Figure 6](figure06.png)"):
        assert heading in report
    html = (tmp_path / "build" / "report.html").read_text()
    assert "Claims ledger" in html and "data:image/png;base64" in html  # images embedded
    assert "from replication" not in html and "build_figure" not in html  # no code shown
    # smoke runs were included on request, and nothing is judged on 1 seed
    assert "efficientnetv2_b0" in report


@pytest.mark.timeout(300)
def test_a_broken_notebook_fails_the_command_naming_notebook_and_cell(tmp_path):
    nb = nbformat.read(REPO / "notebooks" / "figures" / "figure06.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('deliberately broken')"))
    nb.cells[2].id = "broken-cell"
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / "broken.ipynb")
    out, _ = _cli("figures", "--notebooks", folder, "--results", tmp_path / "empty", "--figures", tmp_path / "fig",
                  "--build", tmp_path / "build")
    assert out.returncode == 1
    assert "broken.ipynb: cell 2 (0-based" in out.stderr, out.stderr
    assert "RuntimeError: deliberately broken" in out.stderr and "raise RuntimeError" in out.stderr
