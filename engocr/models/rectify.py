"""Thin-plate-spline rectification (ASTER's spatial transformer) in front of the CRNN body.

A tiny localisation CNN on a downsampled crop predicts K fiducial points on the input (K/2 on
the text's top edge, K/2 on its bottom edge); the TPS through them maps a regular output grid
onto the input, which is sampled bilinearly. Trained end to end, it learns to straighten
curved and slanted words before the body reads them in one row.

Written for TFLite's builtin ops (notes/stack.md: no Flex op runs in LiteRT):
- The output grid's target points are fixed, so the whole TPS solve is a constant
  (H*W x K) matrix computed here in numpy: the sampling grid is one matmul of the predicted
  point offsets (FULLY_CONNECTED), not a per-sample linear solve. A TPS reproduces affine
  maps, so zero offsets give the identity grid.
- Bilinear sampling is four GATHERs into the flattened batch of pixels, with the batch offset
  from SHAPE/RANGE, so the batch stays resizable. No `grid_sample`/ImageProjectiveTransform.
- Clamping to the border is done on int32 indices with a select for the fraction. Clipping
  the float displacement to per-pixel bounds instead was tried: its int8 export's rectified
  crop (32x128) was off by up to 0.46 (of a -1..1 range) against Keras, this one by 0.03.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


def fiducial_points(k: int, margin: float = 0.1) -> np.ndarray:
    """(k, 2) points in [-1, 1] (x, y): k/2 evenly along the top edge, k/2 along the bottom,
    `margin` in from the borders. They are the output grid's targets and, predicted back
    unchanged by the initialised localisation net, give the identity transform."""
    if k < 4 or k % 2:
        raise ValueError(f"tps_points must be an even number >= 4, not {k}")
    xs = np.linspace(-1 + margin, 1 - margin, k // 2)
    top = np.stack([xs, np.full_like(xs, -1 + margin)], 1)
    bottom = np.stack([xs, np.full_like(xs, 1 - margin)], 1)
    return np.concatenate([top, bottom]).astype(np.float64)


def _kernel(d2: np.ndarray) -> np.ndarray:
    """TPS radial basis U(r) = r^2 log r^2 (0 at r = 0)."""
    return np.where(d2 > 0, d2 * np.log(np.maximum(d2, 1e-12)), 0.0)


def tps_grid_matrix(height: int, width: int, points: np.ndarray) -> np.ndarray:
    """(height*width, K) matrix M: output pixel p samples the input at M[p] @ P, where P are
    the K predicted source points (same order as `points`, the fixed targets)."""
    k = len(points)
    delta = np.zeros((k + 3, k + 3))
    delta[:k, 0] = 1.0
    delta[:k, 1:3] = points
    delta[:k, 3:] = _kernel(((points[:, None] - points[None]) ** 2).sum(-1))
    delta[k, 3:] = 1.0
    delta[k + 1:, 3:] = points.T
    ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    grid = np.stack([xs.ravel(), ys.ravel()], 1)
    lifted = np.concatenate([np.ones((len(grid), 1)), grid,
                             _kernel(((grid[:, None] - points[None]) ** 2).sum(-1))], 1)
    # Source points (K, 2) padded by three zero rows solve for the TPS coefficients.
    return (lifted @ np.linalg.inv(delta))[:, :k]


@keras.saving.register_keras_serializable("engocr")
class TPSSampler(layers.Layer):
    """[image (B, H, W, C), offsets (B, 2K)] -> the image resampled through the TPS that moves
    the fiducial points by `offsets` (K x's then K y's, in [-1, 1] units); outside the crop
    repeats the border pixels. Zero offsets give back the image exactly.

    The grid is kept as the fixed integer pixel grid plus a displacement (M @ offsets, in
    pixels), and the displacement is split into a whole-pixel step and a fraction. Under full
    int8 quantisation every tensor gets 256 levels over its range: a pixel coordinate over
    0..127 would be off by up to half a pixel, a displacement of a few pixels by a few
    hundredths."""

    def __init__(self, height: int, width: int, points: int = 20, margin: float = 0.1,
                 **kwargs):
        super().__init__(**kwargs)
        self.height, self.width, self.points, self.margin = height, width, points, margin
        matrix = tps_grid_matrix(height, width, fiducial_points(points, margin))
        self._matrix_t = matrix.T.astype(np.float32)  # (K, HW)
        # per axis: normalised units to pixels, the pixel grid, the last top-left index
        self._scale = np.array([0.5 * (width - 1), 0.5 * (height - 1)], np.float32)[:, None]
        ys, xs = np.divmod(np.arange(height * width, dtype=np.int32), width)
        self._start = np.stack([xs, ys])[None]  # (1, 2, HW)
        self._last = np.array([width - 2, height - 2], np.int32)[:, None]

    def call(self, inputs):
        image, offsets = inputs
        h, w, k = self.height, self.width, self.points
        channels = image.shape[-1]
        # One (2B, K) @ (K, HW) product for x and y together: under int8 they then share one
        # quantisation range, which a word that moves only one way cannot collapse to zero.
        moved = ops.matmul(ops.reshape(offsets, (-1, k)), ops.convert_to_tensor(self._matrix_t))
        delta = ops.reshape(moved, (-1, 2, h * w)) * ops.convert_to_tensor(self._scale)
        step = ops.cast(ops.floor(delta), "int32")
        fraction = delta - ops.cast(step, delta.dtype)
        index = ops.convert_to_tensor(self._start) + step
        last = ops.convert_to_tensor(self._last)
        fraction = ops.where(index < 0, 0.0, fraction)
        fraction = ops.where(index > last, 1.0, fraction)
        index = ops.minimum(ops.maximum(index, 0), last)
        x0, y0 = index[:, 0], index[:, 1]
        fx, fy = fraction[:, 0, :, None], fraction[:, 1, :, None]
        batch = ops.shape(image)[0]
        base = ops.reshape(ops.arange(batch, dtype="int32") * (h * w), (-1, 1))
        top_left = base + y0 * w + x0
        flat = ops.reshape(image, (-1, channels))

        def at(offset: int):
            return ops.reshape(_gather(flat, ops.reshape(top_left + offset, (-1,))),
                               (-1, h * w, channels))

        top = at(0) * (1.0 - fx) + at(1) * fx
        bottom = at(w) * (1.0 - fx) + at(w + 1) * fx
        out = top * (1.0 - fy) + bottom * fy
        return ops.reshape(out, (-1, h, w, channels))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "points": self.points, "margin": self.margin}


def tps_rectify(x, points: int = 20, margin: float = 0.1):
    """The rectification stage on a normalised (B, H, W, C) tensor; layers named `tps_*`.
    The localisation net sees the crop at a quarter of its width and half its height (its job
    is the word's overall shape, not its letters); its last layer starts at zero, the
    identity, so training starts from the unrectified model."""
    h, w = x.shape[1], x.shape[2]
    y = layers.AveragePooling2D((2, 4), name="tps_down")(x)
    for i, filters in enumerate((16, 32, 64)):
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"tps_loc{i}_conv")(y)
        y = layers.BatchNormalization(name=f"tps_loc{i}_bn")(y)
        y = layers.ReLU(name=f"tps_loc{i}_relu")(y)
        y = layers.MaxPooling2D(2, padding="same", name=f"tps_loc{i}_pool")(y)
    y = layers.GlobalAveragePooling2D(name="tps_gap")(y)
    y = layers.Dense(64, activation="relu", name="tps_fc")(y)
    # Offsets of the fiducial points from where they start (not the points themselves), so
    # that an int8 export quantises a small range around zero.
    y = layers.Dense(2 * points, kernel_initializer="zeros", bias_initializer="zeros",
                     name="tps_points")(y)
    return TPSSampler(h, w, points, margin, name="tps_sample")([x, y])


def _gather(table, rows):
    """Rows of a 2-D table. With TensorFlow, its plain gather: `keras.ops.take` adds a select
    per call that wraps negative indices (these never are), three more ops per gather."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.gather(table, rows)
    return ops.take(table, rows, axis=0)
