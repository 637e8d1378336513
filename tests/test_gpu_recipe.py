"""The GPU training recipe rehearsed on this CPU: `engocr train bundle` packs fonts, word list
and real crops; `scripts/gpu_train.sh` trains a run from the bundle alone under JAX (the GPU
machines' backend) for a short while and copies it out; TensorFlow resumes the copy here."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from engocr.errors import InputError
from engocr.models.crnn import CRNNConfig
from engocr.models.yolo_mobilenet import DetectorConfig
from engocr.train.loop import Phase, RunState
from tests.conftest import TINY_DET, TINY_REC, write_crop_set, write_photo_set

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def bundle_and_run(tmp_path):
    from engocr.train.bundle import make_bundle

    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(CRNNConfig(**TINY_REC).to_dict()))
    (run / "recipe.json").write_text(json.dumps([asdict(Phase("all", 100_000, 1e-3, 0.5))]))
    data = tmp_path / "data"
    write_crop_set(data / "iiit5k_train", ["EXIT", "open", "cafe", "2024"])
    write_crop_set(data / "svt_train", ["HOTEL"])
    sizes = make_bundle(tmp_path / "bundle", run, data, font_mb=1.0, wheels=False)
    assert sizes["fonts"] > 0 and sizes["crops"] > 0 and "wheels" not in sizes
    return tmp_path / "bundle", run


def test_bundle_holds_the_crops_as_model_inputs(bundle_and_run):
    from engocr.train.rec_data import load_prepared

    bundle, _ = bundle_and_run
    sets = load_prepared(bundle / "crops.npz", TINY_REC["height"], TINY_REC["width"])
    assert [t.lower() for t in sets["iiit5k_train"][1]] == ["exit", "open", "cafe", "2024"]
    assert sets["svt_train"][0].shape == (1, TINY_REC["height"], TINY_REC["width"])
    with pytest.raises(InputError, match="model reads"):
        load_prepared(bundle / "crops.npz", 32, 128)


def _gpu_script(bundle: Path, run: Path, tmp_path: Path, minutes: str, *options: str) -> Path:
    """`scripts/gpu_train.sh` under JAX with the bundle alone (no data folder); the folder it
    copied the run to."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install 'engocr[jax]')")
    out = tmp_path / "out"
    env = {**os.environ, "BUNDLE": str(bundle), "PYTHON": sys.executable, "WORKERS": "1",
           "ENGOCR_DATA": str(tmp_path / "no-data")}
    result = subprocess.run(["bash", "scripts/gpu_train.sh", str(run), minutes, str(out),
                             *options], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_gpu_script_trains_from_the_bundle_alone_and_the_cpu_resumes(bundle_and_run, tmp_path):
    bundle, run = bundle_and_run
    out = _gpu_script(bundle, run, tmp_path, "0.3", "--batch", "4", "--pool", "64",
                      "--eval-every", "1000")
    copied = out / "tiny"
    assert (copied / "ckpt" / "model.weights.h5").exists()
    assert (copied / "ckpt" / "optimizer.npz").exists()
    assert all(f.stat().st_size < 16 * 2 ** 20 for f in copied.rglob("*") if f.is_file())
    steps = RunState.load(copied / "state.json").step
    assert steps >= 1

    from engocr.train.rec import RecTrainer

    here = tmp_path / "here"
    shutil.copytree(copied, here)
    resumed = RecTrainer(here, CRNNConfig(**TINY_REC), [], batch=4, data=tmp_path / "no-data")
    assert resumed.state.step == steps
    assert int(resumed.optimizer.iterations.numpy()) == steps


def test_gpu_script_says_what_is_missing(tmp_path):
    def script(run: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "scripts/gpu_train.sh", str(run), "1",
                               str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "BUNDLE": str(tmp_path / "none")})

    result = script(tmp_path / "run")
    assert result.returncode == 2 and "not a run folder" in result.stderr
    for config, part in ((CRNNConfig(**TINY_REC), "crops.npz"),
                         (DetectorConfig(**TINY_DET), "photos.tar")):
        run = tmp_path / part
        run.mkdir()
        (run / "config.json").write_text(json.dumps(config.to_dict()))
        result = script(run)
        assert result.returncode == 2
        assert "engocr train bundle" in result.stderr and "Traceback" not in result.stderr
        assert part in result.stderr or "fonts.tar.gz" in result.stderr


@pytest.fixture()
def detector_bundle(tmp_path):
    from engocr.train.bundle import make_bundle

    data = tmp_path / "data"
    write_photo_set(data / "ic15_train", ["img_1.jpg", "img_2.jpg", "img_901.jpg"], (640, 360))
    write_photo_set(data / "ic03_train", ["sign.jpg"], (800, 600))
    run = tmp_path / "runs" / "det"
    run.mkdir(parents=True)
    config = DetectorConfig(**TINY_DET, max_side=320)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    (run / "recipe.json").write_text(json.dumps([asdict(Phase("all", 100_000, 1e-3, 0.5))]))
    sizes = make_bundle(tmp_path / "bundle", run, data, font_mb=1.0, wheels=False)
    assert sizes["photos"] > 0 and "crops" not in sizes
    return tmp_path / "bundle", run


def test_detector_bundle_holds_the_photos_at_the_run_frame_side(detector_bundle, tmp_path):
    import tarfile

    from engocr.train.bundle import make_bundle
    from engocr.train.data.importers import detector_training_scenes, ic15_scenes

    bundle, run = detector_bundle
    unpacked = tmp_path / "unpacked"
    with tarfile.open(bundle / "photos.tar") as tar:
        tar.extractall(unpacked, filter="data")
    assert [s.name for s in ic15_scenes("val", unpacked)] == ["img_901.webp"]
    scenes = detector_training_scenes(unpacked)
    assert sorted(s.name for s in scenes) == ["img_1.webp", "img_2.webp", "sign.webp"]
    for scene in scenes:  # scaled to the run's frame side (320), the word's quad with it
        image = scene.load()
        assert max(image.shape[:2]) == 320
        scale = 320 / (640 if scene.name.startswith("img") else 800)
        np.testing.assert_allclose(scene.words[0].quad[0], np.array([38, 70]) * scale,
                                   atol=0.06)
        x1, y1, x2, y2 = (int(v) for v in scene.words[0].aabb())
        assert image[y1:y2, x1:x2].min() < 60  # the word's ink is where its quad says
    with pytest.raises(InputError, match="photo"):
        make_bundle(tmp_path / "small", run, tmp_path / "data", font_mb=1.0, wheels=False,
                    photo_mb=0.0001)


def test_gpu_script_trains_a_detector_from_the_bundle_alone(detector_bundle, tmp_path):
    bundle, run = detector_bundle
    out = _gpu_script(bundle, run, tmp_path, "0.2", "--batch", "2", "--eval-every", "1000")
    copied = out / "det"
    assert (copied / "ckpt" / "model.weights.h5").exists()
    steps = RunState.load(copied / "state.json").step
    assert steps >= 1

    from engocr.train.det import DetTrainer

    resumed = DetTrainer(copied, DetectorConfig(**TINY_DET, max_side=320), [], batch=2,
                         data=tmp_path / "no-data")
    assert resumed.state.step == steps
