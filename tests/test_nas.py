"""§3.3 NAS: the search space, sampler, reward and evaluator (replication.nas)."""
import json
import math
import random

import pytest
import torch
import yaml

from replication import measure, models
from replication.study import nas


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: more threads are slower under contention
    yield
    torch.set_num_threads(threads)


@pytest.mark.timeout(120)
def test_every_sampled_architecture_builds_and_runs_forward():
    space = nas.SearchSpace.from_backbone()
    for i in range(30):
        arch = nas.sample(0, i, space)
        assert space.contains(arch)
        model = arch.build(num_classes=10).eval()
        with torch.no_grad():
            out = model(torch.randn(1, 3, 32, 32))
        assert out.shape == (1, 10), arch
        layers = [len(stage) for stage in model.blocks]
        assert layers == [int(b.split("_r")[1].split("_")[0]) for b in arch.blocks]


def test_sampler_is_reproducible_from_its_seed():
    first = [nas.sample(7, i) for i in range(10)]
    assert first == [nas.sample(7, i) for i in range(10)]
    assert first != [nas.sample(8, i) for i in range(10)]
    assert len(set(first)) == 10  # indices give different architectures
    # one seeded RNG drives the space's sampler the same way
    space = nas.SearchSpace.from_backbone()
    assert space.sample(random.Random(3)) == space.sample(random.Random(3))


def test_sampler_covers_every_choice_within_the_stated_ranges():
    space = nas.SearchSpace.from_backbone()
    assert space.layers == ((1, 1), (1, 3), (1, 3), (2, 4), (3, 7), (4, 12))  # ceil(r/2) .. r + r//2 of V2-B0
    specs = [[models.efficientnetv2.parse_stage(b) for b in nas.sample(1, i, space).blocks] for i in range(200)]
    for stage, (lo, hi) in enumerate(space.layers):
        column = [s[stage] for s in specs]
        assert {s.fused for s in column} == {True, False}
        assert {s.kernel for s in column} == {3, 5}
        assert {s.expansion for s in column} == {1, 4, 6}
        assert {s.repeats for s in column} == set(range(lo, hi + 1))
        assert {s.channels for s in column} == {space.channels[stage]}  # channels come from the backbone
        assert all(s.se_ratio == (0.0 if s.fused else 0.25) for s in column)
    assert space.size() == math.prod(12 * (hi - lo + 1) for lo, hi in space.layers)


def test_search_space_expresses_v2s_exactly():
    space = nas.SearchSpace.from_backbone("efficientnetv2_s")
    v2s = nas.backbone_arch("efficientnetv2_s")
    assert v2s.blocks == ("fu_r2_k3_s1_e1_c24", "fu_r4_k3_s2_e4_c48", "fu_r4_k3_s2_e4_c64",
                          "mb_r6_k3_s2_e4_c128_se0.25", "mb_r9_k3_s1_e6_c160_se0.25", "mb_r15_k3_s2_e6_c256_se0.25")
    assert space.contains(v2s)
    # the strings the space writes for V2-S's choices are V2-S's strings
    specs = [models.efficientnetv2.parse_stage(b) for b in v2s.blocks]
    assert tuple(nas.block_string("fu" if s.fused else "mb", s.repeats, s.kernel, s.stride, s.expansion, s.channels)
                 for s in specs) == v2s.blocks
    with torch.device("meta"):
        ours = measure.count_params(v2s.build(num_classes=1000))
        reference = measure.count_params(models.create_model("efficientnetv2_s"))
    assert ours == reference == 21_458_488
    # V2-B0 is a point of the default space, too
    assert nas.SearchSpace.from_backbone().contains(nas.backbone_arch("efficientnetv2_b0"))


def test_contains_rejects_points_outside_the_space():
    space = nas.SearchSpace.from_backbone("efficientnetv2_s")
    blocks = list(nas.backbone_arch("efficientnetv2_s").blocks)
    for index, bad in [(0, "fu_r2_k7_s1_e1_c24"), (1, "fu_r4_k3_s2_e2_c48"), (2, "fu_r4_k3_s2_e4_c72"),
                       (3, "mb_r6_k3_s2_e4_c128"), (1, "fu_r4_k3_s2_e4_c48_se0.25"), (5, "mb_r30_k3_s2_e6_c256_se0.25")]:
        changed = blocks.copy()
        changed[index] = bad
        assert not space.contains(nas.Arch(24, 1280, tuple(changed))), bad
    with pytest.raises(KeyError, match="backbone 'resnet50' is unknown"):
        nas.SearchSpace.from_backbone("resnet50")


