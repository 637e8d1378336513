"""The built-in demo: a deterministic scene drawn in code (signs with words that move, scale and
blur over a textured wall), so that `engocr demo` shows the whole pipeline without a camera."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DEMO_WORDS = [["OPEN"], ["EXIT"], ["Coffee", "Shop"], ["SALE", "50%"], ["Platform", "9"],
              ["PUSH"], ["Welcome"], ["No", "Parking"]]


@dataclass
class Sign:
    words: list[str]
    colour: tuple[int, int, int]
    ink: tuple[int, int, int]
    start: tuple[float, float]
    velocity: tuple[float, float]
    scale: float
    pulse: float
    blur_phase: float


class DemoScene:
    """`render(i)` gives frame i; `truth(i)` the words visible in it (for checking reads)."""

    def __init__(self, size: tuple[int, int] = (640, 480), seed: int = 0, n_signs: int = 4):
        self.width, self.height = size
        rng = np.random.default_rng(seed)
        base = rng.integers(90, 170, 3)
        noise = rng.normal(0, 18, (self.height // 8, self.width // 8, 1))
        wall = cv2.resize(noise, size, interpolation=cv2.INTER_CUBIC)[..., None]
        self.background = np.clip(base + wall + rng.normal(0, 4, (self.height, self.width, 1)),
                                  0, 255).astype(np.uint8)
        order = rng.permutation(len(DEMO_WORDS))[:n_signs]
        self.signs = []
        for k, i in enumerate(order):
            dark = k % 2 == 0
            self.signs.append(Sign(
                words=DEMO_WORDS[i],
                colour=(30, 30, 30) if dark else (235, 235, 225),
                ink=(240, 240, 240) if dark else (20, 20, 20),
                start=(40 + (k % 2) * self.width * 0.45, 40 + (k // 2) * self.height * 0.45),
                velocity=tuple(rng.uniform(-1.2, 1.2, 2)),
                scale=float(rng.uniform(0.9, 1.3) * self.height / 480),
                pulse=float(rng.uniform(0.05, 0.15)),
                blur_phase=float(rng.uniform(0, 2 * np.pi))))

    def _layout(self, sign: Sign, i: int):
        scale = sign.scale * (1 + sign.pulse * np.sin(i / 15.0))
        text = " ".join(sign.words)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
        x = sign.start[0] + sign.velocity[0] * i
        y = sign.start[1] + sign.velocity[1] * i
        x = float(np.clip(x, 10, self.width - tw - 30))
        y = float(np.clip(y, 10, self.height - th - base - 30))
        return text, scale, int(x), int(y), tw, th, base

    def render(self, i: int) -> np.ndarray:
        frame = self.background.copy()
        for sign in self.signs:
            text, scale, x, y, tw, th, base = self._layout(sign, i)
            pad = int(12 * scale)
            cv2.rectangle(frame, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad),
                          sign.colour, -1)
            cv2.putText(frame, text, (x + pad, y + pad + th), cv2.FONT_HERSHEY_DUPLEX, scale,
                        sign.ink, 2, cv2.LINE_AA)
        # Focus breathing: the whole frame goes soft now and then, like an autofocus hunting.
        sigma = max(0.0, 1.4 * np.sin(i / 12.0 + self.signs[0].blur_phase))
        if sigma > 0.3:
            frame = cv2.GaussianBlur(frame, (0, 0), sigma)
        return frame

    def truth(self, i: int) -> list[str]:
        """Words drawn in frame i."""
        return [w for sign in self.signs for w in sign.words]
