"""Small helpers shared by the model and measurement tests."""
from __future__ import annotations

import torch

from replication.models import create_model


def meta(name, **kw):
    """Build a registered model on the 'meta' device: shapes only, no memory, no compute."""
    with torch.device("meta"):
        return create_model(name, **kw)
