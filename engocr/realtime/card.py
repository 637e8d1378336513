"""Model cards: the JSON beside each `.tflite` that says how to feed it and read its outputs
(and what trained it, and how well it scored). Loading checks the card against the model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engocr.errors import ModelError
from engocr.realtime.kernels import BOX_MERGE_IOU

CARD_VERSION = 1


# A detector card's box decoding and crop settings, which the export chooses for its weights
# and which a Keras run can borrow to be scored as a shipped model is run (`engocr eval det
# --settings-from`). The coarse pass is left out: it needs the export's second model.
DECODE_SETTINGS = ("iou_threshold", "box_merge_iou", "large_min_height", "large_score_threshold",
                   "box_extend", "end_reach", "end_gap", "end_ink", "crop_pad_x", "crop_pad_y")


@dataclass
class ModelCard:
    """kind: "detector" or "recognizer". Inputs are NHWC float pixel values 0..255 (BGR for the
    detector, grayscale for the recognizer); normalisation happens inside the model."""

    kind: str
    input_width: int
    input_height: int
    input_channels: int
    input_range: tuple[float, float] = (0.0, 255.0)
    quantization: str = "float32"  # float32 | dynamic | int8 | fused-float32 (fixed batch)
    # detector
    strides: list[int] = field(default_factory=list)
    anchors: list = field(default_factory=list)  # (scales, anchors, 2) in input pixels
    score_threshold: float = 0.3
    iou_threshold: float = 0.45
    box_merge_iou: float = BOX_MERGE_IOU  # weighted NMS (see kernels.merge_boxes_kernel); 0: off
    # > 0: a free-size detector, run at each frame's own aspect with this longest side
    # (input_width x input_height is then its nominal size); 0: always input_width x height.
    max_side: int = 0
    xy_scale: float = 1.0  # box centre range per cell (see DetectorConfig.xy_scale)
    # Oriented boxes: each anchor also gives the word's angle (DetectorConfig.oriented).
    oriented: bool = False
    # > 0: a second, coarse pass at this longest side finds words too large for the fine pass
    # (realtime/multiscale.py); its boxes under `coarse_min_height` pixels of the coarse input
    # are left to the fine pass, and its boxes over fine ones at least that high (in the frame,
    # scaled) take their place. Chosen on validation by the export; 0: one pass.
    coarse_side: int = 0
    coarse_min_height: float = 0.0
    # Large words score lower than small ones (few of them in training): boxes at least
    # `large_min_height` pixels of the model input high count from `large_score_threshold`
    # (when below `score_threshold`). Chosen on validation by the export; 0: one threshold.
    large_min_height: float = 0.0
    large_score_threshold: float = 0.0
    # Each box is lengthened at both ends along its text by this x its height: a detector's
    # box ends scatter about the word's (its cell sees a long word's middle), and a box short
    # of the word cuts its first or last letter. Chosen on training images by the export; 0:
    # boxes as decoded.
    box_extend: float = 0.0
    # Box ends that cut a letter are moved out to where the word's ink ends, up to `end_reach`
    # word heights (0: off), at the first gap of `end_gap` heights whose columns' brightness
    # spread is under `end_ink` x the word's (realtime/box_ends.py). Chosen by end-to-end F
    # on training images (`engocr export ends`, and the detector's export).
    end_reach: float = 0.0
    end_gap: float = 0.15
    end_ink: float = 0.45
    # The model has an end head (`DetectorConfig.end_head`, realtime/end_head.py): each box's
    # ends are moved, by at most `end_head_reach` word heights (0: off), to where the head's
    # cells near them put them, before the ink rule above. Chosen with it.
    end_head: bool = False
    end_head_reach: float = 0.0
    # Box outputs as the model gives them x `output_scale` + `output_offset`: per box output
    # (finest grid first), per channel. The export spreads every channel over one int8 range
    # (engocr/export/output_ranges.py). Empty: the outputs are the raw logits.
    output_scale: list = field(default_factory=list)
    output_offset: list = field(default_factory=list)
    # Margins of the crop cut for the recognizer around each box, x box height (left/right and
    # top/bottom), chosen on training images by what the recognizer reads (export det).
    crop_pad_x: float = 0.12
    crop_pad_y: float = 0.12
    # recognizer
    charset: str = ""
    blank_index: int = 0
    time_steps: int = 0
    # Crops narrower than this x their height are widened to it before the resize
    # (preprocess.fit_crop_to_width): "widen" reads them widened only (a model trained so),
    # "both" reads them as they are and widened and keeps the surer reading (realtime/
    # recognizer.py). Chosen by the export on validation crops. 0: crops as they are.
    min_aspect: float = 0.0
    narrow_crops: str = "both"  # both | widen
    # Readings less sure than this are not reported by default: chosen by the export on
    # training images, with the detector shipped then, for the best end-to-end F.
    min_conf: float = 0.0
    # Dictionary correction (realtime/lexicon.py): a non-word reading is replaced by the word
    # list's best candidate when that scores at most this many nats below it under CTC; chosen
    # by the export on validation crops. 0: this model reads without the word list.
    lexicon_margin: float = 0.0
    # Nats a candidate word gains per unit of its Zipf frequency (0: frequency is ignored and
    # words are never corrected); chosen with the margin.
    lexicon_prior: float = 0.0
    # provenance
    architecture: str = ""
    training_data: str = ""
    metrics: dict = field(default_factory=dict)
    latency_ms: dict = field(default_factory=dict)
    version: int = CARD_VERSION

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        if not path.exists():
            raise ModelError(f"{path}: model card missing (each .tflite needs its .json beside it)")
        try:
            data = json.loads(path.read_text())
            card = cls(**data)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{path}: not a valid model card ({exc})") from None
        if card.kind not in ("detector", "recognizer"):
            raise ModelError(f"{path}: unknown model kind {card.kind!r}")
        if card.narrow_crops not in ("both", "widen"):
            raise ModelError(f"{path}: narrow_crops must be 'both' or 'widen', not "
                             f"{card.narrow_crops!r}")
        return card


def card_path(model_path: str | Path) -> Path:
    """`x.tflite` -> `x.json`."""
    return Path(model_path).with_suffix(".json")


def check_card(engine, card: ModelCard, kind: str) -> None:
    """The card must be of `kind` and describe the model's input (height, width, channels)."""
    if card.kind != kind:
        raise ModelError(f"{engine.path}: card says {card.kind!r}, expected a {kind}")
    _, h, w, c = engine.input_shape
    if (h, w, c) != (card.input_height, card.input_width, card.input_channels):
        raise ModelError(f"{engine.path}: input is {w}x{h}x{c} but its card says "
                         f"{card.input_width}x{card.input_height}x{card.input_channels}")
