"""The config system: layers, overrides, round trip, and clear errors before any compute."""
from __future__ import annotations

import pytest
import yaml

from replication import config as C
from replication import progressive, results, train
from replication.__main__ import main

PROGRESSIVE = C.CONFIGS_DIR / "progressive.yaml"


def load(*overrides, path=PROGRESSIVE, resources=False):
    cfg = C.load(path, list(overrides))
    if resources:
        train.check_resources(progressive.resolve(cfg))
    return cfg


def test_layers_defaults_profile_file_overrides():
    cfg = load("profile=smoke", "schedule.stages=4", "train.epochs=8")
    assert cfg.profile == "smoke" and cfg.experiment == "progressive" and cfg.schedule.mode == "paper"
    assert cfg.data.dataset == "imagenette_tiny"  # from the profile
    assert cfg.schedule.stages == 4 and cfg.train.epochs == 8  # overrides win over the profile
    assert cfg.optim.momentum == C.OptimConfig().momentum  # untouched defaults stay
    assert load().profile == "" and load().data.dataset == C.DataConfig().dataset


def test_profile_named_in_the_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("experiment: mine\nprofile: cpu\nschedule: {mode: fixed}\n")
    cfg = C.load(path, [])
    assert (cfg.profile, cfg.data.dataset, cfg.schedule.mode) == ("cpu", "imagenette", "fixed")
    assert C.load(path, ["profile=smoke"]).data.dataset == "imagenette_tiny"
    assert C.load(path, ["profile=smoke"], updates={"data": {"batch_size": 8}}).data.batch_size == 8
    assert C.load(path, ["data.batch_size=4"], updates={"data": {"batch_size": 8}}).data.batch_size == 4  # strings last


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_every_profile_and_experiment_config_is_valid(profile):
    for path in sorted(C.CONFIGS_DIR.glob("*.yaml")):
        load(f"profile={profile}", path=path)


def test_gpu_profile_is_the_paper_recipe():
    cfg = load("profile=gpu")
    assert cfg.schedule.image_size is None  # open: Table 6 fills it for the model
    table6 = progressive.paper_defaults()["efficientnetv2_s"]
    cfg = progressive.resolve(cfg)
    assert cfg.model.name == "efficientnetv2_s" and cfg.schedule.image_size == table6["image_size"]
    assert cfg.schedule.randaug_magnitude == table6["randaug_magnitude"] and cfg.schedule.dropout == table6["dropout"]
    assert (cfg.optim.name, cfg.optim.decay_rate, cfg.optim.decay_epochs, cfg.train.ema_decay) == ("rmsproptf", 0.97, 2.4, 0.9999)


def test_override_values_are_typed():
    cfg = load("schedule.image_size=[64, 128]", "optim.lr=1", "train.channels_last=false", "run_id=7", "seed=3")
    assert cfg.schedule.image_size == (64, 128) and isinstance(cfg.optim.lr, float) and cfg.optim.lr == 1.0
    assert cfg.train.channels_last is False and cfg.run_id == "7" and cfg.resolved_run_id == "7"
    assert load("seed=3").resolved_run_id == "seed3"


def test_yaml_booleans_are_only_true_and_false(tmp_path):
    assert load("train.mixed_precision=no").train.mixed_precision == "no"  # YAML 1.1 would read False
    with pytest.raises(C.ConfigError, match="train.channels_last: expected true or false, got 'no'"):
        load("train.channels_last=no")
    path = tmp_path / "exp.yaml"
    path.write_text("train: {mixed_precision: no, channels_last: false}\n")
    cfg = C.load(path)
    assert (cfg.train.mixed_precision, cfg.train.channels_last) == ("no", False)


def test_round_trip_through_yaml(tmp_path):
    cfg = load("profile=cpu", "schedule.mode=official", "seed=5")
    results.save_config(cfg, tmp_path / "config.yaml")
    back = C.from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    assert back == cfg and C.diff(back, cfg) == []
    assert C.diff(cfg, load("profile=cpu", "seed=5")) == ["schedule.mode"]
    assert C.diff(cfg, load("profile=cpu", "schedule.mode=official", "seed=5", "train.threads=1")) == []
    # the worker count decides where augmentation's random numbers come from: a resume keeps it
    assert C.diff(cfg, load("profile=cpu", "schedule.mode=official", "seed=5", "data.num_workers=1")) == ["data.num_workers"]


@pytest.mark.parametrize("override,needle", [
    ("schedule.stage=4", "schedule.stages"),  # suggestion for a typo
    ("shedule.stages=4", "schedule"),
    ("schedule.stages=two", "schedule.stages: expected an integer"),
    ("schedule.image_size=128", "pair"),
    ("train.channels_last=1", "true or false"),
    ("noequals", "key=value"),
])
def test_malformed_overrides_name_the_key(override, needle):
    with pytest.raises(C.ConfigError, match=needle):
        load(override)


