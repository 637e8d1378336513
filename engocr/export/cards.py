"""Model cards for exported models, filled from the training configs."""

from __future__ import annotations

from engocr.charset import BLANK, CHARSET
from engocr.realtime.card import ModelCard


def recognizer_card(config, quantization: str, **extra) -> ModelCard:
    """Card of a CRNN export (`config` is a CRNNConfig); the optional stages (rectifier,
    mixing blocks) are named where a config has them."""
    stages = ""
    if config.rectify != "none":
        stages += f", {config.rectify.upper()} rectifier ({config.tps_points} points)"
    if config.mixer_blocks:
        stages += f", {config.mixer_blocks} self-attention blocks ({config.mixer_heads} heads)"
    # read as trained until the export chooses otherwise (reading_choice)
    extra = {"min_aspect": config.min_aspect, "narrow_crops": "widen", **extra}
    return ModelCard(kind="recognizer", input_width=config.width, input_height=config.height,
                     input_channels=config.channels, quantization=quantization,
                     charset=CHARSET, blank_index=BLANK, time_steps=config.time_steps,
                     architecture=f"CRNN {config.body} body, {config.head} head, widths "
                                  f"{list(config.widths)}, hidden {config.hidden}{stages}", **extra)


# The end head's reach (word heights) until the export chooses one on training images.
END_HEAD_REACH = 0.8


def detector_card(config, quantization: str, lineage: tuple[str, list[str]] | None = None,
                  **extra) -> ModelCard:
    """Card of a YOLO-MobileNet export (`config` is a DetectorConfig); the architecture names
    the ImageNet weights that started the backbone, if any: the config's own, or where a run
    was started from others (`lineage`, from `engocr.train.runs.imagenet_lineage`) the ones
    that started the first of them."""
    backbone = {"mobilenet_v2": "MobileNetV2", "mobilenet_v1": "MobileNetV1"}[config.backbone]
    weights, runs = lineage if lineage and lineage[0] else (config.pretrained, [])
    start = (f", backbone initialised from ImageNet weights ({weights})"
             if weights else ", trained from scratch")
    if runs:
        start += f", trained in runs {' -> '.join(runs)}"
    return ModelCard(kind="detector", input_width=config.width, input_height=config.height,
                     input_channels=3, quantization=quantization, strides=list(config.strides),
                     anchors=[[list(a) for a in scale] for scale in config.anchors],
                     xy_scale=config.xy_scale, oriented=config.oriented,
                     architecture=f"YOLOv3 heads (strides {list(config.strides)}"
                                  f"{', oriented boxes' if config.oriented else ''}"
                                  f"{', an end head' if config.end_head else ''}) on "
                                  f"{backbone} alpha {config.alpha}{start}",
                     **{"end_head": config.end_head,
                        "end_head_reach": END_HEAD_REACH if config.end_head else 0.0, **extra})
