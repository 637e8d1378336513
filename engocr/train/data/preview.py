"""Contact sheets of what the models learn from: detector scenes with their word boxes and
labels, and recognizer crops with their labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engocr.train.data.synth import SynthCrops, SynthScenes


def scene_sheet(seed: int = 0, count: int = 6, columns: int = 3,
                size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """Scenes with every word's quad (green; grey for don't-care) and its label."""
    gen = SynthScenes(seed=seed, size=size)
    tiles = []
    for i in range(count):
        sample = gen[i]
        img = sample.image.copy()
        for word in sample.words:
            colour = (128, 128, 128) if word.ignore else (0, 255, 0)
            cv2.polylines(img, [word.quad.astype(np.int32)], True, colour, 1, cv2.LINE_AA)
            x, y = word.quad[0].astype(int)
            cv2.putText(img, word.text, (x, max(10, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (0, 0, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    return _grid(tiles, columns)


def crop_sheet(seed: int = 0, count: int = 48, columns: int = 4, height: int = 40,
               style: str = "default") -> np.ndarray:
    """Recognizer crops of a `CROP_STYLES` mix at a common height, each with its label printed
    beneath."""
    gen = SynthCrops.styled(style, seed)
    width = height * 6
    tiles = []
    for i in range(count):
        sample = gen[i]
        crop = sample.image
        w = min(width, max(1, int(crop.shape[1] * height / crop.shape[0])))
        tile = np.full((height + 18, width, 3), 255, np.uint8)
        tile[:height, :w] = cv2.resize(crop, (w, height), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, sample.text, (2, height + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (200, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    return _grid(tiles, columns, pad=4)


def _grid(tiles: list[np.ndarray], columns: int, pad: int = 6) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return sheet


def write_sheets(out_dir: Path, seed: int = 0, style: str = "default") -> list[Path]:
    """The scene sheet and the crop sheet of `style` ("synth-crops-STYLE.jpg" for a style
    other than the default)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    crops_name = "synth-crops.jpg" if style == "default" else f"synth-crops-{style}.jpg"
    paths = [out_dir / "synth-scenes.jpg", out_dir / crops_name]
    cv2.imwrite(str(paths[0]), scene_sheet(seed), [cv2.IMWRITE_JPEG_QUALITY, 85])
    cv2.imwrite(str(paths[1]), crop_sheet(seed, style=style), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return paths
