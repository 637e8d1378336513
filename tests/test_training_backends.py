"""Training on each Keras backend: a run trains, checkpoints and resumes under JAX (the GPU
machines have JAX and no TensorFlow), frozen phases included, and a run trained under JAX
resumes under TensorFlow (the CPU default) from the same weights and optimizer state."""

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from engocr.train.loop import Phase

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ALL = asdict(Phase("all", 2, 1e-3))
FROZEN = asdict(Phase("frozen", 2, 5e-4, freeze_lower=True))
AGAIN = asdict(Phase("again", 1, 2e-4))


def train(backend: str, kind: str, run: Path, phases: list[dict]) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.train_on_backend", kind, str(run), json.dumps(phases)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def needs_jax():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install 'engocr[jax]')")


def test_recognizer_run_trains_on_jax_and_resumes_on_tensorflow(tmp_path):
    needs_jax()
    run = tmp_path / "run"
    first = train("jax", "rec", run, [ALL])
    assert (first["step"], first["phase"], first["iterations"]) == (2, 1, 2)
    assert first["backend"] == "jax" and not first["tensorflow_loaded"]
    assert (run / "ckpt" / "model.weights.h5").exists()

    frozen = train("jax", "rec", run, [ALL, FROZEN])
    assert frozen["resumed"] == first["trained"]
    assert (frozen["step"], frozen["iterations"]) == (4, 4)
    assert frozen["lower_unchanged"] and frozen["trained"] != frozen["resumed"]

    resumed = train("tensorflow", "rec", run, [ALL, FROZEN, AGAIN])
    assert resumed["backend"] == "tensorflow"
    assert resumed["resumed"] == frozen["trained"]
    assert (resumed["step"], resumed["phase"], resumed["iterations"]) == (5, 3, 5)


def test_detector_run_trains_frozen_on_jax_and_resumes_on_tensorflow(tmp_path):
    needs_jax()
    run = tmp_path / "run"
    frozen = train("jax", "det", run, [FROZEN])
    assert (frozen["step"], frozen["iterations"]) == (2, 2) and not frozen["tensorflow_loaded"]
    assert frozen["lower_unchanged"] and frozen["trained"] != frozen["resumed"]

    resumed = train("tensorflow", "det", run, [FROZEN, AGAIN])
    assert resumed["resumed"] == frozen["trained"]
    assert (resumed["step"], resumed["phase"], resumed["iterations"]) == (3, 2, 3)