@pytest.mark.parametrize("overrides,needle", [
    (["schedule.stages=0"], "schedule.stages=0"),
    (["schedule.stages=5", "train.epochs=4"], "train.epochs=4"),
    (["schedule.image_size=[300, 128]"], "must not exceed"),
    (["schedule.dropout=[0.3, 0.1]"], "schedule.dropout"),
    (["optim.lr=-0.1"], "optim.lr"),
    (["optim.weight_decay=-1"], "optim.weight_decay"),
    (["schedule.mixup_alpha=[-0.2, 0]"], "negative"),
    (["schedule.randaug_magnitude=[5, 40]"], "randaug_mmax"),
    (["schedule.image_size=[130, 300]", "schedule.size_multiple=4"], "divisible"),
    (["schedule.mode=progresive"], "choose one of"),
    (["schedule.dropout=[0.1, 1.0]"], "below 1"),
    (["train.mixed_precision=fp8"], "train.mixed_precision"),
    (["data.batch_size=15", "schedule.mixup_alpha=[0, 0.2]"], "even"),
    (["profile=laptop"], "unknown profile"),
    (["train=5", "train.results_dir=X"], "train was already given a value"),
    (["train.results_dir=X", "train=5"], "earlier overrides set keys under train"),
    (["experiment=.."], "experiment='..': use a plain folder name"),
    (["run_id=../elsewhere"], "run_id='../elsewhere': use a plain folder name"),
    (["run_id=.hidden"], "run_id='.hidden'"),
])
def test_bad_values_are_refused_with_the_fix(overrides, needle):
    with pytest.raises(C.ConfigError, match=needle):
        load(*overrides)


def test_all_problems_are_listed_at_once():
    with pytest.raises(C.ConfigError) as err:
        load("schedule.stages=0", "optim.lr=-1")
    assert "schedule.stages" in str(err.value) and "optim.lr" in str(err.value)


def test_unknown_model_and_missing_dataset(tmp_path, monkeypatch):
    with pytest.raises(C.ConfigError, match="did you mean efficientnetv2_s"):
        load("profile=smoke", "model.name=efficientnetv2_ss", resources=True)
    with pytest.raises(C.ConfigError, match="optim.name='rmsprop_tf'.*rmsproptf"):
        load("profile=smoke", "optim.name=rmsprop_tf", resources=True)
    with pytest.raises(C.ConfigError, match="data.dataset='imagenet_tiny'"):
        load("profile=smoke", "data.dataset=imagenet_tiny", resources=True)
    monkeypatch.setenv("REPLICATION_DATA_MIRROR", str(tmp_path / "empty"))
    monkeypatch.setenv("REPLICATION_DATA_DIR", str(tmp_path / "cache"))
    with pytest.raises(C.ConfigError, match="data.dataset='cifar10'.*not available"):
        load("profile=smoke", "data.dataset=cifar10", resources=True)
    with pytest.raises(C.ConfigError, match="does not exist"):
        C.load(tmp_path / "nope.yaml")


def test_cli_stops_before_any_compute(tmp_path, capsys):
    out = tmp_path / "results"
    rc = main(["train", str(PROGRESSIVE), "profile=smoke", "schedule.stages=0", f"train.results_dir={out}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "config error" in err and "schedule.stages=0" in err and "at least 1 stage" in err
    assert not out.exists()


def test_the_step_schedule_counts_from_step_0_as_the_official_code():
    import torch

    from replication import recipe

    cfg = load("profile=gpu")  # RMSProp, 0.016 per 256, 5 warm-up epochs, x0.97 every 2.4 epochs
    steps, batch = 100, 4096
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = recipe.build_scheduler(cfg, opt, steps)
    base = cfg.optim.lr * batch / cfg.optim.lr_base_batch
    for epoch in (0, 2, 5, 5.01, 100, 349):
        t = int(round(epoch * steps))
        sched.step_update(t)
        official = base * t / (5 * steps) if epoch < 5 else base * 0.97 ** (t // (2.4 * steps))
        assert opt.param_groups[0]["lr"] * base == pytest.approx(official * 1.0, rel=1e-9), epoch


def test_odd_batch_seed_range_empty_folders_and_duplicate_keys_are_config_errors(tmp_path):
    C.load(None, ["data.batch_size=3"])  # mixup left to Table 6: judged once it is filled in, never a TypeError
    for override, needle in (("seed=-1", "seed=-1"), (f"seed={2**32}", "seed=4294967296"),
                             ("train.results_dir=", "train.results_dir=''"), ("train.checkpoint_dir= ", "checkpoint_dir")):
        with pytest.raises(C.ConfigError, match=needle):
            C.load(None, [override])
    path = tmp_path / "twice.yaml"
    path.write_text("train:\n  epochs: 3\n  epochs: 5\n")
    with pytest.raises(C.ConfigError, match=r"twice.yaml: not valid YAML.*'epochs' appears twice"):
        C.load(str(path))
    assert C._yaml("a: {b: 1}\nc: no\n") == {"a": {"b": 1}, "c": "no"}


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_KEYS = st.sampled_from(sorted(C.flat(C.Config())) + ["profile", "nope", "train", "schedule.image_size.x", "a..b", ""])
_SCALARS = st.one_of(st.text(max_size=12), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.booleans(), st.none())
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                             max_size=3), max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=30), st.builds(lambda k, v: f"{k}={v}", _KEYS, st.text(max_size=20))),
                max_size=4))
def test_any_override_strings_give_a_config_or_a_config_error(items):
    try:
        assert isinstance(C.load(None, items), C.Config)
    except C.ConfigError as err:
        assert str(err).strip()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=80), st.dictionaries(_KEYS, _VALUES, max_size=4).map(
    lambda d: yaml.safe_dump(_nest(d), sort_keys=False))))
def test_any_yaml_file_gives_a_config_or_a_config_error(tmp_path, text):
    path = tmp_path / "random.yaml"
    path.write_text(text)
    try:
        assert isinstance(C.load(str(path)), C.Config)
    except C.ConfigError as err:
        assert str(err).strip()


def _nest(flat_items: dict) -> dict:
    """{"a.b": 1} -> {"a": {"b": 1}} (later keys win where a prefix collides), as a YAML file would be written."""
    out: dict = {}
    for key, value in flat_items.items():
        node = out
        *parents, last = str(key).split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[last] = value
    return out
