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
EXAMPLE_NBS = sorted((REPO / "notebooks" / "examples").glob("*.ipynb"))
ALL_NBS = EXPERIMENT_NBS + FIGURE_NBS + EXAMPLE_NBS


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


def test_a_profile_runs_the_notebooks_of_the_families_its_spec_declares(tmp_path):
    def names(profile):
        return [path.stem for path, _, _ in runbook.experiment_jobs(profile, tmp_path)]

    assert names("smoke") == names("cpu") == list(runbook.EXPERIMENT_ORDER)
    assert names("gpu") == [n for n in runbook.EXPERIMENT_ORDER if n != "tuning"]  # it reuses the cpu-tuned recipe


def test_a_study_spec_that_does_not_load_is_one_error_line(tmp_path, monkeypatch, capsys):
    from replication.config import ConfigError

    def broken(profile):
        raise ConfigError(f"replication/studies/{profile}.yaml: families: expected a mapping")

    monkeypatch.setattr(runbook.spec, "load", broken)
    assert runbook.experiments("smoke", tmp_path / "build") == 2
    assert capsys.readouterr().err == "error: replication/studies/smoke.yaml: families: expected a mapping\n"
    assert not (tmp_path / "build").exists()


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


def test_experiment_notebooks_run_under_smoke_and_are_resumable(smoke_results):
    results = smoke_results / "results"
    for path in ("static/params_macs.csv", "static/table04.csv", "static/datasets.csv", "bench/speed_smoke.csv",
                 "nas/STATUS.yaml"):
        assert (results / path).is_file(), path
    for experiment in ("t05_size_aug", "t12_progressive", "t08_transfer", "t30_tuning", "t30_second_proxy"):
        summaries = list((results / experiment).glob("*/summary.json"))
        assert summaries, experiment
        assert json.loads(summaries[0].read_text())["status"] == "complete"
    for run in (results / "t30_tuning").glob("*/config.yaml"):  # tuning scores on the minival, never on val
        assert yaml.safe_load(run.read_text())["data"]["eval_split"] == "minival", run
    for nb in EXPERIMENT_NBS:
        assert (smoke_results / "build" / "experiments" / "smoke" / nb.name).is_file()
    # a second pass skips finished runs: the summaries are left untouched
    stamp = {p: p.stat().st_mtime_ns for p in results.glob("*/*/summary.json")}
    out, _ = _cli("experiments", "--profile", "smoke", "--only", "size_augmentation", "--build",
                  smoke_results / "build", "--set", f"root={smoke_results}")
    assert out.returncode == 0, out.stderr
    assert {p: p.stat().st_mtime_ns for p in results.glob("*/*/summary.json")} == stamp


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


def test_the_progressive_any_model_example_runs_top_to_bottom(tmp_path):
    """The README's example: a timm ResNet-18 trained progressively in a user's loop and by the trainer."""
    assert [p.stem for p in EXAMPLE_NBS] == ["progressive_any_model"]
    out = tmp_path / "executed.ipynb"
    seconds = runbook.execute(EXAMPLE_NBS[0], out, {"root": str(tmp_path), "epochs": 2}, REPO)
    print(f"progressive_any_model: {seconds:.1f} s")
    text = "\n".join(o.get("text", "") for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"
                     for o in c.outputs)
    assert "epoch 1: stage 1, 64 px" in text and "epoch 2: stage 2, 96 px" in text and "dropout 0.3" in text
    assert "complete: EMA top-1" in text
    assert list((tmp_path / "results" / "progressive_any_model").glob("*/summary.json"))


def test_a_broken_notebook_fails_the_command_naming_notebook_and_cell(tmp_path):
    nb = nbformat.read(REPO / "notebooks" / "figures" / "figure06.ipynb", as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('deliberately broken')"))
    nb.cells[2].id = "broken-cell"
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / "broken.ipynb")
    (tmp_path / "empty").mkdir()
    out, _ = _cli("figures", "--notebooks", folder, "--results", tmp_path / "empty", "--figures", tmp_path / "fig",
                  "--build", tmp_path / "build")
    assert out.returncode == 1
    assert "broken.ipynb: cell 2 (0-based" in out.stderr, out.stderr
    assert "RuntimeError: deliberately broken" in out.stderr and "raise RuntimeError" in out.stderr


