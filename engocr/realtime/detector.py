"""Text detector predictor: letterbox preprocess -> TFLite YOLO model -> numba decode + NMS ->
boxes in original frame pixels, with each word's quad (its own corners: tilted where the
detector is oriented, else the box's)."""

from __future__ import annotations

import time

import numpy as np

from engocr.errors import ModelError
from engocr.preprocess import detector_input_size, letterbox, letterbox_params
from engocr.realtime.box_ends import snap_ends
from engocr.realtime.card import ModelCard, check_card
from engocr.realtime.end_head import END_CHANNELS, END_STRIDE, refine_ends
from engocr.realtime.engine import TFLiteEngine
from engocr.realtime.kernels import yolo_postprocess
from engocr.realtime.multiscale import merge_passes
from engocr.realtime.oriented import box_channels, obb_to_quads, oriented_postprocess

# (boxes (n, 4: x1 y1 x2 y2), scores (n,), quads (n, 4, 2)), frame pixels, best first.
Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


class YoloPredictor:
    """preprocess -> infer -> postprocess for a YOLO text detector. Subclasses give the model
    backend (`infer`) and its input size (`input_size`), and set `anchors`, `strides`,
    `score_threshold` and `card` (NMS and merge settings); letterboxing and decoding are
    shared, so every backend yields the runtime's boxes."""

    anchors: np.ndarray
    strides: list[float]
    score_threshold: float
    card: ModelCard

    def __call__(self, frame: np.ndarray, timings: dict | None = None) -> Detections:
        """Boxes (n, 4: x1 y1 x2 y2, frame pixels, clipped), scores and quads, best first."""
        return self.finish_ends(frame, self.detect_at(frame, None, timings), timings)

    def finish_ends(self, frame: np.ndarray, found: Detections, timings: dict | None = None
                    ) -> Detections:
        """`found` with the box ends that cut a word's ink moved out to where it ends (the
        card's `end_reach`, `box_ends.snap_ends`), boxes as the new quads' bounds; its time
        goes into the `nms` stage."""
        card = self.card
        if card.end_reach <= 0 or len(found[0]) == 0:
            return found
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        quads = np.clip(snap_ends(frame, found[2], card.end_reach, card.end_gap, card.end_ink),
                        0, [w, h]).astype(np.float32)
        boxes = np.concatenate([quads.min(1), quads.max(1)], 1)
        if timings is not None:
            timings["nms"] = timings.get("nms", 0) + (time.perf_counter() - t0) * 1000
        return boxes, found[1], quads

    def detect_at(self, frame: np.ndarray, side: int | None, timings: dict | None = None
                  ) -> Detections:
        """One pass at longest side `side` (None: the model's own), its stages added to
        `timings`."""
        t0 = time.perf_counter()
        x, placement = self.preprocess(frame, side)
        t1 = time.perf_counter()
        raws = self.infer(x)
        t2 = time.perf_counter()
        found = self.postprocess(raws, placement, frame.shape)
        t3 = time.perf_counter()
        if timings is not None:
            timings["det_pre"] = timings.get("det_pre", 0) + (t1 - t0) * 1000
            timings["detect"] = timings.get("detect", 0) + (t2 - t1) * 1000
            timings["nms"] = timings.get("nms", 0) + (t3 - t2) * 1000
        return found

    def preprocess(self, frame: np.ndarray, side: int | None = None
                   ) -> tuple[np.ndarray, tuple[float, int, int]]:
        """The model input (1, h, w, 3) and where the frame sits in it (scale, dx, dy); at
        longest side `side` where the model takes any size (default: its own)."""
        inp, scale, dx, dy = letterbox(frame, *self.input_size(frame.shape, side))
        return inp[None].astype(np.float32), (scale, dx, dy)

    def input_size(self, frame_shape: tuple[int, ...], side: int | None = None
                   ) -> tuple[int, int]:
        """(w, h) the frame is fed at."""
        raise NotImplementedError

    def infer(self, x: np.ndarray) -> list[np.ndarray]:
        """Raw head outputs, finest grid first, each (grid_h, grid_w, anchors, channels); with
        an end head (`card.end_head`) its map (grid_h, grid_w, END_CHANNELS) last."""
        raise NotImplementedError

    def postprocess(self, raws: list[np.ndarray], placement: tuple[float, int, int],
                    frame_shape: tuple[int, ...], threshold: float | None = None
                    ) -> Detections:
        """Decode + NMS (+ weighted merge) with the card's settings, back to frame pixels
        (boxes and quads clipped to the frame, boxes at least 2 px a side); at the detector's
        score threshold unless `threshold` is given; each box lengthened along its text by the
        card's `box_extend`. An oriented detector's boxes are its quads' bounds."""
        threshold = self.score_threshold if threshold is None else threshold
        scale, dx, dy = placement
        card = self.card
        large = {"large_min_height": card.large_min_height,
                 "large_threshold": min(card.large_score_threshold or 1.0, threshold)}
        n_scales = len(self.strides)
        if card.oriented:
            obbs, scores = oriented_postprocess(
                raws[:n_scales], self.anchors, self.strides, threshold, card.iou_threshold,
                xy_scale=card.xy_scale, merge_iou=card.box_merge_iou, **large)
            if card.end_head and len(raws) > n_scales:
                obbs = refine_ends(obbs, raws[n_scales], card.end_head_reach, END_STRIDE)
            obbs[:, :2] = (obbs[:, :2] - np.array([dx, dy], np.float32)) / scale
            obbs[:, 2:4] /= scale
            obbs[:, 2] += 2 * card.box_extend * obbs[:, 3]
            quads = obb_to_quads(obbs)
            boxes = np.concatenate([quads.min(1), quads.max(1)], 1)
        else:
            boxes, scores = yolo_postprocess(
                raws[:n_scales], self.anchors, self.strides, threshold, card.iou_threshold,
                xy_scale=card.xy_scale, merge_iou=card.box_merge_iou, **large)
            boxes = (boxes - np.array([dx, dy, dx, dy], np.float32)) / scale
            extend = card.box_extend * (boxes[:, 3] - boxes[:, 1])
            boxes[:, 0] -= extend
            boxes[:, 2] += extend
            quads = None
        h, w = frame_shape[:2]
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        quads = boxes_to_quads(boxes) if quads is None else \
            np.clip(quads, 0, [w, h]).astype(np.float32)
        valid = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        return boxes[valid], scores[valid], quads[valid]


