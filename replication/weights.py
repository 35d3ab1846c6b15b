"""The released EfficientNetV2 weights in our model: import from timm, and evaluate.

The official checkpoints (google/automl, converted to PyTorch by timm as ``tf_efficientnetv2_*``)
were trained with TensorFlow's 'same' padding and BatchNorm eps 1e-3; timm's ``efficientnetv2_s/m/l/xl``
are the same architectures with PyTorch padding and eps 1e-5 (no released weights). An import builds
our model with the matching ``padding`` and ``bn_eps`` and copies the tensors over by name, checking
every shape; the tests require identical logits to timm's models.

    python -m replication weights import timm:tf_efficientnetv2_s.in1k --out v2s.pt   # downloads (if allowed)
    python -m replication weights import timm:tf_efficientnetv2_s --from timm_state_dict.pth --out v2s.pt
    python -m replication evaluate efficientnetv2_s --weights v2s.pt --dataset imagenette --classes-of imagenette
    python -m replication weights released --dataset imagenet       # gpu profile: Table 7 / 11 accuracy

Downloads happen only with ``REPLICATION_ALLOW_DOWNLOAD=1`` (the switch the datasets use).
"""
from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .models import create_model, model_info

# timm architecture -> our registered model. tf_*: the official TF weights ('same' padding, eps 1e-3).
TIMM_TO_OURS = {
    **{f"tf_efficientnetv2_{v}": f"efficientnetv2_{v}" for v in ("b0", "b1", "b2", "b3", "s", "m", "l", "xl")},
    **{f"efficientnetv2_{v}": f"efficientnetv2_{v}" for v in ("s", "m", "l", "xl")},
    "tf_efficientnet_b4": "effnet_b4_ours",  # the Table 3 baseline
}
NOT_OURS = {"efficientnetv2_rw_t": "timm's own tiny model (not in the paper)",
            "gc_efficientnetv2_rw_t": "timm's own tiny model with global-context attention",
            "efficientnetv2_rw_s": "timm's pre-release reading of the paper (stage 1 with a 1x1 "
                                   "projection, last stage 272, head 1792); not the official V2-S",
            "efficientnetv2_rw_m": "timm's own medium model (not the official V2-M)"}

# timm module names -> ours. Top level, then per block type (named by its convs, in timm's order).
_TOP = {"conv_stem": "stem.conv", "bn1": "stem.bn", "conv_head": "head.conv", "bn2": "head.bn",
        "classifier": "classifier"}
_SE = {"se.conv_reduce": "se.reduce", "se.conv_expand": "se.expand"}
_BLOCKS = {
    ("conv",): {"conv": "project.conv", "bn1": "project.bn"},  # ConvBnAct = Fused-MBConv, expansion 1
    ("conv_exp", "conv_pwl"): {"conv_exp": "expand.conv", "bn1": "expand.bn",  # EdgeResidual = Fused-MBConv
                               "conv_pwl": "project.conv", "bn2": "project.bn"},
    ("conv_dw", "conv_pw"): {"conv_dw": "dw.conv", "bn1": "dw.bn",  # DepthwiseSeparable = MBConv, expansion 1
                             "conv_pw": "project.conv", "bn2": "project.bn"},
    ("conv_pw", "conv_dw", "conv_pwl"): {"conv_pw": "expand.conv", "bn1": "expand.bn", "conv_dw": "dw.conv",
                                         "bn2": "dw.bn", "conv_pwl": "project.conv", "bn3": "project.bn"},
}

# Released weights behind the paper's accuracy rows (timm tags) -> (paper table, row name there)
RELEASED = {
    "tf_efficientnetv2_b0.in1k": ("T11", "V2-B0"),
    "tf_efficientnetv2_b1.in1k": ("T11", "V2-B1"),
    "tf_efficientnetv2_b2.in1k": ("", ""),  # official README only
    "tf_efficientnetv2_b3.in1k": ("T11", "V2-B3"),
    "tf_efficientnetv2_s.in1k": ("T7", "EfficientNetV2-S"),
    "tf_efficientnetv2_m.in1k": ("T7", "EfficientNetV2-M"),
    "tf_efficientnetv2_l.in1k": ("T7", "EfficientNetV2-L"),
    "tf_efficientnetv2_s.in21k_ft_in1k": ("T7", "EfficientNetV2-S (21k)"),
    "tf_efficientnetv2_m.in21k_ft_in1k": ("T7", "EfficientNetV2-M (21k)"),
    "tf_efficientnetv2_l.in21k_ft_in1k": ("T7", "EfficientNetV2-L (21k)"),
    "tf_efficientnetv2_xl.in21k_ft_in1k": ("T7", "EfficientNetV2-XL (21k)"),
}


