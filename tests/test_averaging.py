"""`engocr train average`: one recognizer from several points of a run's training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import TINY_DET, TINY_REC


def _run_with_three_weights(tmp_path):
    """A tiny recognizer run with best, last (the checkpoint's) and one more weights file,
    each from a different random start."""
    import keras

    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.train.runs import weights_path

    run = tmp_path / "run"
    config = CRNNConfig(**TINY_REC, mixer_blocks=1, mixer_norm="batch")
    weights_path(run, "last").parent.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    sets = []
    for seed, path in enumerate([weights_path(run, "best"), weights_path(run, "last"),
                                 tmp_path / "old.weights.h5"]):
        keras.utils.set_random_seed(seed)
        model = build_crnn(config)
        # batch-norm statistics differ too, as after training
        model.set_weights([w + seed for w in model.get_weights()])
        model.save_weights(path)
        sets.append(model.get_weights())
    return run, sets


def test_average_writes_the_mean_of_its_sources_and_names_them(tmp_path, capsys):
    from engocr.cli import main
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.train.loop import read_config

    run, sets = _run_with_three_weights(tmp_path)
    old = tmp_path / "old.weights.h5"
    assert main(["train", "average", "--run", str(run), "--from", "best", "last", str(old),
                 "--name", "cycles"]) == 0
    assert "averaged 3 weights" in capsys.readouterr().out
    model = build_crnn(read_config(run, CRNNConfig))
    model.load_weights(run / "cycles.weights.h5")
    for got, *parts in zip(model.get_weights(), *sets, strict=True):
        np.testing.assert_allclose(got, np.mean(parts, axis=0), rtol=1e-5, atol=1e-5)
    record = json.loads((run / "cycles.json").read_text())
    assert [s["source"] for s in record["averaged"]] == ["best", "last", str(old)]
    assert all(len(s["sha256"]) == 64 for s in record["averaged"])


@pytest.mark.parametrize("args, message", [
    (["--from", "best", "last", "--name", "best"], "not best or last"),
    (["--from", "best", "last", "--name", "Soup!"], "new name"),
    (["--from", "best", "--name", "soup"], "at least two"),
    (["--from", "best", "nowhere.weights.h5", "--name", "soup"], "no weights at"),
])
def test_average_refuses_bad_requests_in_one_line(tmp_path, capsys, args, message):
    from engocr.cli import main

    run, _ = _run_with_three_weights(tmp_path)
    assert main(["train", "average", "--run", str(run), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (run / "soup.weights.h5").exists()


def test_average_refuses_a_detector_run_and_weights_of_another_model(tmp_path, capsys):
    from engocr.cli import main
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.models.yolo_mobilenet import DetectorConfig

    run, _ = _run_with_three_weights(tmp_path)
    other = tmp_path / "other.weights.h5"
    build_crnn(CRNNConfig(**TINY_REC)).save_weights(other)  # no attention block
    assert main(["train", "average", "--run", str(run), "--from", "best", str(other),
                 "--name", "soup"]) == 2
    assert "does not fit the run's model" in capsys.readouterr().err
    det = tmp_path / "det"
    det.mkdir()
    (det / "config.json").write_text(json.dumps(DetectorConfig(**TINY_DET).to_dict()))
    assert main(["train", "average", "--run", str(det), "--from", "best", "last",
                 "--name", "soup"]) == 2
    assert "not a recognizer run" in capsys.readouterr().err


def test_export_and_eval_name_missing_weights_in_one_line(tmp_path, capsys):
    from engocr.cli import main

    run, _ = _run_with_three_weights(tmp_path)
    for argv in (["export", "rec", "--run", str(run), "--weights", "cycles", "--out",
                  str(tmp_path / "r.tflite")],
                 ["eval", "rec", "--run", str(run), "--weights", "cycles"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "has no cycles weights" in err and "\n" not in err
    assert not (tmp_path / "r.tflite").exists()
