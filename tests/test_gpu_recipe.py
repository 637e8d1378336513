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

import pytest

from engocr.errors import InputError
from engocr.models.crnn import CRNNConfig
from engocr.train.loop import Phase, RunState
from tests.conftest import TINY_REC, write_crop_set

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


def test_gpu_script_trains_from_the_bundle_alone_and_the_cpu_resumes(bundle_and_run, tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install 'engocr[jax]')")
    bundle, run = bundle_and_run
    out = tmp_path / "out"
    env = {**os.environ, "BUNDLE": str(bundle), "PYTHON": sys.executable, "WORKERS": "1",
           "ENGOCR_DATA": str(tmp_path / "no-data")}
    result = subprocess.run(
        ["bash", "scripts/gpu_train.sh", str(run), "0.3", str(out), "--batch", "4",
         "--pool", "64", "--eval-every", "1000"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
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
    result = subprocess.run(["bash", "scripts/gpu_train.sh", str(tmp_path / "run"), "1",
                             str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "BUNDLE": str(tmp_path / "none")})
    assert result.returncode == 2
    assert "engocr train bundle" in result.stderr and "Traceback" not in result.stderr
