"""The one config system: the typed schema of a run, YAML layering and ``key=value`` overrides.

A run's config is built in layers, each overriding the one before:

    dataclass defaults  <  the study's trainer section  <  the experiment YAML  <  its profiles.<profile> section
                        <  updates  <  key=value

The study (``replication/studies/<profile>.yaml``, section ``trainer``) is named by ``profile:``
in the experiment YAML or by a ``profile=NAME`` override. ``updates`` is a nested dict (what
code passes); overrides are dotted strings (what people type: ``schedule.stages=2``,
``schedule.image_size=[64,128]``), parsed as YAML. Every value is type-checked; unknown keys,
wrong types and inconsistent values stop with a ``ConfigError`` naming the key and the fix.

This module is a leaf: it imports nothing from the package. Resolving the schedule's Table 6
values is ``progressive.resolve``; checking that the model and data exist is
``train.check_resources``; writing a config is ``results.save_config``.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import re
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STUDIES_DIR = Path(__file__).parent / "studies"
CONFIGS_DIR = Path(__file__).parent / "configs"

# schedule modes (``replication.progressive`` implements them) and held values of fixed regularization
MODES = ("paper", "official", "fixed", "vanilla-progressive", "random-resize")
STAGED_MODES = ("paper", "official", "vanilla-progressive")  # split the epochs into stages
HOLDS = ("first", "last", "middle")
PAIRS = ("image_size", "randaug_magnitude", "mixup_alpha", "dropout")
EVAL_PREPROCESS = ("crop", "official")  # data.eval_preprocess
NORMALIZE = ("imagenet", "official")  # data.normalize
RANDAUG_VARIANTS = ("timm", "official")  # data.randaug_variant
EMA_WARMUP_RULES = ("timm", "tf")  # train.ema_warmup_rule


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. (YAML 1.1 also reads no/yes/on/off as booleans, which
    would turn ``train.mixed_precision=no`` into False.)"""


_Loader.yaml_implicit_resolvers = {k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _unique_mapping(loader, node, deep=False):
    """A YAML mapping that names a key twice is an error (YAML would silently keep the last value)."""
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            twice = key in seen
        except TypeError:  # an unhashable key: the constructor below says so
            break
        if twice:
            raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} appears twice in one mapping",
                                                    key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                        lambda loader, node: loader.construct_mapping(node))
_Loader.construct_mapping = _unique_mapping


