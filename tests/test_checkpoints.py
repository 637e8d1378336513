"""Run checkpoints in Keras's formats: weights exact, optimizer state at bfloat16 precision,
and the TensorFlow checkpoints of earlier runs converted once with nothing lost."""

import numpy as np
import pytest

from engocr.errors import InputError
from engocr.models.crnn import CRNNConfig
from engocr.train.loop import Phase
from tests.conftest import TINY_REC

pytestmark = pytest.mark.slow


def trained_run(run):
    from engocr.train.rec import RecTrainer

    trainer = RecTrainer(run, CRNNConfig(**TINY_REC), [Phase("a", 2, 1e-3)], batch=4,
                         data=run.parent / "none", eval_every=1000)
    trainer.train()
    return trainer


def optimizer_values(trainer) -> list[np.ndarray]:
    return [np.asarray(v.numpy()) for v in trainer.optimizer.variables]


def test_tensorflow_checkpoint_of_an_earlier_run_is_converted_once(tmp_path):
    import tensorflow as tf

    from engocr.train.rec import RecTrainer

    run = tmp_path / "run"
    old = trained_run(run)
    # The layout runs had before 2026-11-30: a tf.train checkpoint and last.weights.h5.
    for path in (run / "ckpt").iterdir():
        path.unlink()
    tf.train.CheckpointManager(tf.train.Checkpoint(model=old.model, optimizer=old.optimizer),
                               run / "ckpt", max_to_keep=1).save(checkpoint_number=2)
    old.model.save_weights(run / "last.weights.h5")

    new = RecTrainer(run, CRNNConfig(**TINY_REC), [], batch=4, data=tmp_path / "none")
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == ["model.weights.h5",
                                                                "optimizer.npz"]
    assert not (run / "last.weights.h5").exists()
    for got, want in zip(new.model.get_weights(), old.model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(optimizer_values(new), optimizer_values(old), strict=True):
        np.testing.assert_allclose(got, want, rtol=2 ** -8)
    assert int(new.optimizer.iterations.numpy()) == 2


def test_optimizer_state_of_another_model_is_refused(tmp_path):
    from engocr.train.checkpoints import load_checkpoint
    from engocr.train.rec import RecTrainer

    trained_run(tmp_path / "run")
    other = RecTrainer(tmp_path / "other", CRNNConfig(**{**TINY_REC, "head": "bilstm"}), [],
                       batch=4, data=tmp_path / "none")
    with pytest.raises((InputError, ValueError)):
        load_checkpoint(tmp_path / "run", other.model, other.optimizer)


def test_bfloat16_round_trip_is_within_its_precision():
    from engocr.train.checkpoints import _from_bfloat16, _to_bfloat16

    values = np.random.default_rng(0).normal(size=10_000).astype(np.float32) * 1e-5
    back = _from_bfloat16(_to_bfloat16(values))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, values, rtol=2 ** -8)
    step = np.array(7, np.int64)
    assert _from_bfloat16(_to_bfloat16(step)) is not None and _to_bfloat16(step) == 7