def test_reward_follows_the_formula():
    assert (nas.W, nas.V) == (-0.07, -0.05)
    assert nas.reward(0.8, 1.0, 1.0) == pytest.approx(0.8)
    assert nas.reward(0.8, 2.0, 4.0) == pytest.approx(0.8 * 2 ** -0.07 * 4 ** -0.05)
    assert nas.reward(0.5, 2.0, 1.0) / nas.reward(0.5, 1.0, 1.0) == pytest.approx(0.952638, abs=1e-6)  # 2^-0.07
    assert nas.reward(0.5, 1.0, 2.0) / nas.reward(0.5, 1.0, 1.0) == pytest.approx(0.965936, abs=1e-6)  # 2^-0.05
    assert nas.reward(0.6, 0.5, 0.5) > nas.reward(0.6, 1.0, 1.0) > nas.reward(0.6, 3.0, 3.0)
    with pytest.raises(ValueError, match="S, P > 0"):
        nas.reward(0.5, 0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= A <= 1"):
        nas.reward(62.0, 1.0, 1.0)  # a percentage instead of a fraction


@pytest.mark.timeout(120)
def test_evaluator_writes_resumable_run_records(tmp_path):
    kwargs = dict(profile="smoke", dataset="imagenette_tiny", samples=1, epochs=1, seed=0,
                  output_dir=tmp_path / "results", checkpoint_dir=tmp_path / "ckpt", image_size=32,
                  train_limit=32, eval_limit=32, batch_size=16, repeats=1)
    frame = nas.search(**kwargs)
    assert sorted(frame["run_id"]) == ["sample000", "v2b0_reference"]
    for run_id in frame["run_id"]:
        folder = tmp_path / "results" / "nas" / run_id
        assert (folder / "config.yaml").is_file() and (folder / "epochs.csv").is_file()
        s = json.loads((folder / "summary.json").read_text())
        assert s["status"] == "complete" and s["timing_image_size"] == 32
        assert s["accuracy"] == s["final"]["val_top1"] / 100
        assert s["reward"] == pytest.approx(nas.reward(s["accuracy"], s["step_time_ratio"], s["params_ratio"]))
        assert s["step_time_ratio"] == pytest.approx(s["step_time"] / s["ref_step_time"])
        arch = nas.Arch(s["stem"], s["head"], tuple(s["blocks"]))
        assert s["params"] == measure.count_params(arch.build(num_classes=10))
    ref = json.loads((tmp_path / "results/nas/v2b0_reference/summary.json").read_text())
    assert tuple(ref["blocks"]) == nas.backbone_arch("efficientnetv2_b0").blocks and ref["params_ratio"] == 1.0
    assert tuple(json.loads((tmp_path / "results/nas/sample000/summary.json").read_text())["blocks"]) == \
        nas.sample(0, 0).blocks
    assert not [n for n in models.list_models() if n.startswith("nas_")]  # nothing registered: model.blocks
    saved = yaml.safe_load((tmp_path / "results/nas/sample000/config.yaml").read_text())["model"]
    assert tuple(saved["blocks"]) == nas.sample(0, 0).blocks and saved["stem_channels"] == nas.sample(0, 0).stem
    # finished samples are skipped: a second call reads the records back without training
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*.json")}
    again = nas.search(**kwargs)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*.json")} == before
    assert again["reward"].tolist() == frame["reward"].tolist()
    # a half-done run whose saved architecture is not what the sampler now gives is refused
    stale = tmp_path / "results" / "nas" / "sample001"
    stale.mkdir()
    (stale / "arch.yaml").write_text("stem: 32\nhead: 1280\nblocks: [fu_r1_k3_s1_e1_c16]\n")
    settings = {k: v for k, v in kwargs.items() if k not in ("samples", "repeats")} | {"experiment": "nas"}
    with pytest.raises(ValueError, match="sampler or search space changed"):
        nas.evaluate(nas.sample(0, 1), "sample001", index=1, **settings)