class WeightsError(ValueError):
    """A checkpoint that does not fit, or weights that cannot be had here; the message says the fix."""


@dataclass(frozen=True)
class TimmSource:
    name: str  # architecture, e.g. "tf_efficientnetv2_s"
    tag: str  # pretrained tag, e.g. "in1k" ("" = timm's default)
    ours: str  # our registered model
    padding: str
    bn_eps: float

    @property
    def full_name(self) -> str:
        return f"{self.name}.{self.tag}" if self.tag else self.name

    def preprocessing(self) -> dict:
        """Eval preprocessing of these weights, from timm's pretrained config."""
        import timm

        cfg = timm.models.get_pretrained_cfg(self.full_name)
        if cfg is None:
            raise WeightsError(f"timm has no pretrained config {self.full_name!r}; "
                               f"tags: {timm.list_pretrained(self.name + '*')}")
        return dict(interpolation=cfg.interpolation, crop_pct=cfg.test_crop_pct or cfg.crop_pct,
                    crop_mode=cfg.crop_mode, mean=list(cfg.mean), std=list(cfg.std),
                    eval_size=cfg.test_input_size[-1] if cfg.test_input_size else cfg.input_size[-1])


def timm_source(spec: str) -> TimmSource:
    """``"timm:tf_efficientnetv2_s.in1k"`` (prefix and tag optional) -> what to build and how."""
    name, _, tag = spec.removeprefix("timm:").partition(".")
    if name in NOT_OURS:
        raise WeightsError(f"timm:{name} is a different architecture: {NOT_OURS[name]}. "
                           f"Importable: {', '.join(TIMM_TO_OURS)}")
    if name not in TIMM_TO_OURS:
        raise WeightsError(f"timm:{name} has no counterpart among our models; importable: {', '.join(TIMM_TO_OURS)}")
    tf = name.startswith("tf_")
    return TimmSource(name, tag, TIMM_TO_OURS[name], "same" if tf else "symmetric", 1e-3 if tf else 1e-5)


def rename_timm_keys(state_dict: dict) -> dict:
    """timm EfficientNet key -> our key, for every key (``None`` where we have no such module)."""
    convs: dict[str, list[str]] = {}
    for key in state_dict:
        parts = key.split(".")
        if parts[0] == "blocks" and len(parts) > 4 and parts[3].startswith("conv"):
            block = convs.setdefault(".".join(parts[:3]), [])
            if parts[3] not in block:
                block.append(parts[3])
    renamed = {}
    for key in state_dict:
        parts = key.split(".")
        if parts[0] == "blocks" and len(parts) > 4:
            table = _BLOCKS.get(tuple(convs.get(".".join(parts[:3]), ())), {}) | _SE
            ours = table.get(".".join(parts[3:-1]))
            renamed[key] = ours and ".".join(parts[:3] + [ours, parts[-1]])
        else:
            ours = _TOP.get(".".join(parts[:-1]))
            renamed[key] = ours and f"{ours}.{parts[-1]}"
    return renamed


def load_timm_state_dict(model: nn.Module, state_dict: dict, source: str = "timm") -> nn.Module:
    """Put a timm state dict's tensors into ``model`` (ours, e.g. built on 'meta') by name and shape;
    refuse at the first bad key. Tensors are shared, not copied, when the dtypes agree."""
    ours = model.state_dict()
    mapped = {}
    for key, target in rename_timm_keys(state_dict).items():
        value = state_dict[key]
        if target is None or target not in ours:
            would_be = f" (would be {target!r})" if target else ""
            raise WeightsError(f"{source}: key {key!r} has no counterpart in our model{would_be}. The checkpoint "
                               f"is not one of {', '.join(TIMM_TO_OURS)}, or not for this variant.")
        if tuple(value.shape) != tuple(ours[target].shape):
            raise WeightsError(f"{source}: key {key!r} has shape {tuple(value.shape)}, our {target!r} has "
                               f"{tuple(ours[target].shape)}: the checkpoint is for another variant or class count.")
        mapped[target] = value.to(ours[target].dtype)
    missing = [k for k in ours if k not in mapped]
    if missing:
        raise WeightsError(f"{source}: our key {missing[0]!r} (and {len(missing) - 1} more) is missing from the "
                           "checkpoint: it is for another variant, or truncated.")
    model.load_state_dict(mapped, strict=True, assign=True)
    return model


