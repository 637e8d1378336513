"""ImageNet weights for the detector's backbone, read from quantized TFLite classifiers.

No Keras weight file can be downloaded here, but `../shared/weights/imagenet` holds ImageNet
MobileNets as quantized TFLite classifiers. Their convolutions appear in graph order with the
shapes of the Keras applications' convolutions in layer order, batch norm folded into each
convolution. This module dequantizes them (`real = scale * (q - zero_point)`, per channel where
the file has per-channel scales), lays the kernels out as Keras wants them (TFLite: OHWI and
1HWC; Keras: HWIO and HWC1) and writes them into a Keras backbone.

Folded batch norm becomes a real batch norm again ("unfolding"): each convolution's output is
measured on calibration images, the kernel is divided by its standard deviation and the batch
norm is given that mean and scale back. Inference outputs are unchanged, and when the backbone
is unfrozen, training-mode batch norm (which normalises by the batch's statistics) starts close
to the imported function instead of rescaling every channel to unit variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engocr.errors import ModelError

# The backbones the detector can be built on, with the file of ImageNet weights that fits each
# (in `../shared/weights/imagenet`) and the layers tapped at strides 8, 16 and 32.
BACKBONES = {
    "mobilenet_v2": {
        "taps": ("block_6_expand_relu", "block_13_expand_relu", "out_relu"),
        "weights": {1.0: "tf2_mobilenet_v2_1.0_224_ptq.tflite"},
    },
    "mobilenet_v1": {
        "taps": ("conv_pw_5_relu", "conv_pw_11_relu", "conv_pw_13_relu"),
        "weights": {0.25: "mobilenet_v1_0.25_128_quant.tflite",
                    0.5: "mobilenet_v1_0.5_160_quant.tflite",
                    0.75: "mobilenet_v1_0.75_192_quant.tflite"},
    },
}
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


@dataclass
class TFLiteConv:
    """One convolution of a TFLite file, dequantized, kernel in Keras layout."""

    kernel: np.ndarray  # Conv2D: HWIO; DepthwiseConv2D: HWC1
    bias: np.ndarray


def imagenet_weights_dir() -> Path:
    """`$ENGOCR_WEIGHTS/imagenet`, else `shared/weights/imagenet` where `shared_dir` finds it."""
    import os

    from engocr.train.data.paths import shared_dir

    if env := os.environ.get("ENGOCR_WEIGHTS"):
        return Path(env) / "imagenet"
    return shared_dir("weights") / "imagenet"


def default_weights_file(backbone: str, alpha: float) -> Path | None:
    """The shared ImageNet file for this backbone and width, or None where there is none."""
    name = BACKBONES[backbone]["weights"].get(float(alpha))
    return imagenet_weights_dir() / name if name else None


def _dequantize(tensor: np.ndarray, detail: dict) -> np.ndarray:
    params = detail["quantization_parameters"]
    scales, zeros = params["scales"], params["zero_points"]
    if len(scales) == 0:
        return tensor.astype(np.float32)
    axis = params["quantized_dimension"]
    shape = [1] * tensor.ndim
    if len(scales) > 1:
        shape[axis] = -1
    scales = scales.reshape(shape).astype(np.float32)
    zeros = zeros.reshape(shape).astype(np.float32)
    return (tensor.astype(np.float32) - zeros) * scales


def read_tflite_convs(path: Path) -> list[TFLiteConv]:
    """Every CONV_2D / DEPTHWISE_CONV_2D of a TFLite file in graph order, dequantized."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        # Without the XNNPACK delegate the op list keeps the original operators.
        resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        interpreter = Interpreter(str(path), experimental_op_resolver_type=resolver)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: not a TFLite model ({exc})") from None
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    convs = []
    for op in interpreter._get_ops_details():
        if op["op_name"] not in CONV_OPS:
            continue
        _, w_idx, b_idx = op["inputs"][:3]
        kernel = _dequantize(interpreter.get_tensor(w_idx), details[w_idx])
        bias = _dequantize(interpreter.get_tensor(b_idx), details[b_idx])
        if op["op_name"] == "CONV_2D":
            kernel = kernel.transpose(1, 2, 3, 0)  # OHWI -> HWIO
        else:
            kernel = kernel[0][..., None]  # 1HWC -> HWC1
        convs.append(TFLiteConv(kernel, bias))
    return convs