def _yaml(text: str):
    return yaml.load(text, Loader=_Loader)


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and how to fix it."""


@dataclass
class ModelConfig:
    name: str = "efficientnetv2_s"
    num_classes: int = 0  # 0: the dataset's number of classes
    drop_path_rate: float = 0.2  # stochastic depth; survival probability 0.8 (§5.1)
    bn_momentum: float = 0.01  # PyTorch convention: TF's 0.99 (paper) is 0.01 here
    init_checkpoint: str = ""  # weights to start from (transfer, §5.3); head is re-initialized
    blocks: list[str] = field(default_factory=list)  # block strings: build this architecture ('name' is its label)
    stem_channels: int = 32  # with blocks: stem and head widths
    head_channels: int = 1280
    zero_init_last: bool = False  # start every residual block as the identity: its last BatchNorm's scale at 0


@dataclass
class DataConfig:
    dataset: str = "imagenet"  # a data_manifests/ name, or "synthetic" (random tensors: benchmarks)
    train_split: str = "train"
    eval_split: str = "eval"
    batch_size: int = 128  # per process
    eval_batch_size: int = 128
    eval_size: int = 384  # evaluation at a separate, larger size (train < test)
    crop_pct: float = 0.875  # with eval_preprocess crop
    eval_preprocess: str = "crop"  # crop: shorter side to eval_size / crop_pct (bicubic), centre crop (timm) |
                                   # official: from 320 px the whole image to eval_size x eval_size (bilinear), below
                                   # a centre crop of eval_size / (eval_size + 32) first (google/automl preprocessing)
    normalize: str = "imagenet"  # imagenet: ImageNet mean / std | official: (x - 128) / 128 on 0-255 pixels
    train_crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop's area range (timm's); official (0.05, 1)
    num_workers: int = 8
    cache_decoded: bool = False  # decode each image once per process and keep the pixels (see data.datasets)
    cache_short_side: int = 0  # with the cache: training images kept with this shorter side at most (0: as decoded)
    randaug_layers: int = 2
    randaug_mmax: float = 30.0  # timm's cap on the magnitude; 30 lets the paper's 15-25 extrapolate
    randaug_variant: str = "timm"  # timm: each op with p = 0.5, relative translate, mean fill |
                                   # official: ops always applied, Cutout, translate 100 px x m/10, fill 128
    cutout: bool = False  # §5.3 transfer recipe
    hflip: bool = True
    cutmix: bool = False  # also apply CutMix with the scheduled alpha (timm switches 50/50)
    train_limit: int = 0  # use only this many training images (0: all)
    eval_limit: int = 0


@dataclass
class ScheduleConfig:
    mode: str = "paper"  # one of MODES (replication.progressive)
    stages: int = 4
    # (first stage, last stage) pairs; None: the model's row of Table 6 (the released configs for
    # mode official), filled in by progressive.resolve before a run
    image_size: tuple[int, int] | None = None
    randaug_magnitude: tuple[float, float] | None = None
    mixup_alpha: tuple[float, float] | None = None
    dropout: tuple[float, float] | None = None
    values_from: str = ""  # the model whose defaults fill the open pairs ("": model.name)
    size_multiple: int = 4
    resize_every: int = 8  # random-resize: epochs between draws (0: every batch)
    adaptive: bool = False  # random-resize: regularization follows the drawn size
    hold: str = "last"  # regularization value held when it is fixed: first | last | middle


@dataclass
class OptimConfig:
    name: str = "rmsproptf"  # any timm optimizer name: rmsproptf, adamw, sgd, ...
    lr: float = 0.016  # per lr_base_batch images: 0.016 * 4096 / 256 = 0.256 (§5.1)
    lr_base_batch: int = 256  # 0: lr is absolute
    weight_decay: float = 1e-5
    filter_bias_and_bn: bool = True  # no weight decay on BN and bias
    momentum: float = 0.9
    alpha: float = 0.9  # RMSProp decay
    eps: float = 1e-3
    sched: str = "step"  # step (x decay_rate every decay_epochs) | cosine | constant
    warmup_epochs: float = 5.0
    decay_epochs: float = 2.4
    decay_rate: float = 0.97
    min_lr: float = 0.0
    flat_fraction: float = 0.0  # with sched cosine: the LR stays at its peak for this fraction of the steps after
                                # the warm-up, then the cosine decays it (fastai's flat-then-cosine with e.g. 0.75)
    clip_grad: float = 0.0  # 0: no clipping


@dataclass
class TrainConfig:
    epochs: int = 350
    total_steps: int = 0  # >0: train exactly this many optimizer steps (replaces epochs: as many epochs as hold
                          # them, the last one cut short; the LR schedule spans them); §5.3 transfer: 10,000
    steps_per_epoch: int = 0  # 0: the whole training set; >0 caps it (smoke tests, benchmarks)
    label_smoothing: float = 0.1
    ema_decay: float = 0.9999  # 0: no EMA
    ema_warmup: bool = False  # an EMA warm-up (short runs), by ema_warmup_rule
    ema_warmup_rule: str = "timm"  # timm: min(decay, 1 - (1 + n)^(-2/3)) | tf: min(decay, (1 + n) / (10 + n)), the
                                   # official code's (TF ExponentialMovingAverage with num_updates)
    ema_horizon: float = 0.0  # >0: the EMA's time constant as a fraction of the run's optimizer steps, the decay
                              # 1 - 1 / (horizon x steps) (replaces ema_decay's value; 0: ema_decay as given)
    ema_batch: int = 0  # >0: the decay is for this global batch; at another one it runs decay ** (batch / ema_batch)
                        # (the same averaging horizon in images); 0: ema_decay as given at any batch
    grad_accum_steps: int = 1  # micro-batches per optimizer step (Accelerate); global batch = batch x processes x this
    sync_bn: bool = False  # several processes: BatchNorm statistics over the global batch (torch SyncBatchNorm)
    eval_every: int = 1  # epochs; the last epoch is always evaluated
    eval_subset: int = 0  # >0: epochs evaluate a fixed subset of this many images; the whole set at the end,
                          # at data.eval_size and at the last training size (summary: final, final_at_train_size)
    mixed_precision: str = "no"  # no | bf16 | fp16
    bf16_from_size: int = 0  # with mixed_precision no: bfloat16 autocast for stages of at least this size (0: never)
    channels_last: bool = True
    results_dir: str = "results"
    checkpoint_dir: str = "checkpoints"  # git-ignored
    keep_checkpoint: bool = True  # keep last.pt after the run ends
    progress: bool = True  # tqdm bar
    deterministic: bool = False  # torch.use_deterministic_algorithms
    threads: int = 0  # torch intra-op threads per process (0: torch's default)
    stop_after_epochs: int = 0  # testing aid: exit after this many epochs, as if killed


@dataclass
class Config:
    experiment: str = "default"
    run_id: str = ""  # "" -> "seed<seed>"
    seed: int = 0
    profile: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def resolved_run_id(self) -> str:
        return self.run_id or f"seed{self.seed}"


# run folder names (experiment, run_id): one plain path component, never '.', '..' or hidden
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

# keys that say how a run runs, or where its folders are, not what it measures (the report compares arms without them)
MECHANICS_KEYS = ("data.num_workers", "data.cache_decoded", "train.progress", "train.stop_after_epochs",
                  "train.keep_checkpoint", "train.threads", "train.results_dir", "train.checkpoint_dir")
# of those, the keys that may differ between a run and its resumption: not data.num_workers, because the
# augmentation's random numbers come from the main process with 0 workers and from seeded workers otherwise
RESUME_FREE_KEYS = tuple(k for k in MECHANICS_KEYS if k != "data.num_workers")


# --------------------------------------------------------------------------- dict <-> dataclass
def to_dict(cfg) -> dict:
    """Plain nested dict (tuples as lists), ready for YAML."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return list(v) if isinstance(v, tuple) else v
    return plain(dataclasses.asdict(cfg))


