"""Project plumbing: pins in sync, CLI help for every command, Makefile targets, layout."""
from __future__ import annotations

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


@pytest.mark.parametrize("command", ["data", "models", "info", "schedule", "train", "bench"])
def test_cli_help(command):
    out = subprocess.run([sys.executable, "-m", "replication", command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_cli_without_command_lists_commands():
    out = subprocess.run([sys.executable, "-m", "replication"], capture_output=True, text=True)
    assert out.returncode == 0 and "schedule" in out.stdout and "data" in out.stdout