class TextDetector(YoloPredictor):
    """Finds word boxes in BGR frames with an exported (TFLite) detector."""

    def __init__(self, engine: TFLiteEngine, card: ModelCard,
                 score_threshold: float | None = None, max_side: int | None = None,
                 coarse_side: int | None = None) -> None:
        """`max_side`, `coarse_side`: the fine and coarse passes' longest sides (default: the
        card's; `coarse_side` 0 runs the fine pass alone)."""
        self.max_side = max_side or card.max_side
        self.free_size = bool(getattr(engine, "free_size", False) and self.max_side)
        self.coarse_side = (card.coarse_side if coarse_side is None else coarse_side) \
            if self.free_size else 0
        if self.free_size:
            engine.resize_input((1, card.input_height, card.input_width, 3))
        check_detector(engine, card)
        self.engine, self.card = engine, card
        self._coarse_engine: TFLiteEngine | None = None
        self.size = (card.input_width, card.input_height)
        self.anchors = np.asarray(card.anchors, np.float32)
        self.strides = [float(s) for s in card.strides]
        self.score_threshold = card.score_threshold if score_threshold is None \
            else score_threshold
        # Box outputs ordered finest grid first, to line up with strides (tensor order is not
        # the Keras order in TFLite files); the end head's map, told by its channels, last.
        shapes = engine.output_shapes
        ends = [i for i in range(len(shapes)) if card.end_head and shapes[i][-1] == END_CHANNELS]
        self.order = sorted((i for i in range(len(shapes)) if i not in ends),
                            key=lambda i: -shapes[i][1]) + ends[:1]
        self.output_map = [(np.asarray(s, np.float32), np.asarray(o, np.float32))
                           for s, o in zip(card.output_scale, card.output_offset, strict=True)]

    def __call__(self, frame: np.ndarray, timings: dict | None = None) -> Detections:
        """The fine pass, and where the frame is well above the coarse side, the coarse pass
        merged in (its cost is in the same `detect` / `nms` timings)."""
        fine = self.detect_at(frame, None, timings)
        if not self.uses_coarse(frame.shape):
            return self.finish_ends(frame, fine, timings)
        coarse = self.detect_at(frame, self.coarse_side, timings)
        t0 = time.perf_counter()
        # The minimum height is in coarse-input pixels: the scale letterbox fed that pass at.
        h, w = frame.shape[:2]
        scale = letterbox_params(w, h, *self.input_size(frame.shape, self.coarse_side))[0]
        merged = merge_passes(fine, coarse, self.card.coarse_min_height / scale)
        if timings is not None:
            timings["nms"] += (time.perf_counter() - t0) * 1000
        return self.finish_ends(frame, merged, timings)

    def uses_coarse(self, frame_shape: tuple[int, ...]) -> bool:
        """A coarse pass pays where it sees the frame at most two thirds as large as the fine
        pass does."""
        fine_side = min(self.max_side, max(frame_shape[:2]))
        return bool(self.coarse_side) and self.coarse_side * 1.5 <= fine_side

    def _engine_for(self, shape: tuple[int, ...]) -> TFLiteEngine:
        """The fine pass's interpreter, or for the coarse pass's input a second one of the same
        model: one interpreter fed both sizes re-allocates its tensors twice a frame, which
        cost more than the coarse pass itself."""
        if not self.coarse_side or max(shape[1:3]) > self.coarse_side:
            return self.engine
        if self._coarse_engine is None:
            self._coarse_engine = TFLiteEngine(self.engine.path, self.engine.threads)
        return self._coarse_engine

    def infer(self, x: np.ndarray) -> list[np.ndarray]:
        outs = self._engine_for(x.shape).run(x)
        n_anchors, channels = self.anchors.shape[1], box_channels(self.card.oriented)
        raws = [outs[i][0] for i in self.order[:len(self.strides)]]
        if self.output_map:  # the channels the export spread over one int8 range, back
            raws = [raw * scale + offset for raw, (scale, offset) in zip(raws, self.output_map,
                                                                          strict=True)]
        raws = [raw.reshape(raw.shape[0], raw.shape[1], n_anchors, channels) for raw in raws]
        return raws + [outs[i][0] for i in self.order[len(self.strides):]]

    def input_size(self, frame_shape: tuple[int, ...], side: int | None = None
                   ) -> tuple[int, int]:
        """(w, h) the frame is fed at: its own aspect for a free-size model, else the card's."""
        if not self.free_size:
            return self.size
        return detector_input_size(frame_shape[1], frame_shape[0], side or self.max_side)


