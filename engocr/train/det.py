"""Detector training: the YOLOv3 loss (with the ignore mask), pretraining on synthetic scenes,
then fine-tuning on ic15 training images with the backbone frozen, then unfrozen."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402

from engocr.errors import InputError  # noqa: E402
from engocr.models.yolo_mobilenet import (  # noqa: E402
    DetectorConfig,
    build_detector,
    output_name,
    set_backbone_trainable,
    train_end_head_only,
)
from engocr.realtime.end_head import END_OUTPUT, encode_end_targets  # noqa: E402
from engocr.train import det_data  # noqa: E402
from engocr.train.checkpoints import has_checkpoint  # noqa: E402
from engocr.train.compiled import make_forward, make_train_step  # noqa: E402
from engocr.train.data.importers import (  # noqa: E402
    detector_training_scenes,
    detector_training_sets,
    ic15_scenes,
)
from engocr.train.det_targets import (  # noqa: E402
    encode_targets,
    kmeans_anchors,
    obbs_to_level_boxes,
)
from engocr.train.loop import Phase, PhasedTrainer, read_config, start_run  # noqa: E402
from engocr.train.losses import end_head_loss, yolo_loss  # noqa: E402
from engocr.train.quant_aware import set_quantization_aware  # noqa: E402

DEFAULT_RECIPE = [
    Phase("pretrain", steps=5000, lr=1e-3, real_fraction=0.0, patience=5),
    Phase("finetune_frozen", steps=2000, lr=5e-4, real_fraction=0.5, freeze_lower=True,
          patience=4),
    Phase("finetune_all", steps=4000, lr=2e-4, real_fraction=0.5, patience=6),
]
# A backbone started from ImageNet weights (`--pretrained`): the seed's transfer recipe. The
# heads learn on a frozen backbone first (cheap: no backward pass through it), then everything
# at a lower rate so the ImageNet features are adapted, not overwritten.
PRETRAINED_RECIPE = [
    Phase("heads_frozen", steps=1500, lr=1e-3, real_fraction=0.5, freeze_lower=True),
    Phase("finetune_all", steps=4000, lr=3e-4, real_fraction=0.5, patience=8),
    Phase("average", steps=1000, lr=1e-4, real_fraction=0.5, average_every=100),
]
# A run started from another detector run (`--init-from`, e.g. to train for another frame
# scale): the whole network is trained already, so one phase of everything at a low rate.
INIT_RECIPE = [Phase("finetune_all", steps=4000, lr=2e-4, real_fraction=0.5)]
# A run that adds an end head to a finished detector (`--end-head --init-from`): the head
# alone learns on the frozen detector, whose boxes and scores stay exactly as they were.
END_HEAD_RECIPE = [Phase("end_head", steps=3000, lr=1e-3, real_fraction=0.5,
                         end_head_only=True),
                   Phase("end_head_average", steps=500, lr=2e-4, real_fraction=0.5,
                         end_head_only=True, average_every=50)]
MAX_BOXES = 100
# Share of the real training picks that are ICDAR 2003 photos (246 of the 1,146 real photos,
# so 21% if drawn evenly): their words are large, the detector's weak side.
IC03_SHARE = 0.35
# Words this many frame pixels high and taller are "large" in each evaluation's record: the
# runtime's weak side (issue 25), logged beside the H-mean that picks the weights.
LARGE_WORD = 48
# IoU objectness targets (yolov5) put scores lower than YOLOv3's: the sweep starts at 0.1.
EVAL_THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def compute_anchors(config: DetectorConfig, data: str | None, n_synth: int = 200) -> tuple:
    """k-means anchors over word boxes in training windows: real training photos and synthetic
    scenes, at the scale and with the scale augmentation the detector trains with."""
    from engocr.train.data.synth import SynthScenes

    size = (config.train_width, config.train_height)
    rng = np.random.default_rng(0)
    wh = []

    def sizes(scene) -> np.ndarray:  # the boxes' (w, h): an oriented detector's own, turned level
        _, boxes, _ = det_data.scene_to_input(scene, size, rng, config.frame_side,
                                              oriented=config.oriented)
        return boxes[:, 2:4] if config.oriented else boxes[:, 2:] - boxes[:, :2]

    real = detector_training_scenes(data)
    for i in rng.permutation(len(real))[:400]:
        wh.append(sizes(real[i]))
        real[i].release()
    gen = SynthScenes(seed=123, size=det_data.SYNTH_FRAME, tilt=config.synth_tilt)
    for i in range(n_synth):
        wh.append(sizes(gen[i]))
    wh = np.concatenate(wh)
    wh = wh[(wh > 2).all(1)]
    anchors = kmeans_anchors(wh, k=len(config.strides) * 3)
    return tuple(tuple((round(float(w), 1), round(float(h), 1)) for w, h in anchors[i:i + 3])
                 for i in range(0, len(anchors), 3))


def recalibrate_batchnorm(model, batches, momentum: float = 0.8) -> None:
    """Re-estimate every BatchNorm's moving statistics from forward passes in training mode
    (no weight update). In a short from-scratch run the weights move faster than the moving
    averages follow: the first detector runs saw words in training mode and none in inference
    mode until this was done before each evaluation."""
    layers = [layer for layer in model._flatten_layers()
              if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = momentum
    forward = make_forward(model, training=True)
    for x in batches:
        forward(x)
    for layer, m in zip(layers, saved, strict=True):
        layer.momentum = m


def shift_size_biases(model, strides, old_anchors, new_anchors) -> None:
    """After copying a detector trained with `old_anchors` into one with `new_anchors`, shift
    each output slot's width and height biases by log(old / new), so that every slot predicts
    the boxes it did before the anchors changed (the targets it is then trained on differ)."""
    n_out = len(new_anchors[0])
    for scale, stride in enumerate(strides):
        stride_layer = model.get_layer(output_name(stride))
        kernel, bias = stride_layer.get_weights()
        channels = bias.shape[0] // n_out
        for a in range(n_out):
            old = np.asarray(old_anchors[scale][a], np.float32)
            new = np.asarray(new_anchors[scale][a], np.float32)
            bias[a * channels + 2:a * channels + 4] += np.log(old / new)
        stride_layer.set_weights([kernel, bias])


def widen_outputs(model, source, strides, n_anchors: int) -> list[str]:
    """An oriented detector started from a level one: each output layer takes the source's
    five channels per anchor (so it starts with the same boxes and scores) and keeps its own
    angle channels (zero weights, bias: level); the names of the layers widened."""
    widened = []
    for stride in strides:
        name = output_name(stride)
        theirs, ours = source.get_layer(name), model.get_layer(name)
        (src_kernel, src_bias), (kernel, bias) = theirs.get_weights(), ours.get_weights()
        src_ch, ch = src_bias.shape[0] // n_anchors, bias.shape[0] // n_anchors
        if src_ch == ch:
            continue
        kernel[..., :] = 0.0
        for a in range(n_anchors):
            kernel[..., a * ch:a * ch + src_ch] = src_kernel[..., a * src_ch:(a + 1) * src_ch]
            bias[a * ch:a * ch + src_ch] = src_bias[a * src_ch:(a + 1) * src_ch]
        ours.set_weights([kernel, bias])
        widened.append(name)
    return widened


class DetTrainer(PhasedTrainer):
    """Holds the model, optimizer, data and state of one detector run folder."""

    primary_metric = "ic15_val_hmean"
    stream_names = ("stream", "real_stream")

    def __init__(self, run_dir: Path, config: DetectorConfig, recipe: list[Phase],
                 batch: int = 16, seed: int = 1, data: str | None = None,
                 eval_every: int = 500, workers: int = 1, init_from: Path | None = None,
                 recluster: bool = False) -> None:
        self.run_dir = run_dir
        self.data = data
        self.recluster = recluster
        config, recipe = start_run(run_dir, config, recipe,
                                   lambda c: replace(c, anchors=self._anchors(c, init_from)))
        self.config, self.recipe, self.batch_size, self.seed = config, recipe, batch, seed
        self.eval_every, self.workers = eval_every, workers
        self.model = build_detector(config, training=True)
        # Full frames, weights copied per evaluation: the runtime's per-frame size when the run
        # is for a longest side, else the config's fixed input.
        self.eval_model = build_detector(config, any_size=bool(config.max_side))
        self.optimizer = keras.optimizers.Adam(learning_rate=1e-3, clipnorm=10.0)
        self._init_state()
        fresh = init_from is not None and not self.state.step and not has_checkpoint(run_dir)
        self.start_from(init_from)
        if fresh and config.oriented:
            self._widen_from(init_from)
        if fresh and recluster:
            shift_size_biases(self.model, config.strides,
                              read_config(init_from, DetectorConfig).anchors, config.anchors)
        self._start_from_imagenet()
        if config.end_head:
            self.primary_metric = "ic15_val_ends"

    def _widen_from(self, source_run: Path) -> None:
        """A level source's output layers into this oriented run's (recorded in init.json)."""
        widened = widen_outputs(self.model, self.load_source(source_run), self.config.strides,
                                len(self.config.anchors[0]))
        if widened:
            record = json.loads((self.run_dir / "init.json").read_text())
            record["widened"] = widened
            (self.run_dir / "init.json").write_text(json.dumps(record, indent=1))

    def _anchors(self, config: DetectorConfig, init_from: Path | None) -> tuple:
        """k-means anchors for a new run; a run started from another keeps that run's anchors,
        which its box regression is relative to, unless `recluster` asks for new ones."""
        if init_from is not None and not self.recluster:
            return read_config(init_from, DetectorConfig).anchors
        return compute_anchors(config, self.data)

    def _start_from_imagenet(self) -> None:
        """A new run whose config names ImageNet weights reads them into the backbone (batch
        norm unfolded on training windows); recorded in `init.json`. A resumed run keeps its
        own weights."""
        from engocr.models.imagenet import imagenet_weights_dir, load_tflite_backbone
        from engocr.train.data.synth import SynthScenes

        if not self.config.pretrained or self.state.step or has_checkpoint(self.run_dir):
            return
        path = imagenet_weights_dir() / self.config.pretrained
        if not path.exists():
            raise InputError(f"ImageNet weights {path} not found (set ENGOCR_WEIGHTS to the "
                             "folder that holds imagenet/)")
        rng = np.random.default_rng(self.seed)
        size = (self.config.train_width, self.config.train_height)
        real = detector_training_scenes(self.data)
        scenes = [real[int(i)] for i in rng.integers(0, len(real), 24)] if real else []
        scenes += [SynthScenes(seed=99, size=det_data.SYNTH_FRAME)[i] for i in range(8)]
        images = np.stack([det_data.scene_to_input(s, size, rng, self.config.frame_side)[0]
                           for s in scenes]).astype(np.float32)
        load_tflite_backbone(self.model.get_layer("backbone"), path, bgr=True,
                             calibration=images / 127.5 - 1.0)
        (self.run_dir / "init.json").write_text(json.dumps(
            {"from": f"ImageNet classifier {path.name}", "layers": ["backbone"],
             "batchnorm": f"unfolded on {len(images)} training windows"}, indent=1))

    def load_source(self, run_dir: Path):
        from engocr.train.runs import load_detector_model

        return load_detector_model(run_dir)[0]

    def prepare(self) -> None:
        sets = detector_training_sets(self.data)
        self.real = sets["ic15_train"] + sets["ic03_train"]
        n_ic15, n_ic03 = len(sets["ic15_train"]), len(sets["ic03_train"])
        weights = np.ones(len(self.real))
        if n_ic03 and n_ic15:
            weights[n_ic15:] = IC03_SHARE / (1 - IC03_SHARE) * n_ic15 / n_ic03
        self.val = ic15_scenes("val", self.data)
        if not self.val:
            self.primary_metric = "synth_val_ends" if self.config.end_head else "synth_val_hmean"
        self.size = (self.config.train_width, self.config.train_height)
        from engocr.train.data.synth import SynthScenes

        gen = SynthScenes(seed=20_000 + self.seed, size=det_data.SYNTH_FRAME)
        self.synth_val = [gen[i] for i in range(40)]
        self.stream = det_data.synth_scene_stream(self.seed, self.state.synth_index, self.size,
                                                  self.config.frame_side, self.workers,
                                                  self.config.oriented, self.config.synth_tilt,
                                                  self.config.synth_lettering)
        # Real windows cost about half a synthetic scene's rendering: a third of the workers.
        self.real_stream = det_data.real_window_stream(
            self.data, weights, self.seed, self.state.real_index, self.size,
            self.config.frame_side, max(1, self.workers // 3), self.config.oriented,
            self.config.real_rotate, self.config.real_closeup) if self.real else None

    def apply_phase(self, phase: Phase) -> None:
        for layer in self.model.layers:
            layer.trainable = True
        set_backbone_trainable(self.model, not phase.freeze_lower)
        if phase.end_head_only:
            train_end_head_only(self.model)
        # after the trainable flags above: an aware phase freezes the batch norms again; the
        # evaluation model computes the same way, so that the best weights are int8's best
        outputs = tuple(output_name(s) for s in self.config.strides) + \
            ((END_OUTPUT,) if self.config.end_head else ())
        for model in (self.model, self.eval_model):
            set_quantization_aware(model, outputs, phase.quantize_aware)

    def next_batch(self, phase: Phase) -> tuple:
        n_real = int(round(self.batch_size * phase.real_fraction)) if self.real else 0
        samples = []
        for _ in range(self.batch_size - n_real):
            samples.append(next(self.stream))
            self.state.synth_index += 1
        for _ in range(n_real):
            samples.append(next(self.real_stream))
            self.state.real_index += 1
        images = np.stack([s[0] for s in samples]).astype(np.float32)
        if self.config.end_head:  # from the words' own boxes (an oriented detector's, or level)
            ends = np.stack([encode_end_targets(words if self.config.oriented
                                                else _level_obbs(words), dontcare, self.size)
                             for _, words, dontcare in samples])
        anchors = np.array(self.config.anchors, np.float32)
        if self.config.oriented:  # (cx cy w h angle) -> the level box and its angle
            samples = [(image, obbs_to_level_boxes(obbs), dontcare, obbs[:, 4])
                       for image, obbs, dontcare in samples]
        else:
            samples = [(*s, None) for s in samples]
        grids = [encode_targets(boxes, anchors, self.config.strides, self.size,
                                xy_scale=self.config.xy_scale, angles=angles)
                 for _, boxes, _, angles in samples]
        targets = [np.stack([g[k] for g in grids]) for k in range(len(self.config.strides))]
        if self.config.end_head:
            targets.append(ends)
        gt = np.zeros((len(samples), MAX_BOXES, 4), np.float32)
        for b, (_, boxes, dontcare, _) in enumerate(samples):
            both = np.concatenate([boxes, dontcare])[:MAX_BOXES]
            gt[b, :len(both)] = both
        return images, tuple(targets), gt

    def make_step(self):
        config = self.config
        n = len(config.strides)

        def loss(outputs, targets, gt):
            total = yolo_loss(outputs[:n], list(targets[:n]), gt, config)
            if config.end_head:
                total = total + end_head_loss(outputs[n], targets[n])
            return total

        return make_train_step(self.model, self.optimizer, loss, self.optimized)

    def evaluate(self) -> dict:
        """P/R/H on ic15 validation and synthetic validation, each at its best score threshold
        (a fixed threshold would favour checkpoints whose scores happen to sit near it)."""
        from engocr.train.evaluate import best_threshold, curve_from, detections_by_threshold
        from engocr.train.metrics import detection_breakdown, recall_above
        from engocr.train.runs import detector_over

        phase = self.recipe[min(self.state.phase, len(self.recipe) - 1)]
        recalibrate_batchnorm(self.model, (self.next_batch(phase)[0] for _ in range(30)))
        self.eval_model.set_weights(self.model.get_weights())
        detect = detector_over(self.eval_model, self.config, self.config.max_side)
        scores = {}
        for name, scenes in (("ic15_val", self.val), ("synth_val", self.synth_val)):
            if scenes:
                found = detections_by_threshold(detect, scenes, EVAL_THRESHOLDS)
                curve = curve_from(found)
                best = best_threshold(curve)
                scores.update({f"{name}_{k}": v for k, v in curve[best].items()})
                scores[f"{name}_threshold"] = best
                breakdown = detection_breakdown(*found[best], best)
                scores[f"{name}_recall_large"] = recall_above(breakdown, LARGE_WORD)
                if self.config.end_head:
                    # Words cut at an end (`edge_summary`), and the H-mean for boxes pushed
                    # past their word: an end head's run keeps the weights best at both.
                    scores[f"{name}_cut"] = breakdown["edges"].get("cut_either", 0.0)
                    scores[f"{name}_ends"] = curve[best]["hmean"] * (1.0 - scores[f"{name}_cut"])
        return scores


def _level_obbs(boxes: np.ndarray) -> np.ndarray:
    """Level boxes (n, 4: x1 y1 x2 y2) as oriented boxes (n, 5) at angle 0."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2],
                           np.zeros((len(boxes), 1), np.float32)], 1)