def _read_state_dict(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors of every kind: say which file and why
        raise WeightsError(f"{path}: cannot read it with torch.load(weights_only=True) ({exc}). Save a plain "
                           "state dict: torch.save(model.state_dict(), path).") from exc
    return obj


def timm_state_dict(source: TimmSource, weights: str | Path | dict | None = None) -> dict:
    """A timm state dict as given, read from a file, or (downloads allowed) from timm's hub."""
    if isinstance(weights, dict):
        return weights
    if weights is not None:
        obj = _read_state_dict(weights)
        return obj.get("state_dict", obj) if isinstance(obj, dict) else obj  # timm training checkpoints nest it
    from .data import _downloads_allowed

    if not _downloads_allowed(None):
        raise WeightsError(f"timm:{source.full_name} would be downloaded from the Hugging Face hub, and downloads "
                           "are off. Set REPLICATION_ALLOW_DOWNLOAD=1 (the switch the datasets use), or convert a "
                           f"state dict saved from timm: `weights import timm:{source.full_name} --from FILE --out OUT`.")
    import timm

    return timm.create_model(source.full_name, pretrained=True).state_dict()


def import_timm(spec: str, weights: str | Path | dict | None = None) -> tuple[nn.Module, dict]:
    """Our model holding timm weights (a state dict, a file, or a download), and its description."""
    source = timm_source(spec)
    state_dict = timm_state_dict(source, weights)
    where = f"timm:{source.full_name}" + (f" ({weights})" if isinstance(weights, (str, Path)) else "")
    if not isinstance(state_dict, dict) or "classifier.weight" not in state_dict:
        raise WeightsError(f"{where}: no 'classifier.weight': not a timm EfficientNet state dict.")
    build = dict(num_classes=state_dict["classifier.weight"].shape[0], padding=source.padding, bn_eps=source.bn_eps)
    with torch.device("meta"):
        model = create_model(source.ours, **build)
    load_timm_state_dict(model, state_dict, where)
    meta = dict(model=source.ours, source=f"timm:{source.full_name}", build=build,
                preprocessing=source.preprocessing())
    return model.eval(), meta


def save_weights(model: nn.Module, meta: dict, path: str | Path) -> None:
    """One file with our state dict and what rebuilding the model needs (readable with weights_only=True)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(meta, state_dict=model.state_dict()), path)


def load_weights(spec: str | Path) -> tuple[nn.Module, dict]:
    """``timm:NAME`` (a download, if allowed) or a file written by ``weights import`` -> (model, meta)."""
    if str(spec).startswith("timm:"):
        return import_timm(str(spec))
    obj = _read_state_dict(spec)
    if not isinstance(obj, dict) or not {"model", "build", "state_dict"} <= obj.keys():
        raise WeightsError(f"{spec} is not a file written by `python -m replication weights import` (it needs the "
                           "keys model, build, state_dict). Convert a timm checkpoint with "
                           "`weights import timm:NAME --from FILE --out OUT`.")
    with torch.device("meta"):
        model = create_model(obj["model"], **obj["build"])
    model.load_state_dict(obj["state_dict"], strict=True, assign=True)
    return model.eval(), {k: v for k, v in obj.items() if k != "state_dict"}


# ---- evaluation ---------------------------------------------------------------------------------
# the official code's evaluation (google/automl efficientnetv2 preprocessing.py), which the released weights expect
OFFICIAL_PREPROCESSING = dict(mode="official", resize="whole image to size x size from 320 px (below: centre crop "
                              "size / (size + 32) first), bilinear, no antialiasing", normalize="(x - 128) / 128")


def eval_transform(image_size: int, preprocessing: dict):
    """timm's eval transform with the weights' own settings (resize, crop, normalization), or with
    ``mode: official`` the official code's (``data.official_eval_transform``)."""
    from timm.data import create_transform

    if preprocessing.get("mode") == "official":
        from .data import official_eval_transform

        return official_eval_transform(image_size)
    keys = ("interpolation", "crop_pct", "crop_mode", "mean", "std")
    return create_transform(image_size, is_training=False, **{k: preprocessing[k] for k in keys})


def label_columns(num_outputs: int, classes: list[str], subset: list[str] | None) -> tuple[list[int] | None, list[int]]:
    """Which logits to keep (None = all) and, per dataset class, its index among the kept logits.

    ``subset``: restrict 1000-way ImageNet logits to these wnids (e.g. Imagenette's ten).
    """
    if num_outputs == 1000 and (subset or set(classes) <= set(_imagenet_wnids())):
        index = {w: i for i, w in enumerate(_imagenet_wnids())}
        if not subset:
            return None, [index[c] for c in classes]
        unknown = [w for w in subset if w not in index]
        if unknown:
            raise WeightsError(f"--classes-of: {unknown[0]!r} is not an ImageNet-1k wnid.")
        outside = [c for c in classes if c not in subset]
        if outside:
            raise WeightsError(f"class {outside[0]!r} of the dataset is not among the --classes-of classes.")
        return [index[w] for w in subset], [subset.index(c) for c in classes]
    if subset:
        raise WeightsError(f"--classes-of needs a 1000-way ImageNet classifier; this one has {num_outputs} outputs.")
    if num_outputs != len(classes):
        raise WeightsError(f"the model has {num_outputs} outputs but the dataset has {len(classes)} classes that are "
                           "not ImageNet wnids; evaluate on a dataset with the model's classes.")
    return None, list(range(len(classes)))


def _imagenet_wnids() -> list[str]:
    from timm.data import ImageNetInfo

    return ImageNetInfo().label_names()


def evaluate(model: nn.Module, dataset: str, image_size: int, preprocessing: dict, split: str = "eval",
             classes_of: str | None = None, batch_size: int = 50, limit: int | None = None,
             workers: int = 0, device: str | None = None) -> dict:
    """Top-1 / top-5 (%) of ``model`` on a dataset split; ``limit`` takes that many evenly spaced images."""
    from .data import get_dataset

    ds = get_dataset(dataset, split, eval_transform(image_size, preprocessing))
    subset = None
    if classes_of:
        subset = ds.classes if classes_of == dataset else get_dataset(classes_of, split).classes
    keep, target_of = label_columns(model.num_classes, ds.classes, subset)
    indices = range(len(ds)) if not limit or limit >= len(ds) else torch.linspace(0, len(ds) - 1, limit).long().tolist()
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, list(indices)), batch_size=batch_size,
                                         num_workers=workers)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    lookup = torch.tensor(target_of)
    correct1 = correct5 = seen = 0
    with torch.inference_mode():
        for images, targets in loader:
            logits = model(images.to(device)).float().cpu()
            logits = logits[:, keep] if keep else logits
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            hits = top == lookup[targets].unsqueeze(1)
            correct1 += hits[:, 0].sum().item()
            correct5 += hits.any(1).sum().item()
            seen += len(targets)
    return dict(dataset=dataset, split=split, image_size=image_size, images=seen, classes_of=classes_of,
                top1=round(100 * correct1 / seen, 3), top5=round(100 * correct5 / seen, 3),
                preprocessing={k: v for k, v in preprocessing.items() if k != "eval_size"})