# ---- parameters as papermill passes them; the figures and report commands refusing what they cannot use ------
from helpers import readme_commands  # noqa: E402
from replication import report  # noqa: E402
from replication.__main__ import main  # noqa: E402
from replication.report.collect import ResultsError  # noqa: E402


def test_papermill_strings_are_read_as_yaml_and_the_hint_shows_the_typed_form():
    values = experiments.check_parameters({"study": "cpu", "arms": "[P, F]", "seeds": "[0, 1]", "root": ""},
                                          "progressive")
    assert values == {"study": "cpu", "root": "", "arms": ["P", "F"], "seeds": [0, 1]}
    assert experiments.check_parameters({"study": "no", "root": "1"}, "static") == {"study": "no", "root": "1"}
    with pytest.raises(ValueError, match=r"""arms='\[P, F': expected a list of str values .*; e.g. -y "arms: \[...\]"$"""):
        experiments.check_parameters({"study": "cpu", "arms": "[P, F", "seeds": [], "root": ""}, "progressive")


@pytest.mark.parametrize("given,expected", [("false", False), ("False", False), ("true", True), (False, False)])
def test_figure_notebooks_read_include_smoke_as_a_boolean(tmp_path, given, expected):
    values = {"results_dir": str(tmp_path), "figures_dir": "fig", "include_smoke": given, "report": report}
    assert report.check_parameters(values, "figure01")["include_smoke"] is expected


@pytest.mark.parametrize("change,needle", [
    ({"include_smoke": "maybe"}, "notebook parameter include_smoke='maybe': expected a bool .*-p include_smoke false"),
    ({"include_smok": True}, "notebook parameter\\(s\\) \\['include_smok'\\] unknown to the figure01 notebook"),
    ({"results_dir": "no/such/folder"}, "notebook parameter results_dir no/such/folder: no such folder"),
])
def test_figure_notebook_parameters_are_checked_naming_the_parameter(tmp_path, change, needle):
    values = {"results_dir": str(tmp_path), "figures_dir": "fig", "include_smoke": False, **change}
    with pytest.raises(ValueError, match=needle):
        report.check_parameters(values, "figure01")


class Drawn(Exception):
    """Raised by a stand-in for the drawing code, with the arguments it was given."""


def _record(*args):
    raise Drawn(args)


def test_figure_notebooks_draw_with_the_checked_values(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "build_figure", _record)
    monkeypatch.setattr(report, "results", _record)
    values = {"results_dir": str(tmp_path), "figures_dir": str(tmp_path / "fig"), "include_smoke": "false"}
    with pytest.raises(Drawn) as figure:
        report.show_figure("F1", check=values)
    with pytest.raises(Drawn) as tables:
        report.build_tables(check=values)
    assert figure.value.args[0] == ("F1", str(tmp_path), str(tmp_path / "fig"), False)
    assert tables.value.args[0] == (str(tmp_path), False)


