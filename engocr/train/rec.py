"""Recognizer training: synthetic pretraining, then fine-tuning on real crops with the lower
blocks frozen, then everything at a lower learning rate. Resumable from any checkpoint."""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402

from engocr.charset import CHARSET  # noqa: E402
from engocr.errors import InputError  # noqa: E402
from engocr.models.crnn import CRNNConfig, build_crnn, set_lower_trainable  # noqa: E402
from engocr.realtime.kernels import ctc_greedy_decode  # noqa: E402
from engocr.train import rec_data  # noqa: E402
from engocr.train.compiled import make_forward, make_train_step  # noqa: E402
from engocr.train.loop import Phase, PhasedTrainer, start_run  # noqa: E402
from engocr.train.losses import ctc_loss  # noqa: E402
from engocr.train.metrics import recognition_scores  # noqa: E402
from engocr.train.pool import SamplePool  # noqa: E402

DEFAULT_RECIPE = [
    Phase("pretrain", steps=6000, lr=1e-3, real_fraction=0.0, patience=4),
    Phase("finetune_frozen", steps=3000, lr=5e-4, real_fraction=0.5, freeze_lower=True,
          patience=4),
    Phase("finetune_all", steps=4000, lr=2e-4, real_fraction=0.5, patience=6),
]
# A run started from another run's weights (`--init-from`): its body is already pretrained, so
# it skips the synthetic pretraining and trains the new parts with the lower blocks frozen first.
INIT_RECIPE = [
    Phase("finetune_frozen", steps=2000, lr=5e-4, real_fraction=0.5, freeze_lower=True,
          patience=4),
    Phase("finetune_all", steps=3000, lr=2e-4, real_fraction=0.5, patience=6),
]
REAL_TRAIN_SETS = ("iiit5k_train", "svt_train", "ic15_train", "ic03_train")
VALIDATION_SET = "ic15_val"


def real_crop_sets(height: int, width: int, data: str | Path | None = None,
                   min_aspect: float = 0.0) -> dict:
    """The real training sets and the validation set present in the data, as model inputs:
    {name: ((n, height, width) uint8, texts)}."""
    sets = {}
    for name in (*REAL_TRAIN_SETS, VALIDATION_SET):
        try:
            sets[name] = rec_data.to_arrays(rec_data.load_crops(name, data), height, width,
                                            min_aspect)
        except (FileNotFoundError, InputError):
            continue
    return sets