def from_dict(data: dict, cls=Config, prefix: str = ""):
    """Build ``cls`` from a nested dict, checking every key and type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"valid keys: {', '.join(prefix + n for n in names)}"
            raise ConfigError(f"unknown config key {prefix}{key!r}; {hint}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            kwargs[key] = from_dict(value or {}, kind, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(f"{prefix}{key}", value, kind)
    return cls(**kwargs)


def _coerce(key: str, value, kind):
    def bad(expected):
        return ConfigError(f"{key}: expected {expected}, got {value!r}; fix it in the YAML or pass {key}=<{expected}>")
    if isinstance(kind, types.UnionType):  # X | None
        inner = next(a for a in typing.get_args(kind) if a is not type(None))
        return None if value is None else _coerce(key, value, inner)
    if typing.get_origin(kind) is list:
        item = typing.get_args(kind)[0]
        if not isinstance(value, (list, tuple)):
            raise bad(f"a list of {item.__name__}")
        return [_coerce(key, v, item) for v in value]
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise bad(f"a pair [first, last] of {item.__name__}")
        return tuple(_coerce(key, v, item) for v in value)
    if kind is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise bad("an integer")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if kind is str:
        if isinstance(value, (dict, list)) or value is None:
            raise bad("a string")
        return str(value)
    raise TypeError(f"unsupported config type {kind} for {key}")


def merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_overrides(items) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value; write e.g. schedule.stages=4")
        key, text = item.split("=", 1)
        try:
            value = _yaml(text) if text.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"override {key}: cannot parse {text!r} as a value ({err.__class__.__name__})") from None
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r}: {key!r} is not a dotted key; write e.g. schedule.stages=4")
        node = out
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parts[:i + 1])} was already given a value ({node!r}) by "
                                  "an earlier override, so it cannot also have sub-keys; drop one of the two")
        if isinstance(node.get(parts[-1]), dict) and not isinstance(value, dict):
            raise ConfigError(f"override {item!r}: earlier overrides set keys under {key}; a value for the whole "
                              f"section would replace them; drop one of the two")
        node[parts[-1]] = value
    return out


_PARSED: dict[tuple, dict] = {}  # (path, content digest) -> the parsed mapping
PARSES: Counter = Counter()  # path -> times parsed (tests count them)


def read_yaml(path) -> dict:
    """The mapping a YAML file holds (a fresh copy: callers may change it). Each content of a file is parsed
    once, however many configs a command resolves from it (a spec's every arm reads its trainer section)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; give a path such as {CONFIGS_DIR.name}/progressive.yaml")
    text = path.read_text()
    key = (str(path.resolve()), hashlib.sha1(text.encode()).hexdigest())
    if key not in _PARSED:
        try:
            data = _yaml(text) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of config keys")
        PARSES[key[0]] += 1
        _PARSED[key] = data
    return copy.deepcopy(_PARSED[key])


def study_path(name: str) -> Path:
    path = STUDIES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))
        raise ConfigError(f"profile: unknown profile {name!r}; choose one of {', '.join(known)}")
    return path


