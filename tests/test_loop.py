"""The training loop's bookkeeping, without TensorFlow: the metrics log and the schedule."""

import csv

import pytest

from engocr.train.loop import MetricsLog, Phase, phase_lr


def test_metrics_log_widens_its_header_when_a_metric_is_added(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv")
    log.append({"step": 1, "hmean": 0.1})
    log.append({"step": 2, "hmean": 0.2, "threshold": 0.35})  # a metric added later
    log.append({"step": 3, "hmean": 0.3})
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["threshold"] for r in rows] == ["", "0.35", ""]
    assert [r["hmean"] for r in rows] == ["0.1", "0.2", "0.3"]


def test_phase_lr_warms_up_then_decays_to_a_tenth():
    phase = Phase("p", steps=1000, lr=1e-3)
    assert phase_lr(phase, 0) < phase_lr(phase, 100) < phase_lr(phase, 199) <= 1e-3
    assert abs(phase_lr(phase, 1000) - 1e-4) < 1e-9


def test_a_phase_names_a_known_augmentation():
    assert Phase("x", steps=10, lr=1e-3, real_augment="strong").real_augment == "strong"
    with pytest.raises(ValueError, match="real_augment"):
        Phase("x", steps=10, lr=1e-3, real_augment="heavy")
