"""Recognizer training: synthetic pretraining, then fine-tuning on real crops with the lower
blocks frozen, then everything at a lower learning rate. Resumable from any checkpoint."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import tensorflow as tf  # noqa: E402

from engocr.charset import CHARSET  # noqa: E402
from engocr.models.crnn import CRNNConfig, build_crnn, set_lower_trainable  # noqa: E402
from engocr.realtime.kernels import ctc_greedy_decode  # noqa: E402
from engocr.train import rec_data  # noqa: E402
from engocr.train.loop import MetricsLog, Phase, RunState, StopFlag, Timer, phase_lr  # noqa: E402
from engocr.train.metrics import recognition_scores  # noqa: E402

DEFAULT_RECIPE = [
    Phase("pretrain", steps=6000, lr=1e-3, real_fraction=0.0, patience=4),
    Phase("finetune_frozen", steps=3000, lr=5e-4, real_fraction=0.5, freeze_lower=True,
          patience=4),
    Phase("finetune_all", steps=4000, lr=2e-4, real_fraction=0.5, patience=6),
]
REAL_TRAIN_SETS = ("iiit5k_train", "svt_train", "ic15_train")


def load_model(run_dir: Path, weights: str = "best") -> tuple[tf.keras.Model, CRNNConfig]:
    """A run's model with its float weights (`best` or `last`)."""
    config = CRNNConfig(**_tupled(json.loads((run_dir / "config.json").read_text())))
    model = build_crnn(config)
    model.load_weights(run_dir / f"{weights}.weights.h5")
    return model, config


