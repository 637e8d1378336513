"""Benchmark and evaluation charts, drawn with matplotlib (the `charts` extra, also in `train`
and `dev`; never needed at run time): labelled ticks, gridlines, the values that matter
written on the chart, so a reader can tell from the picture how fast or accurate anything is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

COLOURS = ["tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange"]
SIZE_IN = (7.0, 4.6)  # figure size in inches, at DPI: 980x644 pixels
DPI = 140


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display is ever needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class Chart:
    """One set of axes from 0 (or, `log_x`, from `x_min`) to `x_max` and 0 to `y_max`, with
    labelled ticks and a grid; points are labelled where they are, lines in a legend."""

    def __init__(self, x_label: str, y_label: str, x_max: float, y_max: float = 1.0,
                 log_x: bool = False, x_min: float | None = None) -> None:
        self.plt = _pyplot()
        self.figure, self.axes = self.plt.subplots(figsize=SIZE_IN, dpi=DPI)
        ax = self.axes
        if log_x:
            ax.set_xscale("log")
            ax.set_xlim(x_min or x_max / 1000, x_max)
        else:
            ax.set_xlim(x_min or 0, x_max)
        ax.set_ylim(0, y_max)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(True, which="major", alpha=0.4)
        if log_x:
            ax.grid(True, which="minor", alpha=0.12)
        self.lines = 0

    def point(self, x: float, y: float, label: str, colour: str | None = None) -> None:
        """A marked point with its label beside it."""
        colour = colour or COLOURS[1]
        self.axes.plot([x], [y], "o", color=colour, markersize=8, zorder=3)
        if label:
            self.axes.annotate(label, (x, y), xytext=(7, 5), textcoords="offset points",
                               fontsize=9)

    def line(self, xs: Sequence[float], ys: Sequence[float], label: str,
             colour: str | None = None, legend_row: int = 0) -> None:
        """A line in the legend (`legend_row` picks its colour when none is given)."""
        colour = colour or COLOURS[legend_row % len(COLOURS)]
        self.axes.plot(list(xs), list(ys), "-", color=colour, linewidth=2, label=label)
        self.lines += 1

    def shade(self, x0: float, x1: float, y0: float, y1: float, label: str) -> None:
        """A shaded region (a goal), named in the legend."""
        self.axes.fill_between([x0, x1], y0, y1, color="tab:green", alpha=0.12, label=label,
                               zorder=0)
        self.lines += 1

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.lines:
            self.axes.legend(loc="best", fontsize=9)
        self.figure.tight_layout()
        try:
            self.figure.savefig(path)
        finally:
            self.plt.close(self.figure)
        return path


def pr_curves(curves: dict[str, dict[float, dict]], path: Path) -> Path:
    """Precision against recall, one line per model, from `{name: {threshold: scores}}`; each
    model's best H-mean marked and written with its threshold, over dotted lines of equal
    H-mean."""
    chart = Chart("recall", "precision", 1.0)
    r = np.linspace(0.01, 1, 200)
    for h in (0.2, 0.4, 0.6, 0.8):
        p = h * r / (2 * r - h)
        seen = (p > 0) & (p <= 1)
        chart.axes.plot(r[seen], p[seen], ":", color="grey", linewidth=0.8)
        chart.axes.annotate(f"H {h:g}", (r[seen][-1], p[seen][-1]), fontsize=7, color="grey",
                            xytext=(-26, 2), textcoords="offset points")
    for row, (name, curve) in enumerate(curves.items()):
        ts = sorted(curve)
        best = max(ts, key=lambda t: curve[t]["hmean"])
        colour = COLOURS[row % len(COLOURS)]
        chart.line([curve[t]["recall"] for t in ts], [curve[t]["precision"] for t in ts],
                   f"{name}: best H {curve[best]['hmean']:.3f} at threshold {best:g}", colour)
        chart.point(curve[best]["recall"], curve[best]["precision"], "", colour)
    return chart.save(path)


def speed_accuracy(rows: list[dict], path: Path, goal_fps: float = 30.0,
                   goal_f: float = 0.30, frames: str = "1280x720") -> Path:
    """End-to-end F against FPS (log scale) for each system (`rows`: "system", "fps",
    "e2e_f"), the goal region (real time and the README's F target) shaded."""
    fps = [r["fps"] for r in rows]
    x_min = 10 ** np.floor(np.log10(min(fps + [goal_fps]) / 2)) if fps else 0.1
    x_max = 10 ** np.ceil(np.log10(max(fps + [goal_fps]) * 2)) if fps else 1000
    y_max = max([r["e2e_f"] for r in rows] + [goal_f]) * 1.25
    chart = Chart(f"frames per second on {frames} frames (log scale)",
                  "end-to-end F, ic15 validation", x_max, round(min(1.0, y_max), 2),
                  log_x=True, x_min=x_min)
    chart.shade(goal_fps, x_max, goal_f, chart.axes.get_ylim()[1],
                f"goal: >= {goal_fps:g} FPS and F >= {goal_f:.2f}")
    for r in rows:
        chart.point(r["fps"], r["e2e_f"], f"{r['system']} ({r['fps']:.3g} FPS, F "
                    f"{r['e2e_f']:.2f})", COLOURS[0] if r["system"] == "engocr" else COLOURS[1])
    return chart.save(path)
