"""A run's checkpoint in Keras's own formats, so that a run resumes on any Keras backend (a
GPU machine with JAX, this CPU with TensorFlow): the model's weights (`ckpt/model.weights.h5`)
and the optimizer's state as its `save_own_variables` gives it (`ckpt/optimizer.npz`).

The optimizer's float tensors (Adam's moments, twice the model's size) are kept at bfloat16
precision (relative error under 0.4%, far below the noise of a gradient): that halves a
checkpoint, which git and the GPU machine's 64 MiB transfer both need. The model's weights and
the step count stay exact. The TensorFlow checkpoints (`ckpt/checkpoint` + `ckpt-N.*`) of runs
before 2026-11-30 are converted once, where TensorFlow is installed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engocr.errors import InputError

WEIGHTS, OPTIMIZER = "model.weights.h5", "optimizer.npz"


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "ckpt"


def has_checkpoint(run_dir: Path) -> bool:
    folder = checkpoint_dir(run_dir)
    return (folder / WEIGHTS).exists() or _has_tf_checkpoint(folder)


def save_checkpoint(run_dir: Path, model, optimizer) -> None:
    """Weights and optimizer state, each written to a temporary file and then renamed, so that
    a run killed while saving keeps its previous checkpoint."""
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    store: dict[str, np.ndarray] = {}
    optimizer.save_own_variables(store)
    tmp = folder / "optimizer.tmp.npz"
    np.savez(tmp, **{key: _to_bfloat16(value) for key, value in store.items()})
    os.replace(tmp, folder / OPTIMIZER)
    tmp = folder / "model.tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, folder / WEIGHTS)


def load_checkpoint(run_dir: Path, model, optimizer) -> bool:
    """Restore the run's checkpoint into a built model and optimizer; False where the run has
    none. A TensorFlow checkpoint is converted first (and its files removed)."""
    folder = checkpoint_dir(run_dir)
    if not (folder / WEIGHTS).exists():
        if not _has_tf_checkpoint(folder):
            return False
        convert_tf_checkpoint(run_dir, model, optimizer)
    model.load_weights(folder / WEIGHTS)
    with np.load(folder / OPTIMIZER) as saved:
        store = {key: _from_bfloat16(saved[key]) for key in saved.files}
    if len(store) != len(optimizer.variables):
        raise InputError(f"{folder}: the optimizer state has {len(store)} variables, this "
                         f"model's optimizer {len(optimizer.variables)}: not this model's run")
    optimizer.load_own_variables(store)
    return True


def convert_tf_checkpoint(run_dir: Path, model, optimizer) -> None:
    """Read the run's TensorFlow checkpoint into `model` and `optimizer` (built the way the
    run built them; every variable must be found), write it in the Keras formats, and remove
    the TensorFlow files."""
    import keras

    folder = checkpoint_dir(run_dir)
    if keras.backend.backend() != "tensorflow":
        raise InputError(f"{folder} is a TensorFlow checkpoint of an earlier version: resume "
                         "the run once with KERAS_BACKEND=tensorflow to convert it")
    import tensorflow as tf

    status = tf.train.Checkpoint(model=model, optimizer=optimizer).restore(
        tf.train.latest_checkpoint(str(folder)))
    try:
        status.assert_existing_objects_matched()
    except AssertionError as exc:
        raise InputError(f"{folder}: the TensorFlow checkpoint does not fit this run's model "
                         f"({str(exc)[:200]})") from None
    save_checkpoint(run_dir, model, optimizer)
    # The checkpoint's weights are now the run's last ones, which earlier runs also kept apart.
    for path in [*_tf_checkpoint_files(folder), Path(run_dir) / "last.weights.h5"]:
        path.unlink(missing_ok=True)


def _to_bfloat16(value: np.ndarray) -> np.ndarray:
    """float32 tensors as the upper 16 bits of their rounded float32 (uint16); the rest as is."""
    value = np.asarray(value)
    if value.dtype != np.float32 or value.ndim == 0:
        return value
    bits = value.view(np.uint32).astype(np.uint64)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)  # round to nearest even
    return (rounded >> 16).astype(np.uint16)


def _from_bfloat16(value: np.ndarray) -> np.ndarray:
    if value.dtype != np.uint16:
        return value
    return (value.astype(np.uint32) << 16).view(np.float32)


def _has_tf_checkpoint(folder: Path) -> bool:
    return (folder / "checkpoint").exists()


def _tf_checkpoint_files(folder: Path) -> list[Path]:
    return [folder / "checkpoint", *folder.glob("ckpt-*.index"), *folder.glob("ckpt-*.data-*")]
