"""Webcam-like degradations applied to rendered text: what separates a font specimen from a
photographed sign (blur, noise, compression, bad light, colour casts, resampling)."""

from __future__ import annotations

import cv2
import numpy as np


def _motion_kernel(rng: np.random.Generator, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    angle = rng.uniform(0, 180)
    matrix = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, matrix, (length, length))
    return kernel / max(kernel.sum(), 1e-6)


def blur(image: np.ndarray, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Defocus (Gaussian) or motion blur, sized relative to `scale` (text height / 32)."""
    kind = rng.random()
    if kind < 0.55:
        sigma = rng.uniform(0.3, 1.6) * scale
        return cv2.GaussianBlur(image, (0, 0), sigma)
    length = int(np.clip(rng.uniform(2, 8) * scale, 2, 25))
    return cv2.filter2D(image, -1, _motion_kernel(rng, length))


def lighting(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, gamma, colour cast and uneven light (a smooth gain field or a hard shadow)."""
    h, w = image.shape[:2]
    out = image.astype(np.float32) / np.float32(255.0)
    gain = np.float32(rng.uniform(0.45, 1.35))
    out = np.clip(out * gain, 0, 1) ** np.float32(rng.uniform(0.7, 1.5))
    if out.ndim == 3 and rng.random() < 0.5:
        out *= rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    if rng.random() < 0.5:  # smooth gradient of light across the image
        angle = rng.uniform(0, 2 * np.pi)
        xs = np.arange(w, dtype=np.float32)[None, :] * np.float32(np.cos(angle))
        ys = np.arange(h, dtype=np.float32)[:, None] * np.float32(np.sin(angle))
        ramp = (xs + ys) / np.float32(max(h, w))
        field = 1.0 + np.float32(rng.uniform(-0.5, 0.5)) * (ramp - ramp.mean())
        out *= field[..., None] if out.ndim == 3 else field
    if rng.random() < 0.15:  # a shadow edge across the text
        pts = rng.uniform([0, 0], [w, h], size=(4, 2)).astype(np.int32)
        mask = np.zeros((h, w), np.float32)
        cv2.fillConvexPoly(mask, cv2.convexHull(pts), 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.02 * max(h, w)))
        shade = 1.0 - np.float32(rng.uniform(0.2, 0.6)) * mask
        out *= shade[..., None] if out.ndim == 3 else shade
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def resample(image: np.ndarray, rng: np.random.Generator, low: float = 0.35) -> np.ndarray:
    """Downscale then upscale back: the softness of a small, far-away word."""
    h, w = image.shape[:2]
    f = rng.uniform(low, 0.9)
    small = cv2.resize(image, (max(2, int(w * f)), max(2, int(h * f))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def sensor_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian read noise, stronger in dark frames as on a real sensor."""
    sigma = rng.uniform(2, 14) * (1.5 if image.mean() < 80 else 1.0)
    noise = rng.standard_normal(size=image.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Compression artefacts of a streamed or saved frame."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 95))])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else image


def webcam_degrade(image: np.ndarray, rng: np.random.Generator, scale: float = 1.0,
                   strength: float = 1.0) -> np.ndarray:
    """Apply a random chain of degradations; `strength` scales how often each one fires."""
    p = min(1.0, strength)
    if rng.random() < 0.8 * p:
        image = lighting(image, rng)
    if rng.random() < 0.6 * p:
        image = blur(image, rng, scale)
    if rng.random() < 0.35 * p:
        image = resample(image, rng)
    if rng.random() < 0.6 * p:
        image = sensor_noise(image, rng)
    if rng.random() < 0.5 * p:
        image = jpeg(image, rng)
    return image
