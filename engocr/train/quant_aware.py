"""Quantization-aware fine-tuning: the model trains while computing as the int8 TFLite export
will, so that it learns weights that survive the rounding.

Why: the detector's post-training int8 export lost 1.5-3 points of ic15 H-mean, spread over
every layer (the QuantizationDebugger's per-layer errors; keeping the first seven layers or
the output convolutions in float won nothing back), where the float model was too slow to
ship. What is simulated, each with a straight-through gradient:
- weights: per output channel, symmetric, 8 bits in [-127, 127] (the converter's scheme), of
  the kernel with its batch norm folded in, as the converter folds it; the batch norms are
  frozen (moving statistics, not trained) so that the fold is the one the export makes;
- activations: every ReLU6 output on 256 levels from 0 to the batch's largest value (the
  calibration's range; for the trained detector 6 in every layer);
- concatenations and the outputs: 256 levels over the batch's own range (the converter's one
  scale per tensor).
The weights stay float: the export converts them as it converts any run's.
"""

from __future__ import annotations

import weakref

import keras
from keras import layers, ops

ACTIVATION_LEVELS = 255  # steps across an int8 tensor's range
WEIGHT_LEVELS = 127  # steps either side of zero in a per-channel int8 weight


def _straight_through(x, rounded):
    """`rounded` forward, the gradient of `x` backward."""
    return x + ops.stop_gradient(rounded - x)


def fake_quant_weights(kernel, gain, axes: tuple[int, ...]):
    """The kernel as the int8 export computes with it: folded with its batch norm's `gain`
    (per output channel, 1 without one), rounded per channel, unfolded again."""
    folded = kernel * gain
    step = ops.maximum(ops.max(ops.abs(folded), axis=axes, keepdims=True), 1e-8) / WEIGHT_LEVELS
    step = ops.stop_gradient(step)
    return _straight_through(folded, ops.round(folded / step) * step) / gain


def fake_quant_range(x, low, high, levels: int = ACTIVATION_LEVELS):
    """`x` on `levels` steps between `low` and `high`, the grid holding 0 exactly (an int8
    tensor's integer zero point), as the converter's calibrated tensors are."""
    step = ops.stop_gradient(ops.maximum((high - low) / levels, 1e-8))
    return _straight_through(x, ops.round(x / step) * step)


def _saved_as_float(cls):
    """Keras files a layer's weights under its class's name: an aware class takes its float
    class's name, so that weights saved during an aware phase (checkpoints, best weights) load
    into the float model that the export converts."""
    base = next(b for b in cls.__mro__[1:] if b.__module__.startswith("keras"))
    cls.__name__ = cls.__qualname__ = base.__name__
    return cls


def _batch_norm(layer):
    """The batch norm after a conv (`set_quantization_aware`), or None."""
    ref = getattr(layer, "_quant_bn", None)
    return None if ref is None else ref()


class _FoldedGain:
    """The gain a conv's following batch norm multiplies its output channels by."""

    def _gain(self, shape: tuple[int, ...]):
        """Shaped to broadcast over the kernel's output channels; 1 without a batch norm."""
        bn = _batch_norm(self)
        if bn is None:
            return 1.0
        gain = ops.rsqrt(bn.moving_variance + bn.epsilon)
        return ops.reshape(ops.stop_gradient(gain * bn.gamma if bn.scale else gain), shape)


@_saved_as_float
class QuantAwareConv2D(_FoldedGain, layers.Conv2D):
    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, fake_quant_weights(kernel, self._gain((-1,)),
                                                                 (0, 1, 2)))


@_saved_as_float
class QuantAwareDepthwiseConv2D(_FoldedGain, layers.DepthwiseConv2D):
    def call(self, inputs):
        kernel = self.kernel  # (kh, kw, channels, multiplier): one int8 scale per channel
        gain = self._gain((1, 1, kernel.shape[2], kernel.shape[3]))
        outputs = ops.depthwise_conv(inputs, fake_quant_weights(kernel, gain, (0, 1)),
                                     strides=self.strides, padding=self.padding,
                                     dilation_rate=self.dilation_rate,
                                     data_format=self.data_format)
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)


@_saved_as_float
class QuantAwareReLU(layers.ReLU):
    def call(self, inputs):
        outputs = super().call(inputs)
        return fake_quant_range(outputs, 0.0, ops.max(outputs))


@_saved_as_float
class QuantAwareConcatenate(layers.Concatenate):
    """int8 concatenation puts its inputs on one grid, the widest input's."""

    def call(self, inputs):
        outputs = super().call(inputs)
        return fake_quant_range(outputs, ops.min(outputs), ops.max(outputs))


@_saved_as_float
class QuantAwareOutput(QuantAwareConv2D):
    """An output convolution (no batch norm after it): its output on one int8 grid."""

    def call(self, inputs):
        outputs = super().call(inputs)
        return fake_quant_range(outputs, ops.min(outputs), ops.max(outputs))


def _producer(layer):
    """The layer whose output feeds `layer` (first input), or None."""
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes or not nodes[0].input_tensors:
        return None
    return nodes[0].input_tensors[0]._keras_history.operation


def set_quantization_aware(model: keras.Model, output_names: tuple[str, ...],
                           enabled: bool = True) -> int:
    """Turn `model` (in place, same weights) into its quantization-aware twin, or back into
    the float model (`enabled=False`); returns how many layers changed. The aware twin's batch
    norms are frozen; their convs learn the folded int8 weights. `output_names`: the output
    convolutions (their outputs quantized per tensor)."""
    everything = list(model._flatten_layers(include_self=False))
    changed = 0
    if not enabled:
        for layer in everything:
            original = getattr(layer, "_float_class", None)
            if original is not None and type(layer) is not original:
                layer.__class__ = original
                changed += 1
        return changed
    for layer in everything:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
            conv = _producer(layer)
            if isinstance(conv, (layers.Conv2D, layers.DepthwiseConv2D)):
                # a weak reference, not an attribute Keras tracks or saves: the batch norm's
                # weights stay its own
                object.__setattr__(conv, "_quant_bn", weakref.ref(layer))
    for layer in everything:
        target = None
        if type(layer) is layers.DepthwiseConv2D:
            target = QuantAwareDepthwiseConv2D
        elif type(layer) is layers.Conv2D:
            target = QuantAwareOutput if layer.name in output_names else QuantAwareConv2D
        elif type(layer) is layers.ReLU and layer.max_value is not None \
                and not layer.negative_slope and not layer.threshold:
            target = QuantAwareReLU
        elif type(layer) is layers.Concatenate:
            target = QuantAwareConcatenate
        if target is not None:
            object.__setattr__(layer, "_float_class", type(layer))
            layer.__class__ = target
            changed += 1
    return changed
