"""The released weights in our model: 'same' padding, import from timm, evaluate (no downloads).

timm's models are built with random weights; their BatchNorm statistics are set from one random
batch (instead of mean 0 / variance 1) so that a wrong BN mapping or epsilon changes the logits.
"""
from __future__ import annotations

import json

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.data import ImageNetInfo, create_transform, resolve_data_config

from replication.__main__ import main
from replication.data import get_dataset
from replication.models import create_model
from replication.models.efficientnetv2 import SameConv2d
from replication import weights
from replication.weights import WeightsError, import_timm, label_columns, load_timm_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")

# (H, W): even, odd, odd, and mixed (stride-2 pads differ per side and per axis)
SIZES = ((64, 64), (65, 65), (97, 97), (66, 99))


def timm_model(name: str, **kwargs) -> torch.nn.Module:
    """timm's model, random weights, BN running statistics of one random batch; eval mode."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # running stats = this batch's
    with torch.no_grad():
        model.train()(torch.randn(4, 3, 64, 64))
    return model.eval()


def max_rel_diff(ours, theirs, size) -> float:
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    return ((a - b).abs().max() / b.abs().max()).item()


def test_same_padding_is_tensorflow_same():
    conv = SameConv2d(3, 4, 3, 2, 0, bias=False)
    x = torch.randn(1, 3, 65, 66)  # H odd: 1 + 1; W even: 0 left, 1 right
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, (0, 1, 1, 1)), conv.weight, stride=2))
    assert conv(x).shape == (1, 4, 33, 33)
    model = create_model("efficientnetv2_b0", padding="same")
    strided = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.stride[0] > 1]
    assert strided and all(isinstance(m, SameConv2d) for m in strided)
    assert not any(isinstance(m, SameConv2d) for m in create_model("efficientnetv2_b0").modules())
    b4 = create_model("effnet_b4_fused1_3", padding="same")
    assert sum(isinstance(m, SameConv2d) for m in b4.modules()) == 5  # stem + 4 strided stages
    with pytest.raises(ValueError, match="padding='valid'"):
        create_model("efficientnetv2_b0", padding="valid")


TWINS = {"b0": None, "b1": None, "b2": None, "b3": None, "s": "efficientnetv2_s", "m": "efficientnetv2_m",
         "l": "efficientnetv2_l", "xl": "efficientnetv2_xl"}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", TWINS)
def test_timm_weights_give_identical_logits(variant):
    """tf_efficientnetv2_*: our 'same' model equals timm's; symmetric padding does not. The non-tf twin
    (same tensors, PyTorch padding, eps 1e-5) equals our symmetric model."""
    tf_name = f"tf_efficientnetv2_{variant}"
    theirs = timm_model(tf_name)
    state = theirs.state_dict()
    ours, meta = import_timm(f"timm:{tf_name}", state)
    assert meta["build"] == dict(num_classes=1000, padding="same", bn_eps=1e-3)
    diffs = [max_rel_diff(ours, theirs, size) for size in SIZES]
    assert max(diffs) < 1e-5, diffs
    with torch.device("meta"):
        symmetric = create_model(f"efficientnetv2_{variant}", padding="symmetric")
    assert max_rel_diff(load_timm_state_dict(symmetric, state).eval(), theirs, (64, 64)) > 1e-3
    if TWINS[variant]:
        with torch.device("meta"):
            twin = timm.create_model(TWINS[variant], pretrained=False)
        twin.load_state_dict(state, assign=True)
        ours, meta = import_timm(f"timm:{TWINS[variant]}", state)
        assert meta["build"]["padding"] == "symmetric" and meta["build"]["bn_eps"] == 1e-5
        assert max(max_rel_diff(ours, twin.eval(), size) for size in SIZES[::3]) < 1e-5


def test_b4_baseline_takes_tf_efficientnet_b4():
    theirs = timm_model("tf_efficientnet_b4")
    ours, meta = import_timm("timm:tf_efficientnet_b4", theirs.state_dict())
    assert meta["model"] == "effnet_b4_ours"
    assert max(max_rel_diff(ours, theirs, size) for size in SIZES[::3]) < 1e-5


def meta_state(name, **kwargs):
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, **kwargs).state_dict()


def test_mismatched_state_dict_is_refused_naming_the_first_bad_key():
    b1 = meta_state("tf_efficientnetv2_b1")
    with pytest.raises(WeightsError, match=r"our key 'blocks.0.1.project.conv.weight' .* missing"):
        import_timm("timm:tf_efficientnetv2_b1", meta_state("tf_efficientnetv2_b0"))
    with pytest.raises(WeightsError, match=r"key 'blocks.0.1.conv.weight' has no counterpart"):
        import_timm("timm:tf_efficientnetv2_b0", b1)
    bad = dict(b1)
    bad["blocks.3.0.conv_dw.weight"] = torch.zeros(1, 1, 3, 3, device="meta")
    with pytest.raises(WeightsError, match=r"'blocks.3.0.conv_dw.weight' has shape \(1, 1, 3, 3\), "
                                           r"our 'blocks.3.0.dw.conv.weight' has \(192, 1, 3, 3\)"):
        import_timm("timm:tf_efficientnetv2_b1", bad)
    with pytest.raises(WeightsError, match="'extra.weight' has no counterpart"):
        import_timm("timm:tf_efficientnetv2_b1", b1 | {"extra.weight": torch.zeros(1)})
    with pytest.raises(WeightsError, match="different architecture"):
        import_timm("timm:efficientnetv2_rw_s", meta_state("efficientnetv2_rw_s"))
    with pytest.raises(WeightsError, match="no counterpart among our models"):
        import_timm("timm:resnet50", {})
    # 21k-class heads are kept: the class count comes from the checkpoint
    model, meta = import_timm("timm:tf_efficientnetv2_b0", meta_state("tf_efficientnetv2_b0", num_classes=21843))
    assert meta["build"]["num_classes"] == model.classifier.out_features == 21843


def test_downloads_only_when_allowed_and_official_preprocessing(monkeypatch):
    monkeypatch.delenv("REPLICATION_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(WeightsError, match="REPLICATION_ALLOW_DOWNLOAD=1"):
        import_timm("timm:tf_efficientnetv2_s.in1k")
    pre = weights.timm_source("timm:tf_efficientnetv2_s.in1k").preprocessing()
    assert pre == dict(interpolation="bicubic", crop_pct=1.0, crop_mode="center", mean=[0.5] * 3,
                       std=[0.5] * 3, eval_size=384)
    assert weights.timm_source("tf_efficientnetv2_l.in21k_ft_in1k").preprocessing()["eval_size"] == 480


def test_label_columns():
    wnids = ImageNetInfo().label_names()
    tench, goldfish = wnids[0], wnids[1]
    assert label_columns(1000, [goldfish, tench], None) == (None, [1, 0])
    assert label_columns(1000, [goldfish], [tench, goldfish]) == ([0, 1], [1])
    assert label_columns(10, [f"c{i}" for i in range(10)], None) == (None, list(range(10)))
    with pytest.raises(WeightsError, match="not among the --classes-of"):
        label_columns(1000, [tench, wnids[5]], [tench, goldfish])
    with pytest.raises(WeightsError, match="1000 outputs but the dataset has 2 classes"):
        label_columns(1000, ["cat", "dog"], None)


@pytest.mark.timeout(120)
def test_cli_import_then_evaluate_matches_timm_on_imagenette_tiny(tmp_path, capsys):
    """A nearest-centroid classifier on the ten Imagenette columns makes accuracy far above chance,
    so a wrong wnid mapping or preprocessing shows; the numbers must equal timm's own pipeline."""
    theirs = timm_model("tf_efficientnetv2_s")
    config = resolve_data_config({"input_size": (3, 64, 64)}, pretrained_cfg=timm.models.get_pretrained_cfg(
        "tf_efficientnetv2_s.in1k").to_dict())
    images = get_dataset("imagenette_tiny", "eval", create_transform(**config))
    x = torch.stack([images[i][0] for i in range(len(images))])
    y = torch.tensor(images.targets)
    columns = [ImageNetInfo().label_names().index(w) for w in images.classes]
    with torch.no_grad():
        feats = theirs.forward_head(theirs.forward_features(x), pre_logits=True)
        centroids = torch.stack([feats[y == c].mean(0) for c in range(10)])
        theirs.classifier.weight.zero_()
        theirs.classifier.bias.zero_()
        theirs.classifier.weight[columns] = centroids
        theirs.classifier.bias[columns] = -centroids.square().sum(1) / 2  # argmax = nearest centroid
        top = theirs(x)[:, columns].topk(5).indices
    expected1 = 100 * (top[:, 0] == y).float().mean().item()
    expected5 = 100 * (top == y[:, None]).any(1).float().mean().item()
    assert expected1 > 25  # chance is 10 (32.5 measured)

    source, ours = tmp_path / "timm.pth", tmp_path / "v2s.pt"
    torch.save(theirs.state_dict(), source)
    assert main(["weights", "import", "timm:tf_efficientnetv2_s.in1k", "--from", str(source), "--out", str(ours)]) == 0
    assert json.loads(capsys.readouterr().out)["build"]["padding"] == "same"
    args = ["evaluate", "efficientnetv2_s", "--weights", str(ours), "--dataset", "imagenette_tiny",
            "--image-size", "64", "--classes-of", "imagenette_tiny"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 80 and out["source"] == "timm:tf_efficientnetv2_s.in1k"
    assert out["top1"] == pytest.approx(expected1) and out["top5"] == pytest.approx(expected5)
    assert out["preprocessing"] == dict(interpolation="bicubic", crop_pct=1.0, crop_mode="center",
                                        mean=[0.5] * 3, std=[0.5] * 3)
    assert main(["evaluate", "efficientnetv2_m", *args[2:]]) == 2
    assert "holds efficientnetv2_s, not efficientnetv2_m" in capsys.readouterr().err
    assert main(["evaluate", "efficientnetv2_s", "--weights", str(source), "--dataset", "imagenette_tiny"]) == 2
    assert "not a file written by `python -m replication weights import`" in capsys.readouterr().err


def test_evaluate_released_writes_rows_and_resumes(tmp_path, monkeypatch):
    calls = []

    def fake_import(name):
        calls.append(name)
        with torch.device("meta"):
            state = timm.create_model("tf_efficientnetv2_b0", pretrained=False).state_dict()
        model, meta = import_timm("timm:tf_efficientnetv2_b0", {k: torch.zeros_like(v, device="cpu")
                                                                for k, v in state.items()})
        return model, meta | {"preprocessing": meta["preprocessing"] | {"eval_size": 32}}

    monkeypatch.setattr(weights, "import_timm", fake_import)
    out = tmp_path / "released.csv"
    first = ["tf_efficientnetv2_b0.in1k", "tf_efficientnetv2_s.in21k_ft_in1k"]
    rows = weights.evaluate_released("imagenette_tiny", out, first, limit=4, workers=0)
    assert [r["paper_row"] for r in rows] == ["V2-B0", "EfficientNetV2-S (21k)"]
    assert all(r["images"] == 4 and r["image_size"] == 32 for r in rows)
    weights.evaluate_released("imagenette_tiny", out, [first[1], "tf_efficientnetv2_m.in1k"], limit=4, workers=0)
    assert calls == first + ["tf_efficientnetv2_m.in1k"]  # the finished row was not evaluated again
    assert out.read_text().count("\n") == 4  # header + three rows


@pytest.mark.parametrize("option,value", [("--limit", "-5"), ("--batch-size", "0"), ("--limit", "0"),
                                          ("--workers", "-1"), ("--image-size", "0")])
def test_evaluate_refuses_counts_below_their_minimum_in_one_line(capsys, option, value):
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "efficientnetv2_s", "--weights", "w.pt", "--dataset", "imagenette_tiny", option, value])
    assert stop.value.code == 2
    assert f"argument {option}: '{value}' is not " in capsys.readouterr().err


def test_weights_import_into_a_folder_is_refused_before_the_import(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(weights, "import_timm", lambda *a, **k: pytest.fail("imported before checking --out"))
    assert main(["weights", "import", "timm:tf_efficientnetv2_s", "--from", "x.pth", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: --out {tmp_path} is a folder; give a file name for the weights, "
                                       f"e.g. --out {tmp_path / 'weights.pt'}\n")


def test_evaluate_help_explains_split_and_batch_size(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--split SPLIT the split to evaluate: eval (default" in text
    assert "--batch-size BATCH_SIZE images per forward pass (default 50)" in text
