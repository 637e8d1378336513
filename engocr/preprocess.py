"""Turning frames and word crops into model inputs; shared by training and the runtime so that
both see exactly the same pixels."""

from __future__ import annotations

import cv2
import numpy as np


def letterbox_params(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[float, int, int]:
    """Scale and top-left offset that fit a frame into the model input keeping its aspect."""
    scale = min(dst_w / src_w, dst_h / src_h)
    new_w, new_h = int(round(src_w * scale)), int(round(src_h * scale))
    return scale, (dst_w - new_w) // 2, (dst_h - new_h) // 2


def detector_input_size(frame_w: int, frame_h: int, max_side: int, multiple: int = 32
                        ) -> tuple[int, int]:
    """The detector input (w, h) for a frame: the frame scaled so that its longer side is at
    most `max_side` (never enlarged), rounded up to a multiple of the coarsest stride. It keeps
    the frame's aspect, so a 16:9 frame is not letterboxed into a 4:3 input, which wastes
    pixels on padding and shrinks the words."""
    scale = min(1.0, max_side / max(frame_w, frame_h))
    return (max(multiple, -(-round(frame_w * scale) // multiple) * multiple),
            max(multiple, -(-round(frame_h * scale) // multiple) * multiple))


def letterbox(image: np.ndarray, dst_w: int, dst_h: int, fill: int = 114
              ) -> tuple[np.ndarray, float, int, int]:
    """Resize keeping the aspect ratio and pad to (dst_h, dst_w); returns image, scale, dx, dy."""
    h, w = image.shape[:2]
    scale, dx, dy = letterbox_params(w, h, dst_w, dst_h)
    new_w, new_h = int(round(w * scale)), int(round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    out = np.full((dst_h, dst_w) + image.shape[2:], fill, dtype=image.dtype)
    out[dy:dy + new_h, dx:dx + new_w] = resized
    return out, scale, dx, dy


def fit_crop_to_width(crop_gray: np.ndarray, height: int, width: int, min_aspect: float = 0.0
                      ) -> np.ndarray:
    """Resize a grayscale word crop to `height`, keep aspect, pad right to `width`; words wider
    than `width` are squeezed to fit, never cut off. A crop narrower than `min_aspect` x its
    height is widened to that: a sign seen from the side comes foreshortened, its letters
    squeezed under two of the recognizer's time steps each, and read far less often (the
    value belongs to the model: `CRNNConfig.min_aspect`, `ModelCard.min_aspect`)."""
    h, w = crop_gray.shape[:2]
    scaled_w = max(w * height / max(h, 1), min_aspect * height)
    new_w = max(1, min(width, int(round(scaled_w))))
    resized = cv2.resize(crop_gray, (new_w, height), interpolation=cv2.INTER_AREA
                         if h > height else cv2.INTER_LINEAR)
    if new_w == width:
        return resized
    out = np.empty((height, width), dtype=crop_gray.dtype)
    out[:, :new_w] = resized
    # Pad with the crop's edge colour so the padding looks like background, not a black bar.
    out[:, new_w:] = np.median(resized[:, -2:])
    return out


def crop_to_input(crop_bgr: np.ndarray, height: int, width: int, min_aspect: float = 0.0
                  ) -> np.ndarray:
    """A BGR word crop to the recognizer's grayscale (height x width) uint8 input."""
    gray = crop_bgr if crop_bgr.ndim == 2 else cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    return fit_crop_to_width(gray, height, width, min_aspect)
