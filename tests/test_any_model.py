"""Progressive learning for any model (issue 32): the stage step, timm names, registered and given modules,
torchvision's classifiers, through a user's own loop and through the trainer."""
from __future__ import annotations

import json

import pytest
import torch
import torchvision
from timm.data import Mixup
from torch import nn

from replication import config as C
from replication import data, models, progressive, recipe, train
from replication.models import registry

PROGRESSIVE = C.CONFIGS_DIR / "progressive.yaml"
STAGES = progressive.schedule("paper", 4, 2, image_size=(32, 48), randaug_magnitude=(0, 10), mixup_alpha=(0.0, 0.2),
                              dropout=(0.0, 0.3))


class TinyCNN(nn.Module):
    """A hand-written classifier with its dropout in a torchvision-style ``classifier``."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(0.0), nn.Linear(8, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


@pytest.fixture
def own_registry(monkeypatch):
    """A registry copy for the test: what it registers is gone afterwards."""
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))


def _dropout(model) -> float | None:
    """The classifier dropout a model trains with now (None: it has none)."""
    if hasattr(model, "drop_rate"):
        return model.drop_rate
    return next((m.p for m in model.modules() if isinstance(m, nn.Dropout)), None)


@pytest.mark.parametrize("build", [lambda: models.create_model("timm:resnet18", num_classes=10), lambda: TinyCNN(10)],
                         ids=["timm_resnet18", "tiny_cnn"])
def test_apply_stage_switches_transform_mixup_and_dropout(build):
    model, mixup = build(), Mixup(mixup_alpha=0.0, num_classes=10)
    train_set = data.get_dataset("imagenette_tiny", "train")
    for stage in STAGES:
        transform = recipe.apply_stage(stage, model=model, dataset=train_set, mixup=mixup)
        assert train_set.transform is transform and transform.image_size == stage.image_size
        assert transform.randaug_magnitude == stage.randaug_magnitude
        assert mixup.mixup_alpha == stage.mixup_alpha and mixup.mixup_enabled == (stage.mixup_alpha > 0)
        assert _dropout(model) == stage.dropout
        x = transform.finish(torch.utils.data.default_collate([train_set[i][0] for i in range(2)]))
        assert x.shape == (2, 3, stage.image_size, stage.image_size) and x.dtype == torch.float32
    step = progressive.Step(40, 0.1, 0.2)  # a per-batch step: no transform, mixup and dropout only
    assert recipe.apply_stage(step, model=model, mixup=mixup) is None and _dropout(model) == 0.2
    with pytest.raises(TypeError, match="needs a progressive.Stage"):
        recipe.apply_stage(step, dataset=train_set)


def test_a_torchvision_resnet18_trains_progressively_in_a_users_loop():
    """Stages without dropout (it has none before its classifier): sizes and RandAugment still grow."""
    model, mixup = torchvision.models.resnet18(num_classes=10), Mixup(mixup_alpha=0.0, num_classes=10)
    train_set = data.get_dataset("imagenette_tiny", "train")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    stages = progressive.schedule("paper", 2, 2, image_size=(32, 48), randaug_magnitude=(0, 10),
                                  mixup_alpha=(0.0, 0.2), dropout=(0.0, 0.0))
    sizes = []
    for epoch in range(2):
        transform = recipe.apply_stage(progressive.stage_at(stages, epoch), model=model, dataset=train_set, mixup=mixup)
        x, y = next(iter(torch.utils.data.DataLoader(train_set, batch_size=8, shuffle=True)))
        x, y = mixup(transform.finish(x), y)
        loss = torch.sum(-y * torch.log_softmax(model(x), dim=-1), dim=-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sizes.append(x.shape[-1])
    assert sizes == [32, 48] and torch.isfinite(loss)


def test_torchvision_classifiers_take_a_dropout_and_a_resnet_without_one_is_named():
    mobilenet = torchvision.models.mobilenet_v3_small(num_classes=10)
    models.set_dropout(mobilenet, 0.25)
    assert [m.p for m in mobilenet.classifier if isinstance(m, nn.Dropout)] == [0.25]
    resnet = torchvision.models.resnet18(num_classes=10)
    models.set_dropout(resnet, 0.0)  # nothing to switch off
    with pytest.raises(ValueError, match="torchvision.models.resnet.ResNet has no dropout before its classifier.*"
                                         "schedule.dropout=\\[0,0\\]"):
        models.set_dropout(resnet, 0.3)


def test_timm_names_and_registered_models_are_known_and_bad_ones_are_refused(own_registry):
    assert models.is_known("timm:resnet18") and not models.is_known("timm:resnet_nope")
    with pytest.raises(KeyError, match="unknown timm model 'resnet_nope'.*Did you mean"):
        models.model_info("timm:resnet_nope")
    with pytest.raises(KeyError, match="timm:<name>, and replication.models.register"):
        models.model_info("resnet18")
    models.register("tiny_cnn", lambda num_classes, **kw: TinyCNN(num_classes))
    assert models.is_known("tiny_cnn") and "tiny_cnn" in models.list_models("user")
    assert isinstance(models.create_model("tiny_cnn", num_classes=3), TinyCNN)
    for taken in ("tiny_cnn", "efficientnetv2_s", "timm:x"):
        with pytest.raises(ValueError, match="cannot register"):
            models.register(taken, TinyCNN)


def _cfg(tmp_path, name: str, dropout=(0.0, 0.3), **train_keys):
    return C.load(PROGRESSIVE, profile="smoke", updates={
        "experiment": "any_model", "run_id": name.replace(":", "_"), "model": {"name": name, "drop_path_rate": 0.0},
        "schedule": {"dropout": list(dropout)},
        "train": {"epochs": 2, "steps_per_epoch": 2, "results_dir": str(tmp_path / "results"),
                  "checkpoint_dir": str(tmp_path / "checkpoints"), **train_keys}})


@pytest.mark.parametrize("case", ["timm_name", "registered", "torchvision_module"])
def test_the_trainer_trains_any_model_progressively(tmp_path, own_registry, case):
    seen = []
    hook = lambda event, info: seen.append((info["stage"].image_size, _dropout(info["model"]))) \
        if event == "epoch_start" else None  # noqa: E731
    if case == "timm_name":
        summary = train.run(_cfg(tmp_path, "timm:resnet18"), hook=hook)
    elif case == "registered":
        models.register("tiny_cnn", lambda num_classes, **kw: TinyCNN(num_classes))
        summary = train.run(_cfg(tmp_path, "tiny_cnn"), hook=hook)
    else:  # a module given to the trainer; it has no classifier dropout, so the schedule holds it at 0
        module = torchvision.models.resnet18(num_classes=10)
        summary = train.run(_cfg(tmp_path, "torchvision_resnet18", dropout=(0.0, 0.0)), hook=hook, model=module)
    assert summary["status"] == "complete" and summary["epochs"] == 2
    assert [size for size, _ in seen] == [32, 48]  # the smoke profile's sizes, stage by stage
    assert [p for _, p in seen] == ([None, None] if case == "torchvision_module" else [0.0, 0.3])
    saved = json.loads((tmp_path / "results" / "any_model").glob("*/summary.json").__next__().read_text())
    assert saved["final"]["ema_top1"] is not None


def test_an_unknown_model_name_is_refused_with_the_ways_to_name_one(tmp_path):
    with pytest.raises(C.ConfigError, match="model.name='resnet_nope' is not a registered model.*timm:<name>"):
        train.run(_cfg(tmp_path, "resnet_nope"))