def profile_defaults(name: str) -> dict:
    """The ``trainer`` section of ``studies/<name>.yaml``: that profile's trainer defaults."""
    path = study_path(name)
    trainer = read_yaml(path).get("trainer") or {}
    if not isinstance(trainer, dict):
        raise ConfigError(f"{path}: 'trainer' must be a mapping of config keys")
    return trainer


def _profile_section(path, by_profile, name: str) -> dict:
    """An experiment YAML's ``profiles: {<profile>: {...}}``: its settings under that profile only (e.g. the §5.3
    transfer recipe at paper scale), layered over the file's own keys."""
    if not isinstance(by_profile, dict) or not all(isinstance(v, dict) for v in by_profile.values()):
        raise ConfigError(f"{path}: 'profiles' must map profile names to config keys, e.g. profiles: {{gpu: {{...}}}}")
    close = difflib.get_close_matches(name, [str(k) for k in by_profile], n=1, cutoff=0.75) if name else []
    if name not in by_profile and close:
        raise ConfigError(f"{path}: profiles.{close[0]} is not a profile; did you mean profiles.{name}?")
    return by_profile.get(name) or {}


def load(path=None, overrides=(), profile: str | None = None, updates: dict | None = None) -> Config:
    """Resolve a config: defaults < profile < YAML file < the file's ``profiles.<profile>`` section < ``updates``
    (dict) < ``overrides`` (``key=value`` strings); then validate."""
    file_data = read_yaml(path) if path else {}
    by_profile = file_data.pop("profiles", None) or {}
    over = parse_overrides(overrides)
    updates = updates or {}
    name = over.get("profile", updates.get("profile", file_data.get("profile", profile))) or ""
    merged: dict = {}
    for layer in (profile_defaults(name) if name else {}, file_data, _profile_section(path, by_profile, name), updates,
                  over, {"profile": name}):
        merged = merge(merged, layer)
    cfg = from_dict(merged)
    validate(cfg)
    return cfg