def evaluate_released(dataset: str = "imagenet", out: str | Path | None = None, names=None,
                      limit: int | None = None, batch_size: int = 100, workers: int = 8,
                      preprocess: str = "official") -> list[dict]:
    """The gpu profile's "evaluate the released weights" step: each of ``RELEASED`` at its official eval size,
    with the official evaluation preprocessing (``preprocess="official"``) or timm's for the weights ("timm").

    Rows go to ``results/released_weights/<dataset>.csv`` (one per weights; rows already there with the same
    preprocessing are kept; rows without the column were evaluated with timm's).
    """
    if preprocess not in ("official", "timm"):
        raise WeightsError(f"preprocess={preprocess!r}: choose official or timm")
    out = Path(out or f"results/released_weights/{dataset}.csv")
    done = {r["weights"]: r for r in csv.DictReader(out.open())} if out.is_file() else {}
    rows = []
    for name in names or RELEASED:
        if name in done and done[name].get("preprocess", "timm") == preprocess:
            rows.append(done[name])
            continue
        model, meta = import_timm(name)
        size = meta["preprocessing"]["eval_size"]
        prep = OFFICIAL_PREPROCESSING if preprocess == "official" else meta["preprocessing"]
        result = evaluate(model, dataset, size, prep, limit=limit, batch_size=batch_size,
                          workers=workers)
        table, row = RELEASED.get(name, ("", ""))
        rows.append(dict(weights=name, model=meta["model"], paper_name=model_info(meta["model"]).paper_name,
                         paper_table=table, paper_row=row, image_size=size, images=result["images"],
                         top1=result["top1"], top5=result["top5"], preprocess=preprocess))
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as f:  # rewritten after each model: an interrupted run resumes
            kept = rows + [r for n, r in done.items() if n not in {x["weights"] for x in rows}]
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in kept for k in r)))
            writer.writeheader()
            writer.writerows(kept)
    return rows