def _prepared(args: list[str], out: Path) -> tuple[dict, str]:
    """``papermill <args>`` with --prepare-only (parameters injected, nothing run): the namespace that the
    notebook's parameter cells leave, and the code of its last cell."""
    done = subprocess.run([sys.executable, "-m", "papermill", *args, "--prepare-only"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(out, as_version=4)
    namespace = {}
    for cell in nb.cells:
        if {"parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])):
            exec(cell.source, namespace)
    return namespace, [c for c in nb.cells if c.cell_type == "code"][-1].source


@pytest.mark.parametrize("args", [*readme_commands("papermill"),  # the README's line as written, and the -p form
                                  ["notebooks/experiments/progressive.ipynb", "build/progressive.ipynb", "-p", "study",
                                   "cpu", "-p", "arms", "[P, F]"]], ids=" ".join)
def test_readme_papermill_command_runs_the_arms_it_names(args, tmp_path, monkeypatch):
    """Through papermill's own parsing into the notebook's last cell, with training replaced by a recorder."""
    out = tmp_path / "out.ipynb"
    namespace, code = _prepared([args[0], str(out), *args[2:]], out)
    ran = []
    monkeypatch.setattr(experiments, "run_arm", lambda study, arm, seed, *a, **k: ran.append((arm.name, seed)) or {})
    exec(code, namespace)
    seeds = experiments.spec_mod.load("cpu").family("progressive").arms["P"].seeds
    assert ran == [("P", s) for s in seeds] + [("F", s) for s in seeds]


def test_papermill_include_smoke_false_reaches_the_figure_as_false(tmp_path, monkeypatch):
    out = tmp_path / "out.ipynb"
    namespace, code = _prepared(["notebooks/figures/figure06.ipynb", str(out), "-p", "include_smoke", "false",
                                 "-p", "results_dir", str(tmp_path)], out)
    monkeypatch.setattr(report, "build_figure", _record)
    with pytest.raises(Drawn) as figure:
        exec(code, namespace)
    assert figure.value.args[0] == ("F6", str(tmp_path), "figures", False)


def test_an_executed_figure_notebook_stops_on_a_missing_results_folder(tmp_path):
    with pytest.raises(runbook.NotebookFailure, match=f"figure01.ipynb: cell .* raised ResultsError: notebook "
                                                      f"parameter results_dir {tmp_path / 'gone'}: no such folder"):
        runbook.execute(REPO / "notebooks" / "figures" / "figure01.ipynb", tmp_path / "out.ipynb",
                        {"results_dir": str(tmp_path / "gone"), "figures_dir": str(tmp_path / "fig")})
    assert not (tmp_path / "fig").exists()


def _read_only(tmp_path) -> Path:
    """A folder this process cannot write to (root ignores file modes: then /sys, mounted read-only)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        return folder
    for candidate in (Path("/sys"), Path("/proc")):
        try:
            (candidate / "replication-probe").mkdir()
        except OSError:
            return candidate / "replication-out"
    pytest.skip("no folder here refuses writes")


@pytest.mark.parametrize("command", ["figures", "report"])
def test_figures_and_report_refuse_a_missing_results_folder_and_an_unwritable_output(tmp_path, capsys, command):
    assert main([command, "--results", str(tmp_path / "gone"), "--figures", str(tmp_path / "fig"),
                 "--build", str(tmp_path / "build")]) == 2
    assert capsys.readouterr().err == (f"error: --results {tmp_path / 'gone'}: no such folder; give the folder that "
                                       "holds the run records (default: results/)\n")
    blocked = _read_only(tmp_path)
    for option in ("--figures", "--build"):
        folders = {"--figures": tmp_path / "fig", "--build": tmp_path / "build", option: blocked}
        assert main([command, "--results", str(tmp_path), *[str(x) for kv in folders.items() for x in kv]]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {option} {blocked}: cannot write there (") and err.count("\n") == 1, err
        assert err.endswith(f"give a writable folder with {option}\n")


CORRUPT = [("config.yaml", b"model: [efficientnet\n", "while parsing a flow sequence"),
           ("config.yaml", b"", "it is empty"),
           ("config.yaml", b"- a list\n", "it holds a list, not a dict"),
           ("summary.json", b'{"final": {"ema_top1', "Unterminated string"),
           ("summary.json", b"\x00\xff\xfe", "can't decode byte"),
           ("epochs.csv", b"epoch,val_top1,ema_top1\n1,2,3\n2,3,4,5,6\n", "Expected 3 fields in line 3, saw 5")]


def _one_run(root: Path) -> Path:
    from test_paper import _run

    _run(root, "t12_progressive", "P_seed0", {"profile": "cpu", "seed": 0, "model": {"name": "efficientnetv2_b0"},
                                              "schedule": {"mode": "paper"}, "train": {"epochs": 3}}, 80.0)
    return root / "t12_progressive" / "P_seed0"


@pytest.mark.parametrize("name,content,reason", CORRUPT, ids=lambda x: x if isinstance(x, str) and "." in x else None)
def test_a_corrupted_run_file_is_named_with_the_fix(tmp_path, name, content, reason):
    from replication.report.collect import Results

    (_one_run(tmp_path) / name).write_bytes(content)
    res = Results(tmp_path)
    with pytest.raises(ResultsError) as err:
        res.epochs("t12_progressive")
    message = str(err.value)
    assert message.startswith(f"cannot read results file {tmp_path / 't12_progressive' / 'P_seed0' / name}: ")
    assert reason in message and "\n" not in message
    assert message.endswith("or delete it and regenerate it (a run's file: train that run again)")


def test_report_names_a_corrupted_file_in_one_line(tmp_path, capsys):
    (_one_run(tmp_path / "results") / "summary.json").write_text("{")
    assert main(["report", "--results", str(tmp_path / "results"), "--figures", str(tmp_path / "fig"),
                 "--build", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read results file ") and "summary.json" in err and err.count("\n") == 1
