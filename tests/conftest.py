"""Shared test set-up: point the package at the shared dataset mirror and a cache folder."""
from __future__ import annotations

import os
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