# ---- command line -------------------------------------------------------------------------------
def _handler(fn):
    from .data import DataError

    def run(args) -> int:
        try:
            print(json.dumps(fn(args), indent=2))
            return 0
        except (WeightsError, DataError, KeyError) as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        except OSError as exc:  # a file that cannot be read or written: name it, no traceback
            print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return run


def _import(args) -> dict:
    out = Path(args.out)
    if out.is_dir() or str(args.out).endswith("/"):  # checked before the import, which takes a while
        raise WeightsError(f"--out {args.out} is a folder; give a file name for the weights, e.g. --out "
                           f"{out / 'weights.pt'}")
    model, meta = import_timm(args.source, args.source_file)
    save_weights(model, meta, args.out)
    return dict(meta, out=str(args.out), tensors=len(model.state_dict()))


def _evaluate(args) -> dict:
    model, meta = load_weights(args.weights)
    if meta["model"] != args.model:
        raise WeightsError(f"--weights {args.weights} holds {meta['model']}, not {args.model}.")
    size = args.image_size or meta["preprocessing"]["eval_size"]
    prep = OFFICIAL_PREPROCESSING if args.preprocess == "official" else meta["preprocessing"]
    result = evaluate(model, args.dataset, size, prep, args.split, args.classes_of,
                      args.batch_size, args.limit, args.workers)
    return dict(model=args.model, weights=str(args.weights), source=meta["source"], **result)


def add_commands(subparsers) -> None:
    from .cli import non_negative_int, positive_int

    w = subparsers.add_parser("weights", help="import released weights into our models; evaluate them all")
    sub = w.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    i = sub.add_parser("import", help="timm EfficientNetV2 weights -> a file for our model (checked by name and shape)")
    i.add_argument("source", help="timm:NAME[.TAG], e.g. timm:tf_efficientnetv2_s.in1k")
    i.add_argument("--from", dest="source_file", help="a timm state dict file (default: download, if allowed)")
    i.add_argument("--out", required=True, help="where to write our weights (.pt)")
    i.set_defaults(func=_handler(_import))
    r = sub.add_parser("released", help="gpu profile: top-1/top-5 of every released V2 weights at its eval size")
    r.add_argument("--dataset", default="imagenet")
    r.add_argument("--out", help="CSV (default results/released_weights/<dataset>.csv)")
    r.add_argument("--names", nargs="+", choices=list(RELEASED), metavar="NAME",
                   help=f"only these weights (default all: {', '.join(RELEASED)})")
    r.add_argument("--limit", type=positive_int, help="evenly spaced images per model (default all)")
    r.add_argument("--workers", type=non_negative_int, default=8, help="DataLoader worker processes")
    r.add_argument("--preprocess", choices=("official", "timm"), default="official",
                   help="official: the released code's evaluation (whole image at >= 320 px, (x-128)/128); timm: timm's")
    r.set_defaults(func=_handler(lambda a: evaluate_released(a.dataset, a.out, a.names, a.limit, workers=a.workers,
                                                             preprocess=a.preprocess)))
    e = subparsers.add_parser("evaluate", help="top-1/top-5 of a model with given weights on a dataset")
    e.add_argument("model", help="a registered model, e.g. efficientnetv2_s")
    e.add_argument("--weights", required=True, help="a file from `weights import`, or timm:NAME (download, if allowed)")
    e.add_argument("--dataset", required=True, help="a dataset name (python -m replication data list)")
    e.add_argument("--split", default="eval",
                   help="the split to evaluate: eval (default: what the paper reports), train, or one the dataset's "
                        "manifest lists (e.g. ImageNet's minival)")
    e.add_argument("--image-size", type=positive_int, help="default: the official eval size of the weights")
    e.add_argument("--classes-of", help="restrict 1000-way logits to this dataset's classes (e.g. imagenette)")
    e.add_argument("--batch-size", type=positive_int, default=50, help="images per forward pass (default 50)")
    e.add_argument("--limit", type=positive_int, help="evaluate this many evenly spaced images (default all)")
    e.add_argument("--workers", type=non_negative_int, default=0,
                   help="DataLoader worker processes (default 0: load in this process)")
    e.add_argument("--preprocess", choices=("weights", "official"), default="weights",
                   help="weights: timm's settings for the weights; official: the released code's evaluation")
    e.set_defaults(func=_handler(_evaluate))
