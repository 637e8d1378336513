"""The float training models through the runtime's predictors on each Keras backend
(`engocr bench --backend keras`): TensorFlow here, JAX where it is installed (the GPU machines
have JAX and PyTorch but no TensorFlow)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import TINY_DET, TINY_REC

pytestmark = pytest.mark.slow

# Runs the bench command, then says whether TensorFlow was loaded on the way.
BENCH = ("import json, sys; from engocr.cli import main; code = main(sys.argv[1:]); "
         "print(json.dumps({'tensorflow_loaded': 'tensorflow' in sys.modules}))")


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Run folders (config.json + best weights) of a random tiny detector and recognizer; the
    detector is free-size (a longest side), as the shipped one."""
    import keras

    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector

    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("runs")
    for name, config, model in (
            ("det", DetectorConfig(**TINY_DET, max_side=160), build_detector),
            ("rec", CRNNConfig(**TINY_REC), build_crnn)):
        (root / name).mkdir()
        (root / name / "config.json").write_text(json.dumps(config.to_dict()))
        model(config).save_weights(root / name / "best.weights.h5")
    return root


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_bench_runs_training_models_on_each_keras_backend(tiny_runs, backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = {**os.environ, "KERAS_BACKEND": backend}
    run = subprocess.run(
        [sys.executable, "-c", BENCH, "bench", "--backend", "keras", "--det-run",
         str(tiny_runs / "det"), "--rec-run", str(tiny_runs / "rec"), "--frames", "2",
         "--warmup", "1", "--size", "320x240", "--json"],
        capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    figures, loaded = json.loads("\n".join(lines[:-1])), json.loads(lines[-1])
    assert figures["backend"] == "keras" and backend in figures["device"]
    assert figures["stages"]["detect"]["median"] > 0 and figures["fps"] > 0
    assert figures["detector"] == "float32 (Keras)"
    if backend != "tensorflow":
        assert not loaded["tensorflow_loaded"]
