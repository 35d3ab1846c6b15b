"""Registry of every model the study builds: our EfficientNetV2 code and timm 1.0.31 baselines.

``train_size``/``eval_size`` are the sizes the paper (or the model's own paper, for baselines)
trains and evaluates at; ``eval_size`` is the size at which the paper's FLOPs are quoted and at
which ``results/static/params_macs.csv`` counts multiply-adds. ``tables`` names the paper's
tables/figures (T = table, F = figure) the model appears in. Baselines are always built with
``pretrained=False`` (no downloads).
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .efficientnetv2 import VARIANTS, efficientnet_b4_fused, efficientnetv2


@dataclass(frozen=True)
class ModelEntry:
    name: str
    paper_name: str
    train_size: int
    eval_size: int
    source: str  # "ours" | "timm"
    tables: tuple[str, ...]
    builder: str  # our variant key / fused-stage count (+ "k3": 3x3 fused blocks), or the timm model name
    fixed_input: bool = False  # needs ``img_size`` at build time (ViTs)
    note: str = ""
    factory: Callable[..., nn.Module] | None = None  # a user's builder (``register``): factory(num_classes=, **overrides)


def _ours(name, paper, train, evl, tables, builder=None, note=""):
    return ModelEntry(name, paper, train, evl, "ours", tables, builder or name, note=note)


def _timm(name, paper, train, evl, tables, timm_name, fixed=False, note=""):
    return ModelEntry(name, paper, train, evl, "timm", tables, timm_name, fixed, note)


_ENTRIES = [
    _ours("efficientnetv2_s", "EfficientNetV2-S", 300, 384, ("T4", "T6", "T7", "F1", "F3", "F5")),
    _ours("efficientnetv2_m", "EfficientNetV2-M", 384, 480, ("T6", "T7", "T10", "F1", "F3", "F5")),
    _ours("efficientnetv2_l", "EfficientNetV2-L", 384, 480, ("T6", "T7", "F1", "F3", "F5")),
    _ours("efficientnetv2_xl", "EfficientNetV2-XL", 384, 512, ("T7",)),
    _ours("efficientnetv2_b0", "EfficientNetV2-B0", 192, 224, ("T11",)),
    _ours("efficientnetv2_b1", "EfficientNetV2-B1", 192, 240, ("T11",)),
    _ours("efficientnetv2_b2", "EfficientNetV2-B2", 208, 260, (), note="official README only"),
    _ours("efficientnetv2_b3", "EfficientNetV2-B3", 240, 300, ("T11",)),
    _ours("efficientnetv2_s_arxiv_v1", "EfficientNetV2-S (arXiv v1, 24M)", 300, 384, ("T8", "T11"),
          note="arXiv v1 Table 4: last stage 272 ch, head 1792; the 24M 'V2-S' of Tables 8/11"),
    _ours("effnet_b4_ours", "EfficientNet-B4 (No fused)", 380, 380, ("T3",), "0"),
    _ours("effnet_b4_fused1_3", "EfficientNet-B4 Fused stage1-3", 380, 380, ("T3",), "3"),
    _ours("effnet_b4_fused1_5", "EfficientNet-B4 Fused stage1-5", 380, 380, ("T3",), "5"),
    _ours("effnet_b4_fused1_7", "EfficientNet-B4 Fused stage1-7", 380, 380, ("T3",), "7"),
    *[_ours(f"effnet_b4_fused1_{n}_k3", f"EfficientNet-B4 Fused stage1-{n} (3x3 fused blocks)", 380, 380, (),
            f"{n}k3", note="Table 3's other reading: fused blocks 3x3 (as every V2 Fused-MBConv), SE kept")
      for n in (3, 5, 7)],
    *[_timm(f"efficientnet_b{i}", f"EfficientNet-B{i}", s, s, t, f"tf_efficientnet_b{i}",
            note="V1 trains at its eval size") for i, s, t in [
        (0, 224, ()), (1, 240, ("T11",)), (2, 260, ("T11",)), (3, 300, ("T7", "F3")),
        (4, 380, ("T7", "T11", "T12", "F3")), (5, 456, ("T7", "T11", "T12", "F3")),
        (6, 528, ("T1", "T2", "T7", "F3")), (7, 600, ("T7", "T10", "F3"))]],
    _timm("resnet50", "ResNet-50", 224, 224, ("T12",), "resnet50"),
    _timm("resnet152", "ResNet-152", 224, 224, ("T12",), "resnet152", note="Table 12 trains it at 380"),
    _timm("resnetrs420", "ResNet-RS-420", 320, 320, ("T1",), "resnetrs420",
          note="320 px gives the paper's 64B; timm evaluates at 416"),
    _timm("regnety_8gf", "RegNetY-8GF", 224, 224, ("T7", "F5"), "regnety_080"),
    _timm("regnety_16gf", "RegNetY-16GF", 224, 224, ("T7",), "regnety_160"),
    _timm("resnest101", "ResNeSt-101", 256, 256, ("T7",), "resnest101e"),
    _timm("resnest200", "ResNeSt-200", 320, 320, ("T7",), "resnest200e"),
    _timm("resnest269", "ResNeSt-269", 416, 416, ("T7",), "resnest269e"),
    _timm("tresnet_l", "TResNet-L", 448, 448, ("T7",), "tresnet_l", note="448 px version (83.8%)"),
    _timm("tresnet_xl", "TResNet-XL", 448, 448, ("T7",), "tresnet_xl", note="448 px version (84.3%)"),
    *[_timm(f"nfnet_f{i}", f"NFNet-F{i}", tr, ev, t, f"dm_nfnet_f{i}") for i, tr, ev, t in [
        (0, 192, 256, ("T7", "F3")), (1, 224, 320, ("T1", "T7", "F3")), (2, 256, 352, ("T7", "F3")),
        (3, 320, 416, ("T7", "F3")), (4, 384, 512, ("T7",))]],
    _timm("vit_b32", "ViT-B/32", 384, 384, ("T7", "T8"), "vit_base_patch32_384", True),
    _timm("vit_b16", "ViT-B/16", 384, 384, ("T7", "T8"), "vit_base_patch16_384", True,
          note="also the ViT-B/16 (21k) row"),
    _timm("vit_l16", "ViT-L/16 (21k)", 384, 384, ("T7",), "vit_large_patch16_384", True),
    _timm("deit_b", "DeiT-B (ViT+reg)", 224, 224, ("T7", "T8"), "deit_base_patch16_224", True),
    _timm("deit_b_384", "DeiT-B-384 (ViT+reg)", 384, 384, ("T7", "T8"), "deit_base_patch16_384", True),
    _timm("bit_m_r152x2", "BiT-M-R152x2 (21k)", 384, 384, ("T7",), "resnetv2_152x2_bit",
          note="384 px reproduces the paper's 135B; timm's fine-tuned weights use 448"),
]
REGISTRY: dict[str, ModelEntry] = {e.name: e for e in _ENTRIES}

# Rows of the paper's model tables that timm 1.0.31 (and this package) cannot build.
NOT_BUILDABLE = {
    "EfficientNet-X": "timm has only efficientnet_x_b3/b5 (13.3M/33.4M); the paper's row is 73M",
    "LambdaResNet-420-hybrid": "timm has lambda_resnet26*/50ts only",
    "BotNet-T7-hybrid": "timm has botnet26t/50ts only",
    "T2T-ViT-19": "not in timm",
    "T2T-ViT-24": "not in timm",
    "GPipe": "not in timm (Table 8)",
}


TIMM_PREFIX = "timm:"  # model.name=timm:<any timm model> builds that timm model, registered or not


def register(name: str, factory: Callable[..., nn.Module], paper_name: str = "", train_size: int = 224,
             eval_size: int = 224, note: str = "") -> ModelEntry:
    """Make ``name`` a model the trainer, the CLI and a study spec can use: ``factory(num_classes=N, **overrides)``
    returns a fresh ``nn.Module`` (overrides: ``drop_path_rate`` from the config; accept ``**kwargs`` and ignore
    what the model has no use for). Names already registered, or starting with ``timm:``, are refused."""
    if name in REGISTRY or name.startswith(TIMM_PREFIX) or not name:
        raise ValueError(f"cannot register {name!r}: the name is taken (see `python -m replication models`) or "
                         f"starts with {TIMM_PREFIX!r}; choose another")
    if not callable(factory):
        raise TypeError(f"register({name!r}, factory): the factory must be callable, got {type(factory).__name__}")
    entry = ModelEntry(name, paper_name or name, train_size, eval_size, "user", (), name, note=note, factory=factory)
    REGISTRY[name] = entry
    return entry


def list_models(source: str | None = None) -> list[str]:
    """Registered names in registry order, optionally only ``source`` ('ours', 'timm' or 'user')."""
    return [n for n, e in REGISTRY.items() if source in (None, e.source)]


def is_known(name: str) -> bool:
    """A registered name, or ``timm:<name>`` of a model timm can build."""
    try:
        model_info(name)
    except KeyError:
        return False
    return True


def model_info(name: str) -> ModelEntry:
    if name.startswith(TIMM_PREFIX):
        import timm  # lazily: only a timm: name needs timm's model list

        builder = name.removeprefix(TIMM_PREFIX)
        if not timm.is_model(builder):
            close = difflib.get_close_matches(builder, timm.list_models(), n=3)
            raise KeyError(f"unknown timm model {builder!r} in {name!r}.{' Did you mean ' + ', '.join(close) + '?' if close else ''}")
        return ModelEntry(name, builder, 224, 224, "timm", (), builder, note="any timm model, by name")
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " See `python -m replication models`."
        raise KeyError(f"unknown model {name!r}.{hint} Any timm model works as timm:<name>, and "
                       "replication.models.register adds your own.")
    return REGISTRY[name]


def create_model(name: str, num_classes: int = 1000, **overrides) -> nn.Module:
    """Build a registered model with fresh weights; ``overrides`` go to the underlying builder.

    Ours take EfficientNetV2 kwargs (drop_rate, drop_path_rate, bn_momentum, bn_eps, ...);
    timm models take timm kwargs (for ViTs pass ``img_size`` to use another input size).
    """
    entry = model_info(name)
    if overrides.pop("pretrained", False):
        raise ValueError("pretrained=True is not supported: no weights are downloaded in this project")
    if entry.factory is not None:
        return entry.factory(num_classes=num_classes, **overrides)
    if entry.source == "ours":
        if entry.builder in VARIANTS:
            return efficientnetv2(entry.builder, num_classes=num_classes, **overrides)
        stages, _, kernel = entry.builder.partition("k")  # "3": B4's kernels kept; "3k3": 3x3 fused blocks
        kernel_kw = {"fused_kernel": int(kernel)} if kernel else {}
        return efficientnet_b4_fused(int(stages), num_classes=num_classes, **{**kernel_kw, **overrides})
    import timm  # imported lazily: the CLI and our own models do not need it

    return timm.create_model(entry.builder, pretrained=False, num_classes=num_classes, **overrides)


def create_for_size(name: str, image_size: int, num_classes: int = 1000, **overrides) -> nn.Module:
    """Like :func:`create_model`, but fixed-input models (ViTs) are built for ``image_size``."""
    if model_info(name).fixed_input:
        overrides.setdefault("img_size", image_size)
    return create_model(name, num_classes=num_classes, **overrides)


def zero_init_last_bn(model: nn.Module) -> int:
    """Zero the scale of the last BatchNorm in every residual block (a module whose ``has_skip`` is true: ours
    and timm's EfficientNet blocks), so each block starts as the identity; returns how many were set."""
    count = 0
    for block in model.modules():
        if getattr(block, "has_skip", False) is True:
            norms = [m for m in block.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            if norms:
                nn.init.zeros_(norms[-1].weight)
                count += 1
    return count


HEAD_DROPOUTS = ("head_drop", "head.drop")  # timm ViTs / ClassifierHead; torchvision: in ``classifier``


def set_dropout(model: nn.Module, p: float) -> None:
    """Change the dropout before the classifier in place (no rebuild): ours and timm models (``drop_rate``,
    read at forward time, or the head's ``nn.Dropout``) and torchvision's (an ``nn.Dropout`` in ``classifier``).
    A model without one accepts ``p=0`` (nothing to switch off) and refuses more, naming the model."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout must be in [0, 1], got {p}")
    found = False
    if hasattr(model, "drop_rate"):  # ours and timm EfficientNet/ResNet read it at forward time
        model.drop_rate, found = p, True
    for name, module in model.named_modules():
        head = name in HEAD_DROPOUTS or name.split(".")[0] == "classifier"
        if head and isinstance(module, nn.Dropout):
            module.p, found = p, True
    if not found and p > 0:
        raise ValueError(f"{type(model).__module__}.{type(model).__name__} has no dropout before its classifier that "
                         f"set_dropout knows (a drop_rate attribute, head_drop / head.drop, or an nn.Dropout in "
                         f"classifier); schedule dropout 0 for it (schedule.dropout=[0,0]) or give it such a layer")