def _tupled(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def predict_logits(model, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Keras model logits for (n, h, w) uint8 inputs, in graph mode (eager calls are slow)."""
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    outs = [fn(tf.constant(images[i:i + batch, ..., None], tf.float32)).numpy()
            for i in range(0, len(images), batch)]
    return np.concatenate(outs)


def evaluate(model, images: np.ndarray, texts: list[str]) -> dict:
    """Word accuracy (protocol and exact) and character error rate of a Keras model."""
    predictions, _ = ctc_greedy_decode(predict_logits(model, images), CHARSET)
    return recognition_scores(predictions, texts)


class RecTrainer:
    """Holds the model, optimizer, data and state of one run folder."""

    def __init__(self, run_dir: Path, config: CRNNConfig, recipe: list[Phase], batch: int = 32,
                 seed: int = 1, data: str | None = None, eval_every: int = 500,
                 workers: int = 1) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg_path = run_dir / "config.json"
        if cfg_path.exists():  # a resumed run keeps the architecture it started with
            config = CRNNConfig(**_tupled(json.loads(cfg_path.read_text())))
        else:
            cfg_path.write_text(json.dumps(config.to_dict(), indent=1))
            (run_dir / "recipe.json").write_text(json.dumps([asdict(p) for p in recipe],
                                                            indent=1))
        self.config, self.recipe, self.batch, self.seed = config, recipe, batch, seed
        self.eval_every = eval_every
        self.data = data
        self.workers = workers
        self.state = RunState.load(run_dir / "state.json")
        self.log = MetricsLog(run_dir / "metrics.csv")
        self.model = build_crnn(config)
        self.optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3, clipnorm=5.0)
        self.optimizer.build(self.model.trainable_variables)
        self.ckpt = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        self.manager = tf.train.CheckpointManager(self.ckpt, run_dir / "ckpt", max_to_keep=1)
        if self.manager.latest_checkpoint:
            self.ckpt.restore(self.manager.latest_checkpoint).expect_partial()
        self.rng = np.random.default_rng([seed, self.state.step])

    # ------------------------------------------------------------------ data
    def _load_real(self) -> None:
        h, w, t = self.config.height, self.config.width, self.config.time_steps
        images, texts = [], []
        for name in REAL_TRAIN_SETS:
            try:
                arr, labels = rec_data.to_arrays(rec_data.load_crops(name, self.data), h, w)
            except FileNotFoundError:
                continue
            keep = [i for i, s in enumerate(labels) if rec_data.ctc_feasible(s, t)]
            images.append(arr[keep])
            texts.extend(labels[i] for i in keep)
        self.real_images = np.concatenate(images) if images else np.zeros((0, h, w), np.uint8)
        self.real_texts = texts
        try:
            self.val_images, self.val_texts = rec_data.to_arrays(
                rec_data.load_crops("ic15_val", self.data), h, w)
        except FileNotFoundError:
            self.val_images, self.val_texts = None, []
        from engocr.train.data.synth import SynthCrops

        synth_val = SynthCrops(seed=10_000 + self.seed)
        samples = [synth_val[i] for i in range(300)]
        self.synth_val = rec_data.to_arrays(samples, h, w)

    def _batch(self, stream, real_fraction: float) -> tuple[np.ndarray, list[str]]:
        n_real = int(round(self.batch * real_fraction)) if len(self.real_texts) else 0
        images, texts = [], []
        for _ in range(self.batch - n_real):
            image, text = next(stream)
            images.append(image)
            texts.append(text)
            self.state.synth_index += 1
        for i in self.rng.integers(0, len(self.real_texts), n_real):
            images.append(rec_data.augment_real(self.real_images[i], self.rng))
            texts.append(self.real_texts[i])
        return np.stack(images), texts

    # ------------------------------------------------------------------ steps
    def _make_step(self):
        model, optimizer = self.model, self.optimizer
        steps = self.config.time_steps

        @tf.function(reduce_retracing=True)
        def train_step(x, labels, label_len):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.nn.ctc_loss(labels=labels, logits=logits, label_length=label_len,
                                      logit_length=tf.fill([tf.shape(x)[0]], steps),
                                      logits_time_major=False, blank_index=0)
                loss = tf.reduce_mean(loss)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        return train_step

    def _evaluate(self) -> dict:
        scores = {}
        if self.val_images is not None:
            s = evaluate(self.model, self.val_images, self.val_texts)
            scores.update({f"ic15_val_{k}": v for k, v in s.items()})
        s = evaluate(self.model, *self.synth_val)
        scores.update({f"synth_val_{k}": v for k, v in s.items()})
        return scores

    def _save(self, final: bool = False) -> None:
        self.manager.save(checkpoint_number=self.state.step)
        self.model.save_weights(self.run_dir / "last.weights.h5")
        self.state.save(self.run_dir / "state.json")

    # ------------------------------------------------------------------ loop
    def train(self, minutes: float | None = None, checkpoint_minutes: float = 4.0) -> RunState:
        from tqdm import tqdm

        self._load_real()
        stop, timer = StopFlag(), Timer(minutes, checkpoint_minutes)
        stream = rec_data.synth_stream(self.seed, self.state.synth_index, self.config.height,
                                       self.config.width, self.config.time_steps, self.workers)
        while self.state.phase < len(self.recipe) and not (stop.stop or timer.expired()):
            phase = self.recipe[self.state.phase]
            set_lower_trainable(self.model, not phase.freeze_lower)
            train_step = self._make_step()
            bar = tqdm(total=phase.steps, initial=self.state.step - self.state.phase_start,
                       desc=phase.name, mininterval=10, dynamic_ncols=True)
            losses, t0 = [], time.time()
            while self.state.step - self.state.phase_start < phase.steps:
                in_phase = self.state.step - self.state.phase_start
                self.optimizer.learning_rate.assign(phase_lr(phase, in_phase))
                images, texts = self._batch(stream, phase.real_fraction)
                labels, lengths = rec_data.labels_to_dense(texts, self.config.time_steps)
                loss = float(train_step(tf.constant(images[..., None], tf.float32),
                                        tf.constant(labels), tf.constant(lengths)))
                if not np.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at step {self.state.step}")
                losses.append(loss)
                self.state.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", refresh=False)
                if self.state.step % self.eval_every == 0:
                    self._end_of_interval(phase, losses, t0)
                    losses, t0 = [], time.time()
                    if phase.patience and self.state.stale_evals >= phase.patience:
                        break
                if timer.checkpoint_due():
                    self._save()
                if stop.stop or timer.expired():
                    break
            bar.close()
            if stop.stop or timer.expired():
                break
            self.state.phase += 1
            self.state.phase_start = self.state.step
            self.state.stale_evals = 0
            self._save()
        self._save(final=True)
        return self.state

    def _end_of_interval(self, phase: Phase, losses: list[float], t0: float) -> None:
        elapsed = time.time() - t0
        self.state.seconds += elapsed
        scores = self._evaluate()
        key = "ic15_val_word_acc" if "ic15_val_word_acc" in scores else "synth_val_word_acc"
        improved = scores[key] > self.state.best
        if improved:
            self.state.best = scores[key]
            self.state.stale_evals = 0
            self.model.save_weights(self.run_dir / "best.weights.h5")
        else:
            self.state.stale_evals += 1
        row = {"step": self.state.step, "phase": phase.name, "loss": round(np.mean(losses), 4),
               "lr": float(self.optimizer.learning_rate.numpy()),
               "samples_per_s": round(len(losses) * self.batch / max(elapsed, 1e-6), 1),
               "train_hours": round(self.state.seconds / 3600, 3),
               **{k: round(v, 4) for k, v in scores.items()}, "best": int(improved)}
        self.log.append(row)
        print(json.dumps(row), flush=True)
        self._save()
