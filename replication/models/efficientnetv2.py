"""EfficientNetV2 (Tan & Le, ICML 2021) and the EfficientNet-B4 Fused-MBConv variants of its Table 3.

Written from the paper's Table 4 and the official block configs (google/automl,
``efficientnetv2/effnetv2_configs.py``); timm is used only in the tests, as an independent
cross-check of every tensor shape.

Block strings (one per stage): ``<type>_r<repeats>_k<kernel>_s<stride>_e<expansion>_c<channels>[_se<ratio>]``
with type ``fu`` = Fused-MBConv (k x k conv expansion, 1x1 projection) and ``mb`` = MBConv
(1x1 expansion, depthwise k x k, SE, 1x1 projection). Channels and repeats are scaled by
``width`` / ``depth`` exactly as the official code does (``round_filters`` to a multiple of 8,
``ceil`` of repeats). SE reduces to ``int(block input channels * ratio)`` (not the expanded width).
A Fused-MBConv with expansion 1 is a single k x k conv + BN + SiLU (official code: no 1x1 projection).

Conventions
- BatchNorm: ``bn_momentum`` uses the **PyTorch** convention (weight of the *new* batch statistic).
  TF/Keras momentum m corresponds to PyTorch ``1 - m``. The official code uses TF 0.9 (PyTorch 0.1,
  our default) and eps 1e-3 (our default; PyTorch's own default is 1e-5); the paper text says TF 0.99
  (= PyTorch 0.01) -- pass ``bn_momentum=tf_momentum(0.99)`` to follow the paper.
- Padding: ``padding="symmetric"`` (default) pads ``k // 2`` on every side (PyTorch style);
  ``padding="same"`` is TensorFlow's 'same', which the official code and its released weights use:
  a stride-2 conv gets ``total = max((ceil(n / s) - 1) * s + k - n, 0)`` pixels, ``total // 2``
  before and the rest after (so one more at the bottom/right for even inputs), computed from each
  input's size. Stride-1 convs are the same either way. Output sizes, params and MACs do not change,
  but the released weights give the wrong logits without 'same' (see ``replication/weights.py``).
- Stochastic depth: block i of n drops its residual branch with probability
  ``drop_path_rate * i / n`` (official: survival 1 - 0.2 * i / n). Dropout before the classifier
  reads ``model.drop_rate`` at every forward, so it can change between stages without a rebuild.
- Init as the official code: conv ~ N(0, 2 / fan_out) with fan_out = k*k*out/groups; FC ~ U(+-1/sqrt(out)).

Parameter counts (1000 classes). ``count_params`` counts ``nn.Parameter`` elements only. The official
test ``effnetv2_model_test.py`` uses Keras ``count_params()``, which also counts BN moving mean and
variance; our params + 2 x (BN channels) reproduce those numbers exactly (e.g. L 119,027,848; see
tests). Official README: S 21.5M, M 54.1M, L 119.5M. S and M there are the Parameter-only counts
(21.46M, 54.14M; the Keras counts would round to 21.6M / 54.4M). For L the Parameter-only count is
118,515,272 (timm and torchvision agree) and the count with BN statistics is 119.03M: neither gives
119.5M, so the README's L figure is not reproducible from the released config with either convention
-- most likely a typo for 118.5M (the paper's tables round L to 120M, arXiv v1 said 121M).

EfficientNet-B4 with Fused-MBConv (paper Table 3). B4 = V1-B0 block strings scaled by width 1.4,
depth 1.8. "stage1-3" in the caption means stages {2,3,4} of the V1 layout, i.e. the first three
block stages; we read the unspecified rows the same way: "stage1-5" = the first five block stages
(V1 stages 2-6), "stage1-7" = all seven (2-8). Each fused block keeps that stage's kernel, expansion,
stride and SE 0.25 exactly as in B4 -- only the block type changes (literal "replace MBConv by
Fused-MBConv"; the paper's Figure 2 draws Fused-MBConv with SE). This reading was fixed before
counting; nothing is tuned. Counts at 380 px, M params / B MACs (paper: 19.3/4.5, 20.0/7.5,
43.4/21.3, 132.0/34.4):
    reading                  none        1-3         1-5          1-7
    ours (k kept, SE kept)   19.34/4.39  20.99/9.65  44.20/23.00  135.27/36.05
    k kept, no SE            19.34/4.39  20.95/9.65  43.53/23.00  132.12/36.04
    k3, SE kept              19.34/4.39  19.99/7.34  29.71/12.92   68.60/18.46
No single reading reproduces all three rows: without SE, rows 1-5 and 1-7 match the paper's params
to 0.3% / 0.1% (MACs +8% / +5%), while row 1-3 matches only if its 5x5 stage is fused as 3x3
(params 20.0, MACs 7.3). The paper's B4 baseline (4.5B) is 2.4% above our 4.39B MACs.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

# (stem channels, head channels, stage strings, dropout) before width/depth scaling
V2_S = (24, 1280, ("fu_r2_k3_s1_e1_c24", "fu_r4_k3_s2_e4_c48", "fu_r4_k3_s2_e4_c64",
                   "mb_r6_k3_s2_e4_c128_se0.25", "mb_r9_k3_s1_e6_c160_se0.25",
                   "mb_r15_k3_s2_e6_c256_se0.25"))
V2_M = (24, 1280, ("fu_r3_k3_s1_e1_c24", "fu_r5_k3_s2_e4_c48", "fu_r5_k3_s2_e4_c80",
                   "mb_r7_k3_s2_e4_c160_se0.25", "mb_r14_k3_s1_e6_c176_se0.25",
                   "mb_r18_k3_s2_e6_c304_se0.25", "mb_r5_k3_s1_e6_c512_se0.25"))
V2_L = (32, 1280, ("fu_r4_k3_s1_e1_c32", "fu_r7_k3_s2_e4_c64", "fu_r7_k3_s2_e4_c96",
                   "mb_r10_k3_s2_e4_c192_se0.25", "mb_r19_k3_s1_e6_c224_se0.25",
                   "mb_r25_k3_s2_e6_c384_se0.25", "mb_r7_k3_s1_e6_c640_se0.25"))
V2_XL = (32, 1280, ("fu_r4_k3_s1_e1_c32", "fu_r8_k3_s2_e4_c64", "fu_r8_k3_s2_e4_c96",
                    "mb_r16_k3_s2_e4_c192_se0.25", "mb_r24_k3_s1_e6_c256_se0.25",
                    "mb_r32_k3_s2_e6_c512_se0.25", "mb_r8_k3_s1_e6_c640_se0.25"))
V2_BASE = (32, 1280, ("fu_r1_k3_s1_e1_c16", "fu_r2_k3_s2_e4_c32", "fu_r2_k3_s2_e4_c48",
                      "mb_r3_k3_s2_e4_c96_se0.25", "mb_r5_k3_s1_e6_c112_se0.25",
                      "mb_r8_k3_s2_e6_c192_se0.25"))
# arXiv v1 Table 4 (the 24M "V2-S" of Tables 8 and 11, Figure 1): last stage 272, head 1792.
V2_S_ARXIV_V1 = (24, 1792, V2_S[2][:5] + ("mb_r15_k3_s2_e6_c272_se0.25",))
V1_B0 = (32, 1280, ("mb_r1_k3_s1_e1_c16_se0.25", "mb_r2_k3_s2_e6_c24_se0.25",
                    "mb_r2_k5_s2_e6_c40_se0.25", "mb_r3_k3_s2_e6_c80_se0.25",
                    "mb_r3_k5_s1_e6_c112_se0.25", "mb_r4_k5_s2_e6_c192_se0.25",
                    "mb_r1_k3_s1_e6_c320_se0.25"))

# name -> (arch, width, depth, dropout); dropout as in the official configs
VARIANTS = {
    "efficientnetv2_s": (V2_S, 1.0, 1.0, 0.2),
    "efficientnetv2_m": (V2_M, 1.0, 1.0, 0.3),
    "efficientnetv2_l": (V2_L, 1.0, 1.0, 0.4),
    "efficientnetv2_xl": (V2_XL, 1.0, 1.0, 0.4),
    "efficientnetv2_b0": (V2_BASE, 1.0, 1.0, 0.2),
    "efficientnetv2_b1": (V2_BASE, 1.0, 1.1, 0.2),
    "efficientnetv2_b2": (V2_BASE, 1.1, 1.2, 0.3),
    "efficientnetv2_b3": (V2_BASE, 1.2, 1.4, 0.3),
    "efficientnetv2_s_arxiv_v1": (V2_S_ARXIV_V1, 1.0, 1.0, 0.2),
    "efficientnet_b4_ours": (V1_B0, 1.4, 1.8, 0.4),
}


def tf_momentum(m: float) -> float:
    """TF/Keras BatchNorm momentum (decay of the running average) -> PyTorch ``momentum``."""
    return 1.0 - m


@dataclass(frozen=True)
class StageSpec:
    fused: bool
    repeats: int
    kernel: int
    stride: int
    expansion: int
    channels: int
    se_ratio: float = 0.0


def parse_stage(text: str) -> StageSpec:
    """Decode one block string, e.g. ``"mb_r6_k3_s2_e4_c128_se0.25"``."""
    kind, *ops = text.split("_")
    opts = dict(re.fullmatch(r"([a-z]+)([\d.]+)", op).groups() for op in ops)
    if kind not in ("fu", "mb") or not {"r", "k", "s", "e", "c"} <= opts.keys():
        raise ValueError(f"bad block string {text!r}: expected e.g. 'mb_r6_k3_s2_e4_c128_se0.25'")
    return StageSpec(kind == "fu", int(opts["r"]), int(opts["k"]), int(opts["s"]), int(opts["e"]),
                     int(opts["c"]), float(opts.get("se", 0.0)))


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Official ``round_filters``: scale by width, round to the nearest multiple of ``divisor``."""
    scaled = channels * width
    return max(divisor, int(scaled + divisor / 2) // divisor * divisor)


PADDINGS = ("symmetric", "same")


class SameConv2d(nn.Conv2d):
    """A conv with TensorFlow 'same' padding, computed per input size (asymmetric for stride 2)."""

    def forward(self, x):
        pads = []
        for n, k, s, d in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]):
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads += [total // 2, total - total // 2]  # F.pad order: (left, right, top, bottom)
        return super().forward(F.pad(x, pads))


class ConvBN(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> SiLU (or no activation)."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1, act=True, bn=None, padding="symmetric"):
        super().__init__()
        same = padding == "same" and stride > 1  # odd kernel, stride 1: 'same' is k // 2 on every side
        conv = SameConv2d if same else nn.Conv2d
        self.conv = conv(cin, cout, kernel, stride, 0 if same else kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, **(bn or {}))
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        s = self.expand(F.silu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * s.sigmoid()


class MBConv(nn.Module):
    """MBConv (``fused=False``) or Fused-MBConv (``fused=True``); modules run in definition order."""

    def __init__(self, cin, cout, spec: StageSpec, stride: int, drop_path: float, bn: dict,
                 padding: str = "symmetric"):
        super().__init__()
        mid, k = cin * spec.expansion, spec.kernel
        no_expand = spec.expansion == 1
        if spec.fused:
            self.expand = nn.Identity() if no_expand else ConvBN(cin, mid, k, stride, bn=bn, padding=padding)
            self.dw = nn.Identity()
        else:
            self.expand = nn.Identity() if no_expand else ConvBN(cin, mid, 1, bn=bn)
            self.dw = ConvBN(mid, mid, k, stride, groups=mid, bn=bn, padding=padding)
        self.se = SqueezeExcite(mid, max(1, int(cin * spec.se_ratio))) if spec.se_ratio else nn.Identity()
        if spec.fused and no_expand:  # official: the k x k conv *is* the projection, with activation
            self.project = ConvBN(cin, cout, k, stride, act=True, bn=bn, padding=padding)
        else:
            self.project = ConvBN(mid, cout, 1, act=False, bn=bn)
        self.has_skip = stride == 1 and cin == cout
        self.drop_path = DropPath(drop_path) if self.has_skip and drop_path > 0 else nn.Identity()

    def forward(self, x):
        out = self.project(self.se(self.dw(self.expand(x))))
        return x + self.drop_path(out) if self.has_skip else out


class EfficientNetV2(nn.Module):
    """Stem conv3x3/2 -> stages of (Fused-)MBConv blocks -> conv1x1 head -> avg pool -> dropout -> FC."""

    def __init__(self, stages, stem=24, head=1280, width=1.0, depth=1.0, num_classes=1000,
                 drop_rate=0.2, drop_path_rate=0.2, bn_momentum=0.1, bn_eps=1e-3, in_chans=3,
                 padding="symmetric"):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if padding not in PADDINGS:
            raise ValueError(f"padding={padding!r}: choose 'symmetric' (PyTorch, the default) or 'same' "
                             "(TensorFlow, needed for the official weights)")
        specs = [parse_stage(s) if isinstance(s, str) else s for s in stages]
        bn = dict(momentum=bn_momentum, eps=bn_eps)
        cin = round_filters(stem, width)
        self.stem = ConvBN(in_chans, cin, 3, 2, bn=bn, padding=padding)
        repeats = [math.ceil(s.repeats * depth) for s in specs]
        total, idx, stage_modules = sum(repeats), 0, []
        for spec, n in zip(specs, repeats):
            cout, blocks = round_filters(spec.channels, width), []
            for i in range(n):
                rate = drop_path_rate * idx / total
                blocks.append(MBConv(cin, cout, spec, spec.stride if i == 0 else 1, rate, bn, padding))
                cin, idx = cout, idx + 1
            stage_modules.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stage_modules)
        self.num_features = round_filters(head, width)
        self.head = ConvBN(cin, self.num_features, 1, bn=bn)
        self.drop_rate, self.num_classes = drop_rate, num_classes
        self.classifier = nn.Linear(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward_features(self, x):
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x):
        x = self.forward_features(x).mean((2, 3))
        x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return self.classifier(x)


def efficientnetv2(name: str, num_classes: int = 1000, **overrides) -> EfficientNetV2:
    """Build one of ``VARIANTS`` by name; ``overrides`` go to :class:`EfficientNetV2`."""
    if name not in VARIANTS:
        raise KeyError(f"unknown EfficientNetV2 variant {name!r}; choose from {sorted(VARIANTS)}")
    (stem, head, stages), width, depth, drop = VARIANTS[name]
    kwargs = dict(stem=stem, head=head, width=width, depth=depth, drop_rate=drop) | overrides
    return EfficientNetV2(stages, num_classes=num_classes, **kwargs)


def efficientnet_b4_fused(fused_stages: int, num_classes: int = 1000, fused_kernel: int | None = None,
                          fused_se: bool = True, **overrides) -> EfficientNetV2:
    """EfficientNet-B4 with its first ``fused_stages`` (0, 3, 5 or 7) block stages made Fused-MBConv.

    ``fused_kernel`` replaces the kernel of fused stages (None keeps B4's 3 or 5); ``fused_se=False``
    drops SE from fused stages. See the module docstring for the reading of Table 3.
    """
    (stem, head, stages), width, depth, drop = VARIANTS["efficientnet_b4_ours"]
    if not 0 <= fused_stages <= len(stages):
        raise ValueError(f"fused_stages must be in 0..{len(stages)}, got {fused_stages}")
    specs = []
    for i, text in enumerate(stages):
        spec = parse_stage(text)
        if i < fused_stages:
            spec = StageSpec(True, spec.repeats, fused_kernel or spec.kernel, spec.stride,
                             spec.expansion, spec.channels, spec.se_ratio if fused_se else 0.0)
        specs.append(spec)
    kwargs = dict(stem=stem, head=head, width=width, depth=depth, drop_rate=drop) | overrides
    return EfficientNetV2(specs, num_classes=num_classes, **kwargs)


def layer_table(model: EfficientNetV2) -> list[dict]:
    """Rows of the paper's Table 4 read back from a built model (its modules, not its config)."""
    stem = model.stem.conv
    rows = [dict(stage=0, operator=f"Conv{stem.kernel_size[0]}x{stem.kernel_size[0]}", block="conv",
                 expansion_ratio="", kernel=stem.kernel_size[0], se_ratio="", stride=stem.stride[0],
                 channels=stem.out_channels, layers=1)]
    for i, stage in enumerate(model.blocks, start=1):
        block = stage[0]
        convs = [m.conv for m in (block.expand, block.dw, block.project) if isinstance(m, ConvBN)]
        spatial = next(c for c in convs if c.kernel_size[0] > 1)
        cin, k = convs[0].in_channels, spatial.kernel_size[0]
        expansion = block.project.conv.in_channels // cin
        se = block.se.reduce.out_channels / cin if isinstance(block.se, SqueezeExcite) else ""
        kind = "MBConv" if isinstance(spatial, nn.Conv2d) and spatial.groups > 1 else "Fused-MBConv"
        rows.append(dict(stage=i, operator=f"{kind}{expansion}, k{k}x{k}" + (f", SE{se:g}" if se else ""),
                         block=kind, expansion_ratio=expansion, kernel=k, se_ratio=se,
                         stride=spatial.stride[0], channels=block.project.conv.out_channels,
                         layers=len(stage)))
    head = model.head.conv
    rows.append(dict(stage=len(rows), operator="Conv1x1 & Pooling & FC", block="head",
                     expansion_ratio="", kernel=head.kernel_size[0], se_ratio="", stride="",
                     channels=head.out_channels, layers=1))
    return rows
