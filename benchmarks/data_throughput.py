"""Training data throughput in one process: synthetic recognizer crops, synthetic 640x480
detector scenes, and the detector's real training windows (a photo read, scaled, turned, cut
and jittered as `engocr train det` makes them; the trainers make all of these in worker
processes beside the training step, so this says how many workers a faster step needs).

    python benchmarks/data_throughput.py [--crops 300] [--scenes 40] [--windows 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from engocr.preprocess import crop_to_input
from engocr.train.data.synth import SynthCrops, SynthScenes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--crops", type=int, default=300)
    p.add_argument("--scenes", type=int, default=40)
    p.add_argument("--windows", type=int, default=60,
                   help="real detector windows (0: skip; needs the real data)")
    args = p.parse_args(argv)
    crops, scenes = SynthCrops(seed=5), SynthScenes(seed=5, size=(640, 480))
    crops[0], scenes[0]  # fonts, word list and photo bank loaded outside the timing
    t0 = time.perf_counter()
    for i in range(1, args.crops + 1):
        crop_to_input(crops[i].image, 32, 128)
    crop_rate = args.crops / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    words = 0
    for i in range(1, args.scenes + 1):
        words += len(scenes[i].words)
    scene_rate = args.scenes / (time.perf_counter() - t0)
    result = {"crops_per_s": round(crop_rate, 1), "scenes_640x480_per_s": round(scene_rate, 2),
              "words_per_scene": round(words / args.scenes, 1), "processes": 1}
    if args.windows:
        result.update(real_window_rate(args.windows))
    print(json.dumps(result))
    return 0


def real_window_rate(n: int) -> dict:
    """Real 512x384 detector windows a second at the shipped detector's frame side (1152),
    with the shipped detector's turns (30 degrees) and a 0.4 share of close-ups."""
    import numpy as np

    from engocr.train.data.importers import detector_training_scenes
    from engocr.train.det_data import scene_to_input

    photos = detector_training_scenes()
    if not photos:
        return {"real_windows_per_s": None, "note": "no real data found"}
    rng = np.random.default_rng(5)
    t0 = time.perf_counter()
    for _ in range(n):
        scene = photos[int(rng.integers(len(photos)))]
        scene_to_input(scene, (512, 384), rng, 1152, oriented=True, rotate=30.0, closeup=0.4)
        scene.release()
    return {"real_windows_512x384_per_s": round(n / (time.perf_counter() - t0), 1)}


if __name__ == "__main__":
    sys.exit(main())
