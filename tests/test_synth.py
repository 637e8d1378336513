"""The synthetic generator: deterministic, boxes land on the rendered glyphs and do not
overlap, labels stay inside the charset."""

import numpy as np
import pytest

from engocr.charset import CHARSET
from engocr.train.data.backgrounds import PhotoBank
from engocr.train.data.fonts import find_fonts, font_families, require_fonts
from engocr.train.data.render import composite, render_block
from engocr.train.data.synth import SynthCrops, SynthScenes
from engocr.train.data.words import random_text
from tests.conftest import assert_ink_inside_quads

pytestmark = pytest.mark.skipif(len(find_fonts()) == 0,
                                reason="no fonts: run scripts/setup_train.sh")
NO_PHOTOS = PhotoBank(root="/nonexistent")


def test_enough_font_families_installed():
    require_fonts(50)
    assert len(font_families()) >= 30


def test_texts_inside_charset_and_varied():
    rng = np.random.default_rng(0)
    texts = [random_text(rng, 2) for _ in range(500)]
    assert all(t and set(t) <= set(CHARSET) for t in texts)
    assert any(t.isupper() for t in texts) and any(t.islower() for t in texts)
    assert any(any(c.isdigit() for c in t) for t in texts)
    assert len(set(texts)) > 400


def test_crops_deterministic():
    a, b = SynthCrops(seed=3, bank=NO_PHOTOS), SynthCrops(seed=3, bank=NO_PHOTOS)
    for i in (0, 5):
        assert a[i].text == b[i].text
        assert np.array_equal(a[i].image, b[i].image)
    assert SynthCrops(seed=4, bank=NO_PHOTOS)[0].text != a[0].text or \
        not np.array_equal(SynthCrops(seed=4, bank=NO_PHOTOS)[0].image, a[0].image)


def test_block_boxes_hold_ink_and_do_not_overlap():
    rng = np.random.default_rng(1)
    for font in (str(find_fonts()[0]), str(find_fonts()[-1]), "hershey:0"):
        block = render_block(rng, [["OPEN", "late"], ["Coffee", "$3.50"]], font, 40)
        assert block.texts == ["OPEN", "late", "Coffee", "$3.50"]
        for quad in block.quads:
            x1, y1 = quad.min(0).astype(int)
            x2, y2 = quad.max(0).astype(int)
            assert block.ink[y1:y2, x1:x2].max() > 0.5
        boxes = [(q.min(0), q.max(0)) for q in block.quads]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                (a1, a2), (b1, b2) = boxes[i], boxes[j]
                overlap = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod()
                assert overlap <= 0.05 * np.prod(a2 - a1)


def test_composited_boxes_land_on_glyphs():
    rng = np.random.default_rng(5)
    block = render_block(rng, [["EXIT", "here"], ["9:30"]], str(find_fonts()[3]), 36)
    scene = np.full((300, 400, 3), 128, np.uint8)
    from engocr.train.data.render import random_warp

    matrix = random_warp(rng, block.ink.shape[1], block.ink.shape[0])
    quads = composite(scene, block, matrix, (20, 30), np.zeros(3, np.float32))
    changed = np.abs(scene.astype(int) - 128).max(-1) > 40
    covered = np.zeros_like(changed)
    for quad in quads:
        x1, y1 = np.floor(quad.min(0)).astype(int)
        x2, y2 = np.ceil(quad.max(0)).astype(int)
        assert changed[y1:y2, x1:x2].mean() > 0.05  # ink inside every word box
        covered[max(0, y1 - 2):y2 + 2, max(0, x1 - 2):x2 + 2] = True
    assert changed[~covered].sum() == 0  # and no ink outside them


def test_scene_words_have_contrast():
    sample = SynthScenes(seed=2, size=(320, 240), bank=NO_PHOTOS)[0]
    assert sample.words
    for word in sample.words:
        x1, y1 = np.floor(word.quad.min(0)).astype(int).clip(0)
        x2, y2 = np.ceil(word.quad.max(0)).astype(int)
        patch = sample.image[y1:y2, x1:x2].astype(np.float32)
        assert patch.size and patch.std() > 5, word.text


@pytest.mark.parametrize("strong", [False, True])
def test_real_crop_augmentation_keeps_the_word_in_frame(strong):
    """Real crops are jittered like a detector's boxes would be (and, strong, tilted, bent,
    blurred and compressed), never cut to blank."""
    from engocr.train.rec_data import augment_real

    crop = np.full((32, 128), 230, np.uint8)
    crop[8:24, 10:110] = 20  # a dark word-sized block
    rng = np.random.default_rng(0)
    for _ in range(100):
        out = augment_real(crop, rng, strong)
        assert out.shape == crop.shape and out.dtype == np.uint8
        dark = out < out.mean()
        if out[0, 0] < 128:  # inverted
            dark = ~dark
        assert dark[:, 5:115].sum() > 0.8 * dark.sum() > 0
    again = augment_real(crop, np.random.default_rng(1), strong)
    np.testing.assert_array_equal(again, augment_real(crop, np.random.default_rng(1), strong))


def test_bent_words_keep_their_ink_inside_their_boxes():
    from engocr.train.data.render import bend

    rng = np.random.default_rng(2)
    block = render_block(rng, [["Curved", "label"]], str(find_fonts()[1]), 40)
    for amplitude in (10.0, 40.0):
        bent = bend(block, rng, amplitude)
        assert bent.texts == block.texts and bent.ink.shape[1] == block.ink.shape[1]
        assert bent.ink.shape[0] > block.ink.shape[0]
        assert_ink_inside_quads(bent)
        assert abs(bent.ink.sum() - block.ink.sum()) < 0.05 * block.ink.sum()  # nothing lost
