"""One recognizer from several points of a run's training: the uniform average of their
weights (batch-norm statistics included). A run trained in cosine cycles ends each cycle in
the same basin; the average of the cycles' ends reads better than any one of them (session 25
of the training log), as in snapshot ensembles and stochastic weight averaging, at one
model's cost."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import numpy as np

from engocr.errors import InputError

RESERVED = ("best", "last")


def source_path(run_dir: Path, source: str) -> Path:
    """`best` or `last` of the run, else a weights file of the same architecture."""
    from engocr.train.runs import existing_weights

    if source in RESERVED:
        return existing_weights(run_dir, source)
    if not Path(source).is_file():
        raise InputError(f"no weights at {source}")
    return Path(source)


def check_name(name: str) -> None:
    if name in RESERVED or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise InputError(f"averaged weights need a new name of lowercase letters, digits, - "
                         f"and _ (not best or last), got {name!r}")


def average_run_weights(run_dir: Path, sources: list[str], name: str) -> Path:
    """Write `run_dir/NAME.weights.h5`, the mean of `sources` (see `source_path`), and
    `NAME.json` naming each source by path and SHA-256; returns the weights' path."""
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.train.loop import read_config
    from engocr.train.runs import weights_path

    check_name(name)
    if len(sources) < 2:
        raise InputError("give at least two weights to average")
    try:
        config = read_config(run_dir, CRNNConfig)
    except TypeError as exc:  # a detector's config has other fields
        raise InputError(f"{run_dir} is not a recognizer run") from exc
    paths = [source_path(run_dir, s) for s in sources]
    model = build_crnn(config)
    total = None
    for path in paths:
        try:
            with warnings.catch_warnings():  # Keras only warns of layers it skips
                warnings.simplefilter("error", UserWarning)
                model.load_weights(path)
        except (ValueError, KeyError, OSError, UserWarning) as exc:
            raise InputError(f"{path} does not fit the run's model: "
                             f"{str(exc).splitlines()[0]}") from exc
        weights = [w.astype(np.float64) for w in model.get_weights()]
        total = weights if total is None else [t + w for t, w in zip(total, weights, strict=True)]
    model.set_weights([(t / len(paths)).astype(w.dtype)
                       for t, w in zip(total, model.get_weights(), strict=True)])
    out = weights_path(run_dir, name)
    model.save_weights(out)
    record = {"averaged": [{"source": s, "path": str(p),
                            "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                           for s, p in zip(sources, paths, strict=True)]}
    (run_dir / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    return out
