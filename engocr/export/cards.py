"""Model cards for exported models, filled from the training configs."""

from __future__ import annotations

from engocr.charset import BLANK, CHARSET
from engocr.realtime.card import ModelCard


def recognizer_card(config, quantization: str, **extra) -> ModelCard:
    """Card of a CRNN export (`config` is a CRNNConfig)."""
    return ModelCard(kind="recognizer", input_width=config.width, input_height=config.height,
                     input_channels=config.channels, quantization=quantization,
                     charset=CHARSET, blank_index=BLANK, time_steps=config.time_steps,
                     architecture=f"CRNN {config.body} body, {config.head} head, widths "
                                  f"{list(config.widths)}, hidden {config.hidden}", **extra)


def detector_card(config, quantization: str, **extra) -> ModelCard:
    """Card of a YOLO-MobileNet export (`config` is a DetectorConfig); the architecture names
    the ImageNet weights that started the backbone, if any."""
    backbone = {"mobilenet_v2": "MobileNetV2", "mobilenet_v1": "MobileNetV1"}[config.backbone]
    start = (f", backbone initialised from ImageNet weights ({config.pretrained})"
             if config.pretrained else ", trained from scratch")
    return ModelCard(kind="detector", input_width=config.width, input_height=config.height,
                     input_channels=3, quantization=quantization, strides=list(config.strides),
                     anchors=[[list(a) for a in scale] for scale in config.anchors],
                     xy_scale=config.xy_scale,
                     architecture=f"YOLOv3 heads (strides {list(config.strides)}) on "
                                  f"{backbone} alpha {config.alpha}{start}", **extra)
