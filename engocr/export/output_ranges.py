"""Each of the detector's output channels spread over one int8 range before conversion.

Why: int8 gives a tensor one scale, and a detector output holds channels of very different
ranges side by side: objectness logits from about -14 to 5, box sizes (log ratios) within
about +-2, the angle's sin and cos within +-1. On the objectness logits' scale the box sizes
and angles moved in steps of 0.07: 7% of a word's length, 4 degrees. The export folds a
per-channel affine map into each output convolution (weights and bias), so that every
channel spans [-1, 1] on the calibration frames, and the card carries the inverse
(`output_scale`, `output_offset`) that the runtime applies to the dequantised outputs.
"""

from __future__ import annotations

import numpy as np

MIN_HALF_RANGE = 1e-3  # a channel constant on the calibration frames keeps a finite scale


def channel_ranges(model, frames, output_names: list[str]) -> list[tuple[np.ndarray, ...]]:
    """(low, high) per channel of each named output, over `frames` (uint8 HxWx3, each fed
    alone at its own size, as the runtime and the int8 calibration feed them)."""
    from engocr.train.compiled import make_forward

    forward = make_forward(model)
    outputs = [id(o) for o in model.outputs]
    position = [outputs.index(id(model.get_layer(name).output)) for name in output_names]
    low = [None] * len(output_names)
    high = [None] * len(output_names)
    for frame in frames:
        outputs = forward(np.asarray(frame, np.float32)[None])
        for k, p in enumerate(position):
            values = outputs[p].reshape(-1, outputs[p].shape[-1])
            lo, hi = values.min(0), values.max(0)
            low[k] = lo if low[k] is None else np.minimum(low[k], lo)
            high[k] = hi if high[k] is None else np.maximum(high[k], hi)
    return list(zip(low, high, strict=True))


def spread_outputs(model, frames, output_names: list[str]) -> tuple[list, list]:
    """Fold into each named output convolution (in place: the export's own copy of the model,
    converted after this and not scored in Keras again) the map that takes its channels'
    ranges over `frames` to [-1, 1]; returns (scales, offsets) per output, lists per channel,
    such that the model's own output = spread output x scale + offset."""
    ranges = channel_ranges(model, frames, output_names)
    scales, offsets = [], []
    for name, (low, high) in zip(output_names, ranges, strict=True):
        scale = np.maximum((high - low) / 2, MIN_HALF_RANGE).astype(np.float32)
        offset = ((high + low) / 2).astype(np.float32)
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel / scale, (bias - offset) / scale])
        scales.append(scale.tolist())
        offsets.append(offset.tolist())
    return scales, offsets
