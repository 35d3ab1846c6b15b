"""Small helpers shared by the model and measurement tests."""
from __future__ import annotations

import torch

from replication.models import create_model


def meta(name, **kw):
    """Build a registered model on the 'meta' device: shapes only, no memory, no compute."""
    with torch.device("meta"):
        return create_model(name, **kw)


def readme_commands(program: str) -> list[list[str]]:
    """The README's shell lines (```bash blocks) that run ``program`` (e.g. "papermill", "python -m replication"),
    as argument lists: continuation lines joined, comments and leading VAR=value assignments dropped."""
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                words.pop(0)
            if words[:len(program.split())] == program.split():
                found.append(words[len(program.split()):])
    return found