def flat(cfg: Config) -> dict:
    """``{"data.batch_size": 64, ...}``: every leaf value under its dotted key."""
    def walk(d, prefix=""):
        for k, v in d.items():
            yield from walk(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
    return dict(walk(to_dict(cfg)))


def diff(a: Config, b: Config, ignore=RESUME_FREE_KEYS) -> list[str]:
    """Dotted keys whose values differ between two configs."""
    fa, fb = flat(a), flat(b)
    return [k for k in fa if fa[k] != fb.get(k) and k not in ignore]


# --------------------------------------------------------------------------- validation
def validate(cfg: Config) -> None:
    """Raise ``ConfigError`` listing every problem (key, value, fix). Pairs left to Table 6 (None)
    are checked once ``progressive.resolve`` has filled them in."""
    errors = []

    def need(ok, key, value, fix):
        if not ok:
            errors.append(f"{key}={value!r}: {fix}")

    s, d, o, t, m = cfg.schedule, cfg.data, cfg.optim, cfg.train, cfg.model
    need(s.mode in MODES, "schedule.mode", s.mode, f"choose one of {', '.join(MODES)}")
    need(s.hold in HOLDS, "schedule.hold", s.hold, f"choose one of {', '.join(HOLDS)}")
    need(s.stages >= 1, "schedule.stages", s.stages, "use at least 1 stage")
    staged = s.mode in STAGED_MODES
    need(t.epochs >= (max(1, s.stages) if staged else 1), "train.epochs", t.epochs,
         f"need at least one epoch per stage (>= {s.stages if staged else 1})")
    need(s.size_multiple >= 1, "schedule.size_multiple", s.size_multiple, "use 1 (no snapping) or e.g. 8")
    need(s.resize_every >= 0, "schedule.resize_every", s.resize_every, "use 0 (every batch) or a number of epochs")
    for key in PAIRS:
        if getattr(s, key) is None:
            continue
        first, last = getattr(s, key)
        need(first <= last, f"schedule.{key}", [first, last], "the first-stage value must not exceed the last-stage value")
        need(first >= 0, f"schedule.{key}", [first, last], "values must not be negative")
    if s.image_size is not None:
        need(s.image_size[0] >= 8, "schedule.image_size", list(s.image_size), "use at least 8 px")
        for size in s.image_size:
            need(size % s.size_multiple == 0, "schedule.image_size", list(s.image_size),
                 f"sizes must be divisible by schedule.size_multiple={s.size_multiple}; change either")
    if s.randaug_magnitude is not None:
        need(s.randaug_magnitude[1] <= d.randaug_mmax, "schedule.randaug_magnitude", list(s.randaug_magnitude),
             f"must be <= data.randaug_mmax={d.randaug_mmax} (timm's cap); raise the cap or lower the magnitude")
    if s.dropout is not None:
        need(s.dropout[1] < 1, "schedule.dropout", list(s.dropout), "dropout rates must be below 1")
    need(0 < d.randaug_mmax <= 100, "data.randaug_mmax", d.randaug_mmax, "use a cap in (0, 100]; 10 is timm's nominal maximum")
    need(0 <= m.drop_path_rate < 1, "model.drop_path_rate", m.drop_path_rate, "use a rate in [0, 1)")
    need(0 <= m.bn_momentum <= 1, "model.bn_momentum", m.bn_momentum, "PyTorch convention, in [0, 1]: TF's 0.99 is 0.01")
    need(m.num_classes >= 0, "model.num_classes", m.num_classes, "use 0 (from the dataset) or a positive count")
    need(d.batch_size >= 1, "data.batch_size", d.batch_size, "use a positive batch size")
    if s.mixup_alpha is not None:  # left to Table 6: checked once progressive.resolve fills it in
        need(d.batch_size % 2 == 0 or s.mixup_alpha[1] == 0, "data.batch_size", d.batch_size, "mixup needs an even batch size")
    need(d.eval_batch_size >= 1, "data.eval_batch_size", d.eval_batch_size, "use a positive batch size")
    need(d.eval_size >= 8, "data.eval_size", d.eval_size, "use the evaluation image size in px")
    need(0 < d.crop_pct <= 1, "data.crop_pct", d.crop_pct, "use a fraction in (0, 1]")
    need(d.eval_preprocess in EVAL_PREPROCESS, "data.eval_preprocess", d.eval_preprocess,
         f"choose {' or '.join(EVAL_PREPROCESS)}")
    need(d.normalize in NORMALIZE, "data.normalize", d.normalize, f"choose {' or '.join(NORMALIZE)}")
    need(d.randaug_variant in RANDAUG_VARIANTS, "data.randaug_variant", d.randaug_variant,
         f"choose {' or '.join(RANDAUG_VARIANTS)}")
    need(0 < d.train_crop_scale[0] <= d.train_crop_scale[1] <= 1, "data.train_crop_scale", list(d.train_crop_scale),
         "use area fractions 0 < low <= high <= 1, e.g. [0.08, 1] (timm) or [0.05, 1] (official)")
    need(d.num_workers >= 0, "data.num_workers", d.num_workers, "use 0 (main process) or more")
    need(d.train_limit >= 0 and d.eval_limit >= 0, "data.train_limit", d.train_limit, "use 0 (all) or a count")
    for key in ("lr", "weight_decay", "momentum", "eps", "warmup_epochs", "min_lr", "clip_grad"):
        need(getattr(o, key) >= 0, f"optim.{key}", getattr(o, key), "must not be negative")
    need(o.lr > 0, "optim.lr", o.lr, "use a positive learning rate")
    need(o.lr_base_batch >= 0, "optim.lr_base_batch", o.lr_base_batch, "use 0 (absolute lr) or e.g. 256")
    need(o.sched in ("step", "cosine", "constant"), "optim.sched", o.sched, "choose step, cosine or constant")
    need(0 <= o.flat_fraction < 1 and (o.flat_fraction == 0 or o.sched == "cosine"), "optim.flat_fraction",
         o.flat_fraction, "use a fraction in [0, 1) of the steps after the warm-up, with optim.sched=cosine")
    need(0 <= t.ema_horizon <= 1 and not (t.ema_horizon and t.ema_batch), "train.ema_horizon", t.ema_horizon,
         "use 0 (train.ema_decay as given) or a fraction of the run's steps in (0, 1], e.g. 0.1; not with train.ema_batch")
    need(o.decay_epochs > 0 and 0 < o.decay_rate <= 1, "optim.decay_epochs/decay_rate", (o.decay_epochs, o.decay_rate),
         "use decay_epochs > 0 and decay_rate in (0, 1]")
    need(0 <= t.label_smoothing < 1, "train.label_smoothing", t.label_smoothing, "use a value in [0, 1)")
    need(0 <= t.ema_decay < 1, "train.ema_decay", t.ema_decay, "use 0 (off) or e.g. 0.9999")
    need(t.ema_warmup_rule in EMA_WARMUP_RULES, "train.ema_warmup_rule", t.ema_warmup_rule,
         f"choose {' or '.join(EMA_WARMUP_RULES)}")
    need(t.ema_batch >= 0, "train.ema_batch", t.ema_batch, "use 0 (decay as given) or the global batch it is for, e.g. 4096")
    need(t.total_steps >= 0, "train.total_steps", t.total_steps, "use 0 (train.epochs decides) or a step count, e.g. 10000")
    need(t.grad_accum_steps >= 1, "train.grad_accum_steps", t.grad_accum_steps, "use 1 (no accumulation) or more")
    need(t.mixed_precision in ("no", "bf16", "fp16"), "train.mixed_precision", t.mixed_precision, "choose no, bf16 or fp16")
    need(t.steps_per_epoch >= 0 and t.eval_every >= 1, "train.steps_per_epoch/eval_every", (t.steps_per_epoch, t.eval_every),
         "steps_per_epoch >= 0 (0: all), eval_every >= 1")
    need(t.threads >= 0, "train.threads", t.threads, "use 0 (torch default) or a thread count")
    need(t.bf16_from_size >= 0, "train.bf16_from_size", t.bf16_from_size, "use 0 (never) or an image size in px")
    need(t.eval_subset >= 0 and d.cache_short_side >= 0, "train.eval_subset/data.cache_short_side",
         (t.eval_subset, d.cache_short_side), "use 0 (off) or a positive count / size")
    need(0 <= cfg.seed < 2**32, "seed", cfg.seed, "use a seed in [0, 2**32 - 1] (torch and NumPy accept no other)")
    for key in ("results_dir", "checkpoint_dir"):
        need(str(getattr(t, key)).strip() != "", f"train.{key}", getattr(t, key),
             "name a folder (empty would write into the current folder), e.g. results / checkpoints")
    need(isinstance(cfg.experiment, str) and PLAIN_NAME.fullmatch(cfg.experiment) is not None, "experiment", cfg.experiment,
         "use a plain folder name: letters, digits, '_', '-', '.', not starting with '.'")
    need(cfg.run_id == "" or PLAIN_NAME.fullmatch(cfg.run_id) is not None, "run_id", cfg.run_id,
         "use a plain folder name (letters, digits, '_', '-', '.', not starting with '.'), or leave it empty for seed<N>")
    if m.blocks:
        need(m.stem_channels >= 1 and m.head_channels >= 1, "model.stem_channels/head_channels",
             (m.stem_channels, m.head_channels), "use positive channel counts")
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
