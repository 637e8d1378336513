"""Every importer reads a small fixture written here into the one internal form."""

import json

import cv2
import numpy as np
import pytest

from engocr.train.data import importers
from tests.conftest import DATA, needs_data


def _write_image(path, w=200, h=100):
    cv2.imwrite(str(path), np.full((h, w, 3), 200, np.uint8))


def test_textocr(tmp_path):
    _write_image(tmp_path / "a.jpg")
    data = {"imgs": {"a": {"id": "a", "width": 200, "height": 100, "file_name": "a.jpg"}},
            "anns": {"a_1": {"id": "a_1", "image_id": "a", "bbox": [10, 20, 50, 15],
                             "points": [10, 20, 60, 20, 60, 35, 10, 35], "utf8_string": "EXIT"},
                     "a_2": {"id": "a_2", "image_id": "a", "bbox": [100, 50, 30, 10],
                             "points": [], "utf8_string": "."}}}
    (tmp_path / "textocr.json").write_text(json.dumps(data))
    [sample] = importers.load_textocr(tmp_path / "textocr.json")
    assert sample.path == tmp_path / "a.jpg"
    texts = {w.text: w for w in sample.words}
    assert texts["EXIT"].quad.tolist() == [[10, 20], [60, 20], [60, 35], [10, 35]]
    assert not texts["EXIT"].ignore
    assert texts["."].ignore and texts["."].aabb() == (100, 50, 130, 60)
    assert sample.load().shape == (100, 200, 3)


def test_icdar2015_bom_commas_and_ignore(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "gt").mkdir()
    _write_image(tmp_path / "images" / "img_7.jpg")
    gt = "\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\n" \
         "374,155,409,155,409,170,374,170,###\n" \
         "10,10,50,10,50,30,10,30,1,000\n"
    (tmp_path / "gt" / "gt_img_7.txt").write_text(gt, encoding="utf-8")
    [sample] = importers.load_icdar15(tmp_path / "images", tmp_path / "gt")
    assert [w.text for w in sample.words] == ["Genaxis Theatre", "###", "1,000"]
    assert [w.ignore for w in sample.words] == [False, True, False]
    assert sample.words[0].quad[0].tolist() == [377, 117]


def test_icdar2015_quad_reordered_clockwise_from_top_left():
    [word] = importers.parse_icdar15_gt("50,30,10,30,10,10,50,10,ABC")
    assert word.quad.tolist() == [[10, 10], [50, 10], [50, 30], [10, 30]]


def test_icdar2013_both_separators(tmp_path):
    words = importers.parse_icdar13_gt('38 43 920 215 "Tiredness"\n275, 264, 665, 450, "kills"\n')
    assert [w.text for w in words] == ["Tiredness", "kills"]
    assert words[1].aabb() == (275, 264, 665, 450)
    (tmp_path / "im").mkdir()
    (tmp_path / "gt").mkdir()
    _write_image(tmp_path / "im" / "img_3.jpg")
    (tmp_path / "gt" / "gt_img_3.txt").write_text('1 2 30 12 "Hi"\n')
    [sample] = importers.load_icdar13(tmp_path / "im", tmp_path / "gt")
    assert sample.words[0].text == "Hi" and sample.words[0].aabb() == (1, 2, 30, 12)
    with pytest.raises(Exception, match="not understood"):
        importers.parse_icdar13_gt("garbage line")


def test_shared_scene_layout_and_split(tmp_path):
    (tmp_path / "images").mkdir()
    entries = []
    for n in (1, 900, 901, 1000):
        _write_image(tmp_path / "images" / f"img_{n}.jpg")
        entries.append({"image": f"img_{n}.jpg", "width": 200, "height": 100, "words": [
            {"quad": [[1, 1], [20, 1], [20, 9], [1, 9]], "text": "hi", "ignore": False}]})
    (tmp_path / "gt.json").write_text(json.dumps(entries))
    samples = importers.load_scene_json(tmp_path)
    assert [s.name for s in importers.ic15_split(samples, "train")] == ["img_1.jpg", "img_900.jpg"]
    assert [s.name for s in importers.ic15_split(samples, "val")] == ["img_901.jpg",
                                                                      "img_1000.jpg"]


def test_crop_folder_json_and_txt(tmp_path):
    (tmp_path / "crops").mkdir()
    _write_image(tmp_path / "crops" / "1.jpg", 40, 16)
    (tmp_path / "labels.json").write_text(json.dumps({"1.jpg": "41 KM"}))
    [crop] = importers.load_crop_folder(tmp_path)
    assert crop.text == "41 KM" and crop.load().shape == (16, 40, 3)
    other = tmp_path / "other"
    other.mkdir()
    _write_image(other / "w.png", 30, 10)
    (other / "labels.txt").write_text("w.png\tHello, world\n")
    [crop] = importers.load_crop_folder(other)
    assert crop.text == "Hello, world" and crop.path == other / "w.png"


@needs_data("ic15_train")
def test_real_ic15_layout():
    samples = importers.load_scene_json(DATA / "ic15_train")
    assert len(samples) == 1000
    assert len(importers.ic15_split(samples, "val")) == 100
    readable = sum(not w.ignore for s in samples for w in s.words)
    assert readable == 4468


@needs_data("iiit5k_test")
def test_real_crop_layout():
    crops = importers.load_crop_folder(DATA / "iiit5k_test")
    assert len(crops) == 3000
    assert crops[0].load().ndim == 3