def _conv_bn_pairs(model) -> list:
    """(conv, batch norm) layer pairs in layer order: in the Keras MobileNets each convolution
    is followed by its batch norm."""
    from keras import layers

    pairs, pending = [], None
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            pending = layer
        elif isinstance(layer, layers.BatchNormalization) and pending is not None:
            pairs.append((pending, layer))
            pending = None
    return pairs


def load_tflite_backbone(backbone, path: Path, bgr: bool = False,
                         calibration: np.ndarray | None = None) -> list[TFLiteConv]:
    """Write the convolutions of the TFLite classifier at `path` into the Keras MobileNet
    `backbone` (include_top=False); returns the convolutions left over (the classifier's top).

    `bgr`: the backbone is fed BGR, so the first kernel's input channels are reversed (the
    classifiers were trained on RGB). `calibration`: backbone inputs (N, H, W, 3, already
    normalised) on which each batch norm is unfolded (see the module docstring); without it
    each batch norm is the identity after its convolution."""
    convs = read_tflite_convs(path)
    pairs = _conv_bn_pairs(backbone)
    if len(convs) < len(pairs):
        raise ModelError(f"{path.name}: {len(convs)} convolutions, the backbone has {len(pairs)}")
    for i, ((conv, bn), source) in enumerate(zip(pairs, convs, strict=False)):
        kernel = source.kernel
        if i == 0 and bgr:
            kernel = kernel[:, :, ::-1, :]
        if tuple(conv.kernel.shape) != kernel.shape:
            raise ModelError(f"{path.name}: convolution {i} has shape {kernel.shape}, "
                             f"{conv.name} wants {tuple(conv.kernel.shape)}")
        conv.kernel.assign(kernel)
        eps = bn.epsilon
        bn.set_weights([np.ones_like(source.bias), source.bias,
                        np.zeros_like(source.bias), np.full_like(source.bias, 1.0 - eps)])
    if calibration is not None:
        _unfold_batchnorm(backbone, pairs, calibration)
    return convs[len(pairs):]


def _unfold_batchnorm(backbone, pairs: list, images: np.ndarray) -> None:
    """Each convolution's kernel divided by its output's standard deviation on `images`, the
    batch norm given the matching statistics and scale: same inference function, and batch
    statistics close to the moving ones."""
    import keras

    probe = keras.Model(backbone.inputs, [conv.output for conv, _ in pairs])
    outputs = probe.predict(images, batch_size=4, verbose=0)
    for (conv, bn), out in zip(pairs, outputs, strict=True):
        flat = out.reshape(-1, out.shape[-1]).astype(np.float64)
        mean, std = flat.mean(0), flat.std(0)
        scale = np.maximum(std, 1e-3).astype(np.float32)
        kernel = conv.kernel.numpy()
        if isinstance(conv, keras.layers.DepthwiseConv2D):
            conv.kernel.assign(kernel / scale.reshape(1, 1, -1, 1))
        else:
            conv.kernel.assign(kernel / scale)
        _, beta, _, _ = bn.get_weights()
        bn.set_weights([scale, beta + mean.astype(np.float32),
                        (mean / scale).astype(np.float32),
                        np.full_like(scale, 1.0 - bn.epsilon)])


def build_classifier(backbone_name: str, alpha: float, size: int, path: Path):
    """The Keras backbone with the TFLite file's own classifier top (average pool, 1x1
    convolution to 1001 classes) on RGB inputs in [-1, 1]: what the import parity test compares
    with the TFLite file."""
    import keras
    from keras import layers

    backbone = build_backbone(backbone_name, alpha, (size, size, 3))
    top = load_tflite_backbone(backbone, path)
    if not top:
        raise ModelError(f"{path.name}: no classifier convolution after the backbone")
    x = layers.GlobalAveragePooling2D(keepdims=True)(backbone.output)
    head = layers.Conv2D(top[0].kernel.shape[-1], 1, name="logits")
    logits = layers.Flatten()(head(x))
    head.set_weights([top[0].kernel, top[0].bias])
    return keras.Model(backbone.input, logits)


def build_backbone(name: str, alpha: float, input_shape: tuple):
    """A Keras MobileNet (v1 or v2) without top or weights."""
    import keras

    if name == "mobilenet_v2":
        return keras.applications.MobileNetV2(input_shape=input_shape, alpha=alpha,
                                              include_top=False, weights=None)
    if name == "mobilenet_v1":
        return keras.applications.MobileNet(input_shape=input_shape, alpha=alpha,
                                            include_top=False, weights=None)
    raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