def check_detector(engine: TFLiteEngine, card: ModelCard) -> None:
    """The card must describe this model: input size and channels, one output per stride with
    anchors * channels (5, or 7 for an oriented detector) on the right grid, and the end
    head's map where the card says the model has one."""
    check_card(engine, card, "detector")
    name = engine.path
    channels = box_channels(card.oriented)
    expected = sorted([(card.input_height // s, card.input_width // s,
                        len(card.anchors[k]) * channels) for k, s in enumerate(card.strides)] +
                      ([(card.input_height // END_STRIDE, card.input_width // END_STRIDE,
                         END_CHANNELS)] if card.end_head else []))
    actual = sorted(tuple(s[1:]) for s in engine.output_shapes)
    if expected != actual:
        raise ModelError(f"{name}: outputs {actual} do not match the card's strides/anchors "
                         f"{expected}")
    if bool(card.output_scale) != bool(card.output_offset):
        raise ModelError(f"{name}: the card has one of output_scale and output_offset")
    per_output = [len(card.anchors[k]) * channels for k in range(len(card.strides))]
    for field_name in ("output_scale", "output_offset"):
        values = getattr(card, field_name)
        if values and [len(v) for v in values] != per_output:
            raise ModelError(f"{name}: the card's {field_name} has {[len(v) for v in values]} "
                             f"channels per output, the model {per_output}")


def boxes_to_quads(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) x1 y1 x2 y2 boxes to (n, 4, 2) quads, clockwise from top-left."""
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    return np.stack([np.stack([x1, y1], -1), np.stack([x2, y1], -1), np.stack([x2, y2], -1),
                     np.stack([x1, y2], -1)], 1).astype(np.float32)
