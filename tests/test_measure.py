"""Measurement harness: MAC convention cross-checked three ways, timing, memory estimates."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import meta
from replication import measure
from replication.models import create_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("layer, in_chans, size, expected", [
    # analytic multiply-adds: output elements x inputs per output
    (nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), 3, 32, 16 * 16 * 8 * 3 * 3 * 3),
    (nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False), 8, 20, 20 * 20 * 8 * 5 * 5),  # depthwise
    (nn.Sequential(nn.Conv2d(4, 6, 1), nn.Flatten(), nn.Linear(6 * 7 * 7, 10)), 4, 7, 7 * 7 * 6 * 4 + 10 * 294),
])
def test_macs_three_ways_on_simple_layers(layer, in_chans, size, expected):
    assert measure.count_macs(layer, size, in_chans=in_chans) == expected
    assert measure.hook_macs(layer, size, in_chans=in_chans) == expected


@pytest.mark.parametrize("name, size", [("efficientnetv2_s", 384), ("efficientnet_b0", 224), ("resnet50", 224)])
def test_flop_counter_equals_hook_count_on_convnets(name, size):
    model = meta(name)
    assert measure.count_macs(model, size) == measure.hook_macs(model, size) > 0


def test_vit_macs_include_attention_matmuls_that_hooks_miss():
    model = meta("deit_b")
    layers_only, total = measure.hook_macs(model, 224), measure.count_macs(model, 224)
    tokens, dim, depth = 197, 768, 12
    assert total - layers_only == depth * 2 * tokens * tokens * dim  # q @ k^T and attn @ v


def test_counts_on_meta_equal_counts_on_cpu():
    cpu = create_model("efficientnetv2_b0", num_classes=10)
    on_meta = meta("efficientnetv2_b0", num_classes=10)
    assert measure.count_params(cpu) == measure.count_params(on_meta) == sum(p.numel() for p in cpu.parameters())
    assert measure.count_macs(cpu, 64) == measure.count_macs(on_meta, 64)
    assert measure.saved_activation_bytes(cpu, 32, 2) == measure.saved_activation_bytes(on_meta, 32, 2)
    assert cpu.training  # counting leaves the mode as it was


def test_macs_grow_with_image_area():
    model = meta("efficientnetv2_b0")
    ratio = measure.count_macs(model, 256) / measure.count_macs(model, 128)
    assert 3.9 < ratio < 4.0  # convs scale with area; SE and FC do not


def test_saved_activation_bytes_analytic_and_linear():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())  # saves input (3 ch) and ReLU output (4 ch)
    net.num_classes = 4
    for batch in (1, 3):
        assert measure.saved_activation_bytes(net, 8, batch) == batch * (3 + 4) * 8 * 8 * 4
    model = create_model("efficientnetv2_b0", num_classes=10)
    b1, b2, b3 = (measure.saved_activation_bytes(model, 64, b) for b in (1, 2, 3))
    assert b2 - b1 == b3 - b2 > 0


def test_peak_memory_extrapolates_and_judges_budget():
    model = meta("efficientnetv2_b0")
    small = measure.peak_memory(model, 224, batch_size=8, budget_gib=16)
    big = measure.peak_memory(model, 224, batch_size=4096, budget_gib=16)
    assert small["fits"] and not big["fits"]
    state = 4 * 4 * measure.count_params(model)  # fp32 weights, grads, 2 RMSProp slots
    probe = small["probe_bytes"]
    assert small["per_sample_bytes"] == (probe[1] - probe[0]) / 2  # probes at batch 2 and 4
    per_sample = small["per_sample_bytes"]
    assert big["estimated_bytes"] == pytest.approx(probe[0] + state + (4096 - 2) * per_sample)
    half = measure.peak_memory(model, 224, batch_size=8, amp_dtype=torch.float16)
    assert half["per_sample_bytes"] == pytest.approx(small["per_sample_bytes"] / 2, rel=0.03)
    with pytest.raises(ValueError, match="probe_batches"):
        measure.peak_memory(model, 224, 8, probe_batches=(2, 2))


def test_train_throughput_times_real_steps():
    model = create_model("efficientnetv2_b0", num_classes=10)
    before = model.classifier.weight.detach().clone()
    out = measure.train_throughput(model, 32, batch_size=4, warmup=1, repeats=3)
    assert len(out["step_seconds"]) == 3 and out["kind"] == "train" and out["channels_last"]
    assert out["images_per_second"] == pytest.approx(4 / out["step_seconds_median"])
    assert not torch.equal(before, model.classifier.weight)  # the optimizer really stepped
    with pytest.raises(ValueError, match="repeats"):
        measure.train_throughput(model, 32, batch_size=2, repeats=0)


def test_compare_train_throughput_round_robin():
    models = {n: create_model(n, num_classes=10) for n in ("efficientnetv2_b0", "effnet_b4_fused1_3")}
    out = measure.compare_train_throughput(models, 32, batch_size=2, warmup=0, repeats=2, channels_last=False)
    assert set(out) == set(models)
    assert all(len(r["step_seconds"]) == 2 and r["images_per_second"] > 0 for r in out.values())


def test_time_group_times_sizes_kinds_and_precisions_round_robin():
    members = {"small": ("train", create_model("efficientnetv2_b0", num_classes=10), 32, 2),
               "large": ("train", create_model("efficientnetv2_b0", num_classes=10), 48, 2),
               "infer": ("inference", create_model("effnet_b4_fused1_3_k3", num_classes=10), 32, 2)}
    out = measure.time_group(members, warmup=0, repeats=2, amp_dtype=torch.bfloat16)
    assert [out[n]["image_size"] for n in members] == [32, 48, 32] and out["infer"]["kind"] == "inference"
    assert {r["amp_dtype"] for r in out.values()} == {"bfloat16"} and "latency_ms_median" in out["infer"]
    assert members["small"][1].training and not members["infer"][1].training
    with pytest.raises(ValueError, match="kind 'eval'"):
        measure.time_group({"x": ("eval", members["small"][1], 32, 2)})


def test_inference_latency_and_throughput():
    model = create_model("efficientnetv2_b0", num_classes=10)
    lat = measure.inference_latency(model, 32, batch_size=2, warmup=1, repeats=2, channels_last=False)
    assert lat["latency_ms_median"] == pytest.approx(1000 * lat["step_seconds_median"])
    assert not model.training and lat["batch_size"] == 2
    thr = measure.inference_throughput(model, 32, batch_size=4, warmup=0, repeats=1)
    assert thr["batch_size"] == 4 and thr["images_per_second"] > 0
