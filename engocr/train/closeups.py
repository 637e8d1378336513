"""Close-up windows of scene photos, as a webcam near a sign sees them: 640x480 windows zoomed
so that one readable word fills 10-40% of the frame height. `benchmarks/closeups.py` scores the
Reader on them; the detector export chooses its coarse pass on them beside the full photos
(other windows of the same validation photos), since a 640x480 frame runs the passes at other
sizes than a 1280x720 photo does."""

from __future__ import annotations

import cv2
import numpy as np

SIZE = (640, 480)


def closeup_windows(scenes, n: int, rng: np.random.Generator):
    """(frame, truth) pairs: each zooms on a random readable word at 10-40% of the height."""
    readable = [(s, w) for s in scenes for w in s.words
                if not w.ignore and np.ptp(np.asarray(w.quad)[:, 1]) >= 8]
    for k in rng.permutation(len(readable))[:n]:
        scene, word = readable[int(k)]
        image = scene.load()
        quad = np.asarray(word.quad, np.float32)
        scale = rng.uniform(0.10, 0.40) * SIZE[1] / max(np.ptp(quad[:, 1]), 1.0)
        if np.ptp(quad[:, 0]) * scale > SIZE[0] * 0.95:  # the word must fit across the frame
            scale = SIZE[0] * 0.95 / np.ptp(quad[:, 0])
        centre = quad.mean(0) + rng.uniform(-0.25, 0.25, 2) * [SIZE[0] - np.ptp(quad[:, 0]) *
                                                             scale, 0] / scale
        matrix = np.array([[scale, 0, SIZE[0] / 2 - scale * centre[0]],
                           [0, scale, SIZE[1] / 2 - scale * centre[1]]], np.float32)
        frame = cv2.warpAffine(image, matrix, SIZE, flags=cv2.INTER_LINEAR if scale > 1
                               else cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
        truth = []
        for other in scene.words:
            q = np.asarray(other.quad, np.float32) @ matrix[:, :2].T + matrix[:, 2]
            inside = ((q >= 0) & (q <= SIZE)).all()
            if ((q.max(0) > 0) & (q.min(0) < SIZE)).all():
                truth.append((q, other.text, other.ignore or not inside))
        scene.release()
        yield frame, truth
