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
    """Card of a YOLO-MobileNetV2 export (`config` is a DetectorConfig)."""
    return ModelCard(kind="detector", input_width=config.width, input_height=config.height,
                     input_channels=3, quantization=quantization, strides=list(config.strides),
                     anchors=[[list(a) for a in scale] for scale in config.anchors],
                     xy_scale=config.xy_scale,
                     architecture=f"YOLOv3 heads (strides {list(config.strides)}) on "
                                  f"MobileNetV2 alpha {config.alpha}", **extra)