_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def predict_logits(model, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Keras model logits for (n, h, w) uint8 inputs through one compiled forward pass per
    model (eager calls are slow), fed whole batches (the last one padded): a new graph per
    call or per batch shape made TensorFlow warn about retracing on every evaluation."""
    fn = _FORWARDS.get(model)
    if fn is None:
        fn = _FORWARDS[model] = make_forward(model)
    batch, outs = min(batch, len(images)), []
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        padded = np.zeros((batch, *chunk.shape[1:], 1), np.float32)
        padded[:len(chunk), ..., 0] = chunk
        outs.append(fn(padded)[:len(chunk)])
    return np.concatenate(outs)


def evaluate(model, images: np.ndarray, texts: list[str]) -> dict:
    """Word accuracy (protocol and exact) and character error rate of a Keras model."""
    predictions, _ = ctc_greedy_decode(predict_logits(model, images), CHARSET)
    return recognition_scores(predictions, texts)


class RecTrainer(PhasedTrainer):
    """Holds the model, optimizer, data and state of one recognizer run folder."""

    primary_metric = "ic15_val_word_acc"

    def __init__(self, run_dir: Path, config: CRNNConfig, recipe: list[Phase], batch: int = 32,
                 seed: int = 1, data: str | None = None, eval_every: int = 500,
                 workers: int = 1, init_from: Path | None = None, pool: int = 0,
                 reuse: int = 4, crops: Path | None = None,
                 synth_style: str | None = None, init_weights: str = "best") -> None:
        if init_from is not None and not (run_dir / "config.json").exists():
            from engocr.train.runs import existing_weights

            existing_weights(init_from, init_weights)  # before the new run writes anything
        self.run_dir = run_dir
        self.init_weights = init_weights
        # synth_style: a named mix of synthetic crop styles (data.synth.CROP_STYLES), kept in
        # the run folder so that a resumed run renders what it started with; None: the run's
        # own (a new run: "default")
        self.synth_style = _run_synth_style(run_dir, synth_style)
        # crops: real crops prepared by `engocr train bundle` (a machine without the data)
        self.crops = crops
        # pool > 0: synthetic crops come from a SamplePool of that many, each served up to
        # `reuse` times (augmented each time), so training does not wait on the renderer.
        self.pool_size, self.reuse = pool, reuse
        config, recipe = start_run(run_dir, config, recipe)
        self.config, self.recipe, self.batch_size, self.seed = config, recipe, batch, seed
        self.eval_every = eval_every
        self.data = data
        self.workers = workers
        self.model = build_crnn(config)
        self.optimizer = keras.optimizers.Adam(learning_rate=1e-3, clipnorm=5.0)
        self._init_state()
        self.start_from(init_from)
        self.rng = np.random.default_rng([seed, self.state.step])

    def load_source(self, run_dir: Path):
        from engocr.train.runs import load_recognizer_model

        return load_recognizer_model(run_dir, self.init_weights)[0]

    def prepare(self) -> None:
        """Real crops in memory, validation sets, and the synthetic stream."""
        h, w, t = self.config.height, self.config.width, self.config.time_steps
        aspect = self.config.min_aspect
        sets = (rec_data.load_prepared(self.crops, h, w) if self.crops
                else real_crop_sets(h, w, self.data, aspect))
        images, texts = [], []
        for name in REAL_TRAIN_SETS:  # a set that is absent is left out: synthetic only
            arr, labels = sets.get(name, (np.zeros((0, h, w), np.uint8), []))
            keep = [i for i, s in enumerate(labels) if rec_data.ctc_feasible(s, t)]
            images.append(arr[keep])
            texts.extend(labels[i] for i in keep)
        self.real_images, self.real_texts = np.concatenate(images), texts
        self.val_images, self.val_texts = sets.get("ic15_val", (None, []))
        if self.val_images is None:
            self.primary_metric = "synth_val_word_acc"
        from engocr.train.data.synth import SynthCrops

        synth_val = SynthCrops(seed=10_000 + self.seed)
        self.synth_val = rec_data.to_arrays([synth_val[i] for i in range(300)], h, w, aspect)
        self.stream = rec_data.synth_stream(self.seed, self.state.synth_index, h, w, t,
                                            self.workers, self.synth_style, aspect)
        if self.pool_size:
            self._pool_start = self.state.synth_index
            self.stream = SamplePool(self.stream, self.pool_size, self.reuse)

    def apply_phase(self, phase: Phase) -> None:
        set_lower_trainable(self.model, not phase.freeze_lower)

    def next_batch(self, phase: Phase) -> tuple:
        n_real = int(round(self.batch_size * phase.real_fraction)) if self.real_texts else 0
        images, texts = [], []
        if isinstance(self.stream, SamplePool):
            for image, text in self.stream.draw(self.batch_size - n_real, self.rng):
                images.append(rec_data.augment_real(image, self.rng))
                texts.append(text)
            self.state.synth_index = self._pool_start + self.stream.rendered
        else:
            for _ in range(self.batch_size - n_real):
                image, text = next(self.stream)
                images.append(image)
                texts.append(text)
                self.state.synth_index += 1
        for i in self.rng.integers(0, len(self.real_texts), n_real):
            images.append(rec_data.augment_real(self.real_images[i], self.rng,
                                                strong=phase.real_augment == "strong"))
            texts.append(self.real_texts[i])
        labels, lengths = rec_data.labels_to_dense(texts, self.config.time_steps)
        return np.stack(images)[..., None].astype(np.float32), labels, lengths

    def make_step(self):
        return make_train_step(self.model, self.optimizer, ctc_loss, self.optimized)

    def evaluate(self) -> dict:
        scores = {}
        if self.val_images is not None:
            s = evaluate(self.model, self.val_images, self.val_texts)
            scores.update({f"ic15_val_{k}": v for k, v in s.items()})
        s = evaluate(self.model, *self.synth_val)
        scores.update({f"synth_val_{k}": v for k, v in s.items()})
        return scores


def _run_synth_style(run_dir: Path, style: str | None) -> str:
    """The run's synthetic crop style (`synth.json`): `style` if given (and then saved), else
    the one the run was started with."""
    from engocr.train.data.synth import check_crop_style

    path = run_dir / "synth.json"
    if style is None:
        return json.loads(path.read_text())["style"] if path.exists() else "default"
    check_crop_style(style)
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"style": style}))
    return style
