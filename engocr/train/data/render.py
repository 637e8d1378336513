"""Rendering text blocks (lines of words, optionally on a sign plate) into images, keeping the
exact quad of every word through the geometric warp."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from engocr.train.data.fonts import font_families, load_font


@dataclass
class TextBlock:
    """Rendered words on a transparent canvas: ink coverage, per-word quads and texts."""

    ink: np.ndarray  # float32 HxW in [0, 1]
    quads: np.ndarray  # (n, 4, 2) in canvas pixels
    texts: list[str]


# OpenCV's built-in stroke fonts, drawn by cv2.putText: what the built-in demo and many
# overlays use, so the recognizer learns them too ("hershey:<cv2 font id>").
HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
           cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC)


def pick_font(rng: np.random.Generator, hershey_p: float = 0.04) -> str:
    """A random face from a random family (sometimes one of OpenCV's stroke fonts)."""
    if rng.random() < hershey_p:
        return f"hershey:{HERSHEY[int(rng.integers(len(HERSHEY)))]}"
    families = font_families()
    family = families[int(rng.integers(len(families)))]
    return str(family[int(rng.integers(len(family)))])


def render_block(rng: np.random.Generator, lines: list[list[str]], font_path: str,
                 size: int) -> TextBlock:
    """Draw lines of words left-, centre- or right-aligned; word boxes are the ink extents."""
    if font_path.startswith("hershey:"):
        return _render_hershey(rng, lines, int(font_path.split(":")[1]), size)
    font = load_font(font_path, size)
    stroke = int(rng.integers(1, max(2, size // 14) + 1)) if rng.random() < 0.12 else 0
    space = font.getlength(" ") * rng.uniform(0.9, 2.0)
    line_gap = size * rng.uniform(1.15, 1.6)
    margin = int(size * 0.6) + stroke
    widths = [sum(font.getlength(w) for w in line) + space * (len(line) - 1) for line in lines]
    canvas_w = int(max(widths)) + 2 * margin
    canvas_h = int(line_gap * (len(lines) - 1) + size * 1.4) + 2 * margin
    image = Image.new("L", (canvas_w, canvas_h), 0)
    draw = ImageDraw.Draw(image)
    align = rng.integers(0, 3)
    quads, texts = [], []
    for row, (line, width) in enumerate(zip(lines, widths, strict=True)):
        x = margin + (0, (max(widths) - width) / 2, max(widths) - width)[align]
        y = margin + row * line_gap
        for word in line:
            draw.text((x, y), word, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
            x1, y1, x2, y2 = draw.textbbox((x, y), word, font=font, stroke_width=stroke)
            quads.append([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
            texts.append(word)
            x += font.getlength(word) + space
    ink = np.asarray(image, dtype=np.float32) / 255.0
    return TextBlock(ink, np.asarray(quads, np.float32).reshape(-1, 4, 2), texts)


def _render_hershey(rng: np.random.Generator, lines: list[list[str]], font: int,
                    size: int) -> TextBlock:
    scale = size / 30.0
    thickness = max(1, int(round(scale * rng.uniform(1.2, 2.6))))
    space = cv2.getTextSize(" ", font, scale, thickness)[0][0] * rng.uniform(1.0, 1.8)
    line_gap = size * rng.uniform(1.2, 1.6)
    margin = int(size * 0.6) + thickness
    widths = [sum(cv2.getTextSize(w, font, scale, thickness)[0][0] for w in line)
              + space * (len(line) - 1) for line in lines]
    canvas = np.zeros((int(line_gap * (len(lines) - 1) + size * 1.6) + 2 * margin,
                       int(max(widths)) + 2 * margin), np.uint8)
    quads, texts = [], []
    for row, line in enumerate(lines):
        x, y = float(margin), margin + row * line_gap + size
        for word in line:
            (w, h), _ = cv2.getTextSize(word, font, scale, thickness)
            layer = np.zeros_like(canvas)
            cv2.putText(layer, word, (int(x), int(y)), font, scale, 255, thickness, cv2.LINE_AA)
            ys, xs = np.nonzero(layer)
            if len(xs):
                x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                quads.append([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
                texts.append(word)
                np.maximum(canvas, layer, out=canvas)
            x += w + space
    ink = canvas.astype(np.float32) / 255.0
    return TextBlock(ink, np.asarray(quads, np.float32).reshape(-1, 4, 2), texts)


def bend(block: TextBlock, rng: np.random.Generator, amplitude: float) -> TextBlock:
    """The block with a curved baseline (a label round a bottle, an arched shop sign): every
    column moves down by up to `amplitude` pixels along an arc (either way up) or a wave. The
    canvas grows to hold it; each word's quad becomes the upright box of its bent ink."""
    h, w = block.ink.shape
    t = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    if rng.random() < 0.7:
        shape = t * t if rng.random() < 0.5 else 1.0 - t * t
    else:
        shape = 0.5 + 0.5 * np.sin(np.pi * t * rng.uniform(0.6, 1.4) + rng.uniform(0, 2 * np.pi))
    dy = (amplitude * shape).astype(np.float32)
    grown = h + int(np.ceil(dy.max())) + 1
    map_x = np.broadcast_to(np.arange(w, dtype=np.float32), (grown, w))
    map_y = np.arange(grown, dtype=np.float32)[:, None] - dy[None, :]
    ink = cv2.remap(block.ink, np.ascontiguousarray(map_x), map_y, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    quads = []
    for quad in block.quads:
        x1, y1 = quad.min(0)
        x2, y2 = quad.max(0)
        cols = dy[int(np.clip(x1, 0, w - 1)):int(np.clip(x2, 0, w - 1)) + 1]
        top, bottom = y1 + cols.min(), y2 + cols.max()
        quads.append([[x1, top], [x2, top], [x2, bottom], [x1, bottom]])
    return TextBlock(ink, np.asarray(quads, np.float32).reshape(-1, 4, 2), list(block.texts))


def random_warp(rng: np.random.Generator, w: int, h: int, max_angle: float = 12.0,
                perspective: float = 0.12) -> np.ndarray:
    """A 3x3 homography: rotation, shear and a perspective tilt of a (w x h) canvas, moved so
    that the result starts at the origin."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = rng.uniform(-perspective, perspective, size=(4, 2)) * np.array([w, h]) * 0.5
    jitter[:, 1] *= min(1.0, 3.0 * w / max(h, 1)) * 0.3  # keep tall canvases from folding
    dst = src + jitter.astype(np.float32)
    angle = np.deg2rad(rng.normal(0, max_angle / 2.5))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    dst = (dst - dst.mean(0)) @ rot.T
    dst -= dst.min(0)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def warped_size(matrix: np.ndarray, w: int, h: int) -> tuple[int, int]:
    """(width, height) a (w x h) canvas covers once warped by `matrix` (from the origin)."""
    corners = transform_points(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), matrix)
    return int(np.ceil(corners[:, 0].max())) + 1, int(np.ceil(corners[:, 1].max())) + 1


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a homography to an (..., 2) array of points."""
    shape = points.shape
    out = cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float32), matrix)
    return out.reshape(shape)


def contrasting_colour(rng: np.random.Generator, background: np.ndarray,
                       min_contrast: float = 70) -> np.ndarray:
    """A BGR colour whose luminance differs from `background` (BGR mean) by at least the
    given amount, most of the time; sometimes low-contrast on purpose (faded paint)."""
    luma_bg = float(np.dot(background, [0.114, 0.587, 0.299]))
    if rng.random() < 0.08:
        min_contrast = 30
    for _ in range(20):
        colour = rng.integers(0, 256, size=3).astype(np.float32)
        if rng.random() < 0.4:  # black or white text is the most common in the wild
            colour[:] = rng.uniform(0, 40) if luma_bg > 128 else rng.uniform(215, 255)
        if abs(float(np.dot(colour, [0.114, 0.587, 0.299])) - luma_bg) >= min_contrast:
            return colour
    return np.full(3, 0.0 if luma_bg > 128 else 255.0, np.float32)


def composite(scene: np.ndarray, block: TextBlock, matrix: np.ndarray, offset: tuple[int, int],
              colour: np.ndarray, plate: np.ndarray | None = None,
              shadow: tuple[int, int] | None = None,
              relief: tuple[int, int, float] | None = None) -> np.ndarray:
    """Blend the block's ink (and plate) into `scene` in place; returns word quads in scene
    pixels. `matrix` maps canvas to a warped canvas placed at `offset` (x, y). Only the region
    the warped canvas covers is warped and blended (much cheaper than the whole frame).

    `relief` (dx, dy, strength) draws the words in relief instead of in paint: the surface
    keeps its colour (`colour` only tints it) and the letters show by their lit and shaded
    edges, light falling from (-dx, -dy); a positive strength raises them (embossed), a negative
    one cuts them in (engraved)."""
    h, w = scene.shape[:2]
    ch, cw = block.ink.shape
    shift = np.array([[1, 0, offset[0]], [0, 1, offset[1]], [0, 0, 1]], np.float64)
    full = shift @ matrix
    corners = transform_points(np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32), full)
    pad = 4 + max(max(shadow) if shadow else 0, max(abs(v) for v in relief[:2]) if relief else 0)
    x0 = int(np.clip(np.floor(corners[:, 0].min()) - pad, 0, w))
    y0 = int(np.clip(np.floor(corners[:, 1].min()) - pad, 0, h))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()) + pad, 0, w))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()) + pad, 0, h))
    quads = transform_points(block.quads, full)
    if x1 <= x0 or y1 <= y0:
        return quads
    local = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ full
    size = (x1 - x0, y1 - y0)
    ink = cv2.warpPerspective(block.ink, local, size, flags=cv2.INTER_LINEAR)
    out = scene[y0:y1, x0:x1].astype(np.float32)
    if plate is not None:
        area = cv2.warpPerspective(np.ones_like(block.ink), local, size, flags=cv2.INTER_LINEAR)
        out = out * (1 - area[..., None]) + plate * area[..., None]
    if shadow is not None:  # a drop shadow offset by (dx, dy) pixels
        shade = np.roll(ink, shadow[::-1], axis=(0, 1))[..., None] * 0.6
        out = out * (1 - shade)
    if relief is not None:
        dx, dy, strength = relief
        soft = cv2.GaussianBlur(ink, (0, 0), 0.6)
        edges = soft - np.roll(soft, (dy, dx), axis=(0, 1))  # lit side > 0, shaded side < 0
        out = out + strength * edges[..., None]
        tint = 0.2 * ink[..., None]
        out = out * (1 - tint) + colour * tint
    else:
        out = out * (1 - ink[..., None]) + colour * ink[..., None]
    scene[y0:y1, x0:x1] = np.clip(out, 0, 255).astype(np.uint8)
    return quads


def arc(block: TextBlock, rng: np.random.Generator, span: float) -> TextBlock:
    """The block laid along a circle (a round badge, a bottle cap, a roundel), letters
    upright to the circle: over the top of it or, face inwards, along its bottom. `span` is
    the angle in radians the text's middle line covers; it is capped so that the inner edge
    keeps a positive radius. Quads become the upright boxes of each word's ink."""
    h, w = block.ink.shape
    span = float(min(span, 1.6 * w / max(h, 1)))
    radius = w / max(span, 1e-3)
    side = 1.0 if rng.random() < 0.6 else -1.0  # over the top (an arch) or along the bottom

    def forward(x, y):
        theta = (x - w / 2) / radius
        r = radius + side * (h / 2 - y)
        return r * np.sin(theta), -side * r * np.cos(theta)

    border = np.linspace(0, 1, 64, dtype=np.float32)
    edge_x = np.concatenate([border * w, border * w, np.zeros(64), np.full(64, w)])
    edge_y = np.concatenate([np.zeros(64), np.full(64, h), border * h, border * h])
    u, v = forward(edge_x, edge_y)
    cx, cy = -u.min() + 1, -v.min() + 1
    out_w, out_h = int(np.ceil(u.max() + cx)) + 2, int(np.ceil(v.max() + cy)) + 2
    gu, gv = np.meshgrid(np.arange(out_w, dtype=np.float32) - cx,
                         np.arange(out_h, dtype=np.float32) - cy)
    theta = np.arctan2(gu, -side * gv)
    map_x = (w / 2 + theta * radius).astype(np.float32)
    map_y = (h / 2 - side * (np.hypot(gu, gv) - radius)).astype(np.float32)
    ink = cv2.remap(block.ink, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=0)
    quads = []
    for quad in block.quads:
        (x1, y1), (x2, y2) = quad.min(0), quad.max(0)
        xs = np.concatenate([np.linspace(x1, x2, 16)] * 2)
        ys = np.concatenate([np.full(16, y1), np.full(16, y2)])
        qu, qv = forward(xs, ys)
        a, b, c, d = qu.min() + cx, qv.min() + cy, qu.max() + cx, qv.max() + cy
        quads.append([[a, b], [c, b], [c, d], [a, d]])
    return TextBlock(ink, np.asarray(quads, np.float32).reshape(-1, 4, 2), list(block.texts))


def steep_warp(rng: np.random.Generator, w: int, h: int, max_angle: float = 20.0,
               squeeze: tuple[float, float] = (0.45, 0.85)) -> np.ndarray:
    """A stronger perspective than `random_warp`: a sign turned away from the camera, one
    side's height foreshortened to `squeeze` of the other (or the top edge against the bottom,
    a sign looked up at), the word narrowed with it, then rotated. Result starts at the origin."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    f = rng.uniform(*squeeze)
    dst = src.copy()
    if rng.random() < 0.75:  # turned about a vertical axis: left or right edge shorter
        edge = (1, 2) if rng.random() < 0.5 else (0, 3)
        dst[edge[0], 1], dst[edge[1], 1] = h * (1 - f) / 2, h * (1 + f) / 2
        dst[:, 0] *= rng.uniform(0.6, 1.0)
    else:  # tilted about a horizontal axis: top or bottom edge shorter
        edge = (0, 1) if rng.random() < 0.5 else (3, 2)
        dst[edge[0], 0], dst[edge[1], 0] = w * (1 - f) / 2, w * (1 + f) / 2
        dst[:, 1] *= rng.uniform(0.7, 1.0)
    angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    dst = (dst - dst.mean(0)) @ rot.T
    dst -= dst.min(0)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def dot_matrix(block: TextBlock, rng: np.random.Generator, size: int) -> TextBlock:
    """The block redrawn as an LED / dot-matrix display: the ink sampled on a grid of cells
    (seven to nine to a capital's height) and each lit cell drawn as a round dot, sometimes with
    a glow. Words keep their quads (the dots stay inside the ink extents)."""
    h, w = block.ink.shape
    cell = max(2, int(round(size / rng.uniform(9.0, 12.0))))
    rows, cols = h // cell, w // cell
    small = cv2.resize(block.ink[:rows * cell, :cols * cell], (cols, rows),
                       interpolation=cv2.INTER_AREA)
    lit = np.argwhere(small > rng.uniform(0.25, 0.45))
    ink = np.zeros_like(block.ink)
    radius = max(1, int(round(cell * rng.uniform(0.3, 0.48))))
    for r, c in lit:
        cv2.circle(ink, (int(c * cell + cell // 2), int(r * cell + cell // 2)), radius, 1.0, -1,
                   cv2.LINE_AA)
    if rng.random() < 0.5:  # light bleeding round the LEDs
        ink = np.maximum(ink, 0.5 * cv2.GaussianBlur(ink, (0, 0), cell * 0.6))
    return TextBlock(np.clip(ink, 0, 1), block.quads.copy(), list(block.texts))


def relief_light(rng: np.random.Generator, size: int) -> tuple[int, int, float]:
    """`composite`'s relief for letters `size` px high: the lit edge's offset (one to three
    pixels, from a random side, mostly from above as indoor light falls) and its strength,
    raised (embossed: a plaque, a moulded bottle, a coin) or cut in (engraved, stamped)."""
    reach = max(1, int(round(size * rng.uniform(0.03, 0.07))))
    from_above = rng.random() < 0.7
    angle = rng.uniform(0.1, 0.9) * np.pi if from_above else rng.uniform(0, 2 * np.pi)
    dx, dy = int(round(reach * np.cos(angle))), int(round(reach * np.sin(angle)))
    if dx == 0 and dy == 0:
        dy = reach
    strength = rng.uniform(70, 130) * (1.0 if rng.random() < 0.5 else -1.0)
    return dx, dy, float(strength)


def faint_colour(rng: np.random.Generator, background: np.ndarray,
                 contrast: tuple[float, float] = (12.0, 35.0)) -> np.ndarray:
    """A BGR colour close to `background`: luminance `contrast` levels above or below it,
    with a slight tint (faded paint, embossed or engraved text, grey on grey)."""
    step = rng.uniform(*contrast)
    luma = float(np.dot(background, [0.114, 0.587, 0.299]))
    sign = 1.0 if luma + step <= 255 and (luma - step < 0 or rng.random() < 0.5) else -1.0
    colour = background + sign * step + rng.uniform(-6, 6, size=3)
    return np.clip(colour, 0, 255).astype(np.float32)
