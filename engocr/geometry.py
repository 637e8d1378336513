"""Box and crop geometry shared by training and the runtime (numpy + OpenCV only)."""

from __future__ import annotations

import cv2
import numpy as np


def rectify_quad(image: np.ndarray, quad: np.ndarray, pad: float = 0.08) -> np.ndarray:
    """Warp a word quad (4x2, clockwise from top-left) to an upright crop, with a small margin."""
    quad = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
    height = max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]))
    width, height = max(int(round(width)), 2), max(int(round(height)), 2)
    margin = pad * height
    target = np.array([[margin, margin], [width + margin, margin],
                       [width + margin, height + margin], [margin, height + margin]], np.float32)
    size = (int(round(width + 2 * margin)), int(round(height + 2 * margin)))
    matrix = cv2.getPerspectiveTransform(quad, target)
    return cv2.warpPerspective(image, matrix, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def box_to_quad(box) -> list[list[float]]:
    """(x1, y1, x2, y2) to the schema's quad: four corners clockwise from top-left."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
