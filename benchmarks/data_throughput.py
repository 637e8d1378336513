"""Synthetic data throughput: recognizer crops and 640x480 detector scenes per second, in one
process (the trainers render in worker processes beside the training step).

    python benchmarks/data_throughput.py [--crops 300] [--scenes 40]
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
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
