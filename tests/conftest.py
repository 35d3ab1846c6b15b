"""Shared test set-up: point the package at the shared dataset mirror and a cache folder."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_shared = REPO.parent / "shared" / "datasets"
if "REPLICATION_DATA_MIRROR" not in os.environ and _shared.is_dir():
    os.environ["REPLICATION_DATA_MIRROR"] = str(_shared)
# unpacked datasets go to a folder of the tests' own (kept between runs), never to ~/.cache
os.environ.setdefault("REPLICATION_DATA_DIR", str(Path(tempfile.gettempdir()) / "replication-test-data"))


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    from data_fakes import FakeEnv
    return FakeEnv(tmp_path, monkeypatch)



@pytest.fixture
def one_thread():
    """The CPU is shared: one intra-op thread avoids oversubscription in small-model tests."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def spec_caches():
    """A function that clears the report's caches of the study spec (call it after changing the spec); also
    called before the test and after it (the caches refill from the real spec on their next use)."""
    from replication.report import arms, tables_proxy

    def clear():
        for cached in (tables_proxy.study_spec, tables_proxy._trial_arm, arms.declared, arms.explained):
            cached.cache_clear()
    clear()
    yield clear
    clear()


def without_judged_on(text: str, family: str) -> str:
    """A study spec's text with ``family``'s judging keys (ni_margin, judged_on, contrasts) taken out."""
    import yaml

    spec = yaml.safe_load(text)
    for key in ("ni_margin", "judged_on", "contrasts_written", "contrasts"):
        spec["families"][family].pop(key, None)
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


@pytest.fixture
def first_proxy_judges(tmp_path_factory, monkeypatch, spec_caches):
    """The study specs as they were before the second proxy's trial was declared: its family has no judged_on,
    so the first proxy (``progressive``) judges the training claims. For tests whose made-up runs are first-proxy
    arms; ``spec_caches`` clears the report's caches when the specs change."""
    from replication import config

    studies = tmp_path_factory.mktemp("studies") / "studies"
    shutil.copytree(config.STUDIES_DIR, studies)
    for name in ("cpu", "gpu"):
        path = studies / f"{name}.yaml"
        path.write_text(without_judged_on(path.read_text(), "second_proxy"))
    monkeypatch.setattr(config, "STUDIES_DIR", studies)
    spec_caches()
    yield studies
