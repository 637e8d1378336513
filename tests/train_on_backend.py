"""Train a tiny run on the Keras backend of the environment, for the backend tests (a backend
is fixed when Keras is imported, so each backend runs in its own process):

    KERAS_BACKEND=jax python -m tests.train_on_backend rec RUN_DIR '[{"name": "a", ...}]'

Prints one JSON line: the run's step and phase, the optimizer's step count, digests of the
weights as resumed and as trained, whether the lower layers (those a frozen phase freezes)
kept their weights through this call, and whether TensorFlow was imported."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def digest(weights: list[np.ndarray]) -> float:
    return float(sum(np.abs(w.astype(np.float64)).sum() for w in weights))


def main(kind: str, run: Path, phases: list[dict]) -> dict:
    import keras

    from engocr.train.loop import Phase
    from tests.conftest import TINY_DET, TINY_REC

    recipe = [Phase(**p) for p in phases]
    none = run.parent / "no-data"
    if kind == "rec":
        from engocr.models.crnn import LOWER_BLOCKS, CRNNConfig
        from engocr.train.rec import RecTrainer

        trainer = RecTrainer(run, CRNNConfig(**TINY_REC), recipe, batch=4, data=none,
                             eval_every=1000)

        def lower(model):
            return [layer for layer in model.layers if layer.name.split("_")[0] in LOWER_BLOCKS]
    else:
        from engocr.models.yolo_mobilenet import DetectorConfig
        from engocr.train.det import DetTrainer

        config = DetectorConfig(**TINY_DET)
        if not run.exists():  # the config's default anchors: k-means ones take half a minute
            run.mkdir(parents=True)
            (run / "config.json").write_text(json.dumps(config.to_dict()))
            (run / "recipe.json").write_text(json.dumps(phases))
        trainer = DetTrainer(run, config, recipe, batch=2, data=none, eval_every=1000)

        def lower(model):
            return [model.get_layer("backbone")]
    # A resumed run follows its saved recipe.json; phases added since are appended there.
    saved = json.loads((run / "recipe.json").read_text())
    if len(phases) > len(saved):
        (run / "recipe.json").write_text(json.dumps(saved + phases[len(saved):]))
        trainer.recipe = recipe
    resumed = digest(trainer.model.get_weights())
    frozen_before = [w.copy() for layer in lower(trainer.model) for w in layer.get_weights()]
    state = trainer.train()
    frozen_after = [w for layer in lower(trainer.model) for w in layer.get_weights()]
    return {"step": state.step, "phase": state.phase,
            "iterations": int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)),
            "resumed": resumed, "trained": digest(trainer.model.get_weights()),
            "lower_unchanged": all(np.array_equal(a, b) for a, b in
                                   zip(frozen_before, frozen_after, strict=True)),
            "backend": keras.backend.backend(),
            "tensorflow_loaded": "tensorflow" in sys.modules}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]))))
