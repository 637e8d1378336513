"""Real lettering close-ups for the detector: pasted word crops land where their quads say,
the background photo's own words are kept out of the negatives, a seed without lettering
renders what it always did, and a detector run's GPU bundle carries the crops."""

import json
import tarfile
from dataclasses import asdict

import numpy as np
import pytest

from engocr.models.yolo_mobilenet import DetectorConfig
from engocr.train.data.backgrounds import PhotoBank
from engocr.train.data.fonts import find_fonts
from engocr.train.data.lettering import (
    LetteringBank,
    ink_at_sides,
    lettering_bank,
    paste_lettering,
)
from engocr.train.data.synth import SynthScenes
from engocr.train.loop import Phase
from tests.conftest import TINY_DET, write_crop_set, write_photo_set

WORDS = ["SALE", "OPEN", "Ramen", "EXIT", "42"]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_crop_set(root / "iiit5k_train", WORDS[:3])
    write_crop_set(root / "svt_train", WORDS[3:])
    write_photo_set(root / "ic15_train", ["img_1.jpg", "img_901.jpg"], (640, 360))
    monkeypatch.setenv("ENGOCR_DATA", str(root))
    lettering_bank.cache_clear()
    yield root
    lettering_bank.cache_clear()


def test_a_crop_whose_ink_runs_past_its_side_is_left_out():
    import cv2

    crop = np.full((40, 160, 3), 230, np.uint8)
    cv2.putText(crop, "HOTEL", (12, 32), cv2.FONT_HERSHEY_DUPLEX, 1.1, (20, 20, 20), 3)
    assert not ink_at_sides(crop)
    assert ink_at_sides(crop[:, 20:])  # cut through the H: the lettering goes on past the crop
    assert ink_at_sides(crop[:, :-45])  # cut through the L


def test_bank_reads_both_crop_sets(data):
    bank = LetteringBank(str(data))
    assert sorted(c.text for c in bank.crops) == sorted(WORDS)
    assert len(LetteringBank(str(data / "absent"))) == 0


@pytest.mark.parametrize("seed", range(4))
def test_pasted_words_lie_inside_their_quads(data, seed):
    import cv2

    scene = np.full((480, 640, 3), 128, np.uint8)
    words = paste_lettering(scene, LetteringBank(str(data)).crops, np.random.default_rng(seed),
                            tilt=2.0)
    assert words and {text for _, text in words} <= set(WORDS)
    ink = scene.max(-1) < 60  # the crops' black letters (plates and background are lighter)
    inside = np.zeros(ink.shape, np.uint8)
    for quad, _ in words:
        word = np.zeros(ink.shape, np.uint8)
        cv2.fillPoly(word, [np.round(quad).astype(np.int32)], 1)
        assert ink[word > 0].any()  # every word's letters are inside its quad
        inside |= word
    inside = cv2.dilate(inside, np.ones((5, 5), np.uint8))
    assert not ink[inside == 0].any()  # and no letters outside every quad


def test_patch_words_are_where_the_photo_has_them(data):
    bank = PhotoBank(root=str(data))
    rng = np.random.default_rng(0)
    for _ in range(20):
        patch, quads = bank.patch_with_words(rng, 240, 320)
        dark = patch.max(-1) < 60  # OPEN, drawn in black on each photo
        if dark.any():
            assert len(quads)
            x1, y1 = np.floor(quads.min(1).min(0)).astype(int).clip(0)
            x2, y2 = np.ceil(quads.max(1).max(0)).astype(int)
            assert dark[y1:y2 + 2, x1:x2 + 2].sum() >= 0.9 * dark.sum()


@pytest.mark.skipif(len(find_fonts()) == 0, reason="no fonts: run scripts/setup_train.sh")
def test_lettering_scenes_label_the_crops_and_ignore_the_photo_words(data):
    bank = PhotoBank(root=str(data))
    scenes = SynthScenes(seed=3, size=(320, 240), bank=bank, lettering_p=1.0)
    seen_ignored = False
    for i in range(12):
        sample = scenes[i]
        assert sample.name.startswith("synth-lettering")
        read = [w for w in sample.words if not w.ignore]
        assert read and {w.text for w in read} <= set(WORDS)
        seen_ignored |= any(w.ignore for w in sample.words)
    assert seen_ignored  # some backgrounds were the photo, whose OPEN is don't-care


@pytest.mark.skipif(len(find_fonts()) == 0, reason="no fonts: run scripts/setup_train.sh")
def test_no_lettering_renders_the_scenes_it_always_did(data):
    bank = PhotoBank(root="/nonexistent")
    before = SynthScenes(seed=4, size=(320, 240), bank=bank)
    after = SynthScenes(seed=4, size=(320, 240), bank=bank, lettering_p=0.0)
    for i in range(3):
        np.testing.assert_array_equal(before[i].image, after[i].image)


def test_detector_bundle_carries_the_crops_of_a_lettering_run(data, tmp_path):
    from engocr.train.bundle import make_bundle

    run = tmp_path / "run"
    run.mkdir()
    config = DetectorConfig(**TINY_DET, max_side=320, synth_lettering=0.3)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    (run / "recipe.json").write_text(json.dumps([asdict(Phase("all", 100, 1e-3, 0.5))]))
    make_bundle(tmp_path / "bundle", run, data, font_mb=0.5, wheels=False)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(tmp_path / "bundle" / "photos.tar") as tar:
        tar.extractall(unpacked, filter="data")
    assert sorted(c.text for c in LetteringBank(str(unpacked)).crops) == sorted(WORDS)
