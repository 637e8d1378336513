"""Small charts drawn with OpenCV, so that benchmarks and evaluations can write their plots
without a plotting library in the dependencies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH, HEIGHT, MARGIN = 640, 420, 60
COLOURS = [(200, 80, 0), (0, 0, 200), (0, 150, 0), (150, 0, 150), (0, 140, 200)]


class Chart:
    """A white canvas with a frame, axis labels and data coordinates mapped to pixels."""

    def __init__(self, x_label: str, y_label: str, x_max: float, y_max: float = 1.0) -> None:
        import cv2

        self.cv2 = cv2
        self.x_max, self.y_max = x_max, y_max
        self.image = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
        cv2.rectangle(self.image, (MARGIN, 20), (WIDTH - 20, HEIGHT - MARGIN), (0, 0, 0), 1)
        self.text(f"{x_label} (0 - {x_max:g})", (MARGIN, HEIGHT - 25))
        self.text(f"{y_label} (0 - {y_max:g})", (5, 14))

    def to_pixels(self, x: float, y: float) -> tuple[int, int]:
        px = MARGIN + (WIDTH - MARGIN - 20) * x / self.x_max
        py = HEIGHT - MARGIN - (HEIGHT - MARGIN - 20) * y / self.y_max
        return int(round(px)), int(round(py))

    def text(self, label: str, at: tuple[int, int], colour=(0, 0, 0)) -> None:
        self.cv2.putText(self.image, label, at, self.cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1,
                         self.cv2.LINE_AA)

    def point(self, x: float, y: float, label: str, colour=(0, 0, 200)) -> None:
        at = self.to_pixels(x, y)
        self.cv2.circle(self.image, at, 6, colour, -1)
        self.text(label, (at[0] + 8, at[1] - 6))

    def line(self, xs, ys, label: str, colour=(200, 80, 0), legend_row: int = 0) -> None:
        points = np.array([self.to_pixels(x, y) for x, y in zip(xs, ys, strict=True)], np.int32)
        self.cv2.polylines(self.image, [points], False, colour, 2, self.cv2.LINE_AA)
        (width, _), _ = self.cv2.getTextSize(label, self.cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        self.text(label, (WIDTH - 30 - width, 40 + 18 * legend_row), colour)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.cv2.imwrite(str(path), self.image):
            raise OSError(f"could not write {path}")
        return path


def pr_curves(curves: dict[str, dict[float, dict]], path: Path) -> Path:
    """Precision against recall, one line per model, from `{name: {threshold: scores}}`."""
    chart = Chart("recall", "precision", 1.0)
    for row, (name, curve) in enumerate(curves.items()):
        ts = sorted(curve)
        best = max(ts, key=lambda t: curve[t]["hmean"])
        colour = COLOURS[row % len(COLOURS)]
        chart.line([curve[t]["recall"] for t in ts], [curve[t]["precision"] for t in ts],
                   f"{name}: H {curve[best]['hmean']:.3f} @ {best:g}", colour, row)
        chart.point(curve[best]["recall"], curve[best]["precision"], "", colour)
    return chart.save(path)
