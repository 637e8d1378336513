"""`engocr export rec|det`: every quantisation variant of a trained run, its parity against the
Keras model on held-out data, its latency here, and the fastest one within the accuracy budget
copied out with its card."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from engocr.export.cards import detector_card, recognizer_card
from engocr.export.tflite import (
    QUANTIZATIONS,
    convert,
    measure_latency,
    representative_from,
    write_model,
)

TRAINING_DATA = ("engocr synthetic scene text (Debian fonts, ic15 training photos as "
                 "backgrounds) + IIIT5K train, SVT train, ICDAR 2015 training images 1-900, "
                 "ICDAR 2003 training photos: research-only terms, see ../shared/data/README.md")


def _pick(variants: dict, budget: float, key: str, reference: float,
          prefer: str | None = None) -> str:
    """Fastest variant whose accuracy is within `budget` points of the Keras reference, or
    `prefer` when it is within the budget (all are measured either way, for the record)."""
    ok = [q for q, v in variants.items() if v[key] >= reference - budget / 100]
    if not ok:
        raise RuntimeError(f"no variant within {budget} points of Keras ({reference:.4f}): "
                           + json.dumps(variants))
    if prefer in ok:
        return prefer
    return min(ok, key=lambda q: variants[q]["latency_ms"])


def export_recognizer(run: Path, out: Path, work: Path, quantizations=QUANTIZATIONS,
                      budget: float = 1.0, data: Path | None = None, threads: int = 2,
                      weights: str = "best", prefer: str | None = None) -> dict:
    from engocr.models.crnn import build_crnn
    from engocr.train import rec_data
    from engocr.train.data.synth import SynthCrops
    from engocr.train.evaluate import read_crops_tflite, tflite_recognizer
    from engocr.train.metrics import recognition_scores
    from engocr.train.rec import evaluate
    from engocr.train.runs import load_recognizer_model

    model, config = load_recognizer_model(run, weights)
    if config.head != "conv":  # recurrent heads convert only unrolled (notes/stack.md)
        unrolled = build_crnn(replace(config, unroll=True))
        unrolled.set_weights(model.get_weights())
        model = unrolled
    h, w = config.height, config.width
    real = rec_data.load_crops("iiit5k_train", data)[:150]
    synth = SynthCrops(seed=777)
    rep = rec_data.to_arrays(real + [synth[i] for i in range(150)], h, w, config.min_aspect)[0]
    held = rec_data.load_crops("ic15_val", data)
    held_images, held_texts = rec_data.to_arrays(held, h, w, config.min_aspect)
    held_crops = [s.load() for s in held]
    reference = evaluate(model, held_images, held_texts)["word_acc"]
    variants = {}
    if (config.head == "bilstm" and config.body == "vgg" and config.rectify == "none"
            and not config.mixer_blocks):
        # The fused LSTM op too, at the batch it is timed at (its twin has no optional stages).
        quantizations = (*quantizations, "fused-float32")
    for q in quantizations:
        if q == "fused-float32":
            from engocr.export.fused_rnn import convert_fused

            flatbuffer = convert_fused(model, config, batch=16)
        else:
            flatbuffer = convert(model, q, representative_from(rep))
        path = write_model(flatbuffer, work / f"recognizer-{q}.tflite")
        recognizer_card(config, q).save(path.with_suffix(".json"))
        acc = recognition_scores(read_crops_tflite(tflite_recognizer(path, threads),
                                                   held_crops), held_texts)["word_acc"]
        variants[q] = {"word_acc_ic15_val": acc, "latency_ms": measure_latency(
            path, (16, h, w, 1), threads), "size_mb": path.stat().st_size / 2**20}
        print(f"recognizer {q}: {json.dumps(variants[q])}")
    chosen = _pick(variants, budget, "word_acc_ic15_val", reference, prefer)
    chosen_path = work / f"recognizer-{chosen}.tflite"
    reading, reading_grids = choose_reading(chosen_path, held, config.min_aspect, threads)
    # the end-to-end readings that choose min_conf are read as the shipped Reader's will be
    recognizer_card(config, chosen, **reading).save(chosen_path.with_suffix(".json"))
    min_conf, conf_rows = choose_min_conf(chosen_path, data, threads)
    card = recognizer_card(config, chosen, training_data=TRAINING_DATA, min_conf=min_conf,
                           **reading,
                           metrics={"keras_word_acc_ic15_val": reference, "variants": variants,
                                    **reading_grids,
                                    "min_conf_train": conf_rows},
                           latency_ms={"batch16_2threads": variants[chosen]["latency_ms"]})
    return _ship(work / f"recognizer-{chosen}.tflite", out, card)


def choose_reading(rec_path: Path, samples: list, trained_aspect: float, threads: int
                   ) -> tuple[dict, dict]:
    """The card's narrow-crop and word-list settings (`reading_choice`), chosen on the
    validation crops `samples` with short synthetic words beside them; with the scores that
    chose them, for the card's metrics."""
    from engocr.train.evaluate import tflite_recognizer
    from engocr.train.reading_choice import choose_reading as choose
    from engocr.train.reading_choice import short_synthetic_words

    recognizer = tflite_recognizer(rec_path, threads)
    settings, per_setting, lexicon_rows = choose(recognizer, samples, short_synthetic_words(),
                                                 trained_aspect)
    for row in per_setting:
        print(f"recognizer reading {json.dumps(row)}")
    print(f"recognizer reading chosen: {json.dumps(settings)} (validation word accuracy "
          f"{max(r['word_acc'] for r in lexicon_rows):.3f})")
    return settings, {"narrow_crops_val": per_setting, "lexicon_val": lexicon_rows}


def rechoose_reading(model: Path, data: Path | None = None, threads: int = 2) -> dict:
    """Choose an exported recognizer's narrow-crop and word-list settings again on validation
    crops (`choose_reading`; among equals its card's present aspect), then its `min_conf` for
    them, and write them into its card: for a model shipped before they existed. The model
    file is not touched."""
    from engocr.realtime.card import ModelCard, card_path
    from engocr.train import rec_data

    card = ModelCard.load(card_path(model))
    reading, grids = choose_reading(model, rec_data.load_crops("ic15_val", data),
                                    card.min_aspect, threads)
    for name, value in reading.items():
        setattr(card, name, value)
    card.metrics |= grids
    card.save(card_path(model))  # min_conf is chosen on readings made with the new settings
    card.min_conf, card.metrics["min_conf_train"] = choose_min_conf(model, data, threads)
    card.save(card_path(model))
    chosen = {**reading, "min_conf": card.min_conf}
    print(f"chosen {json.dumps(chosen)} -> {card_path(model)}")
    return chosen


def choose_min_conf(rec_path: Path, data: Path | None, threads: int,
                    images: int = 300) -> tuple[float, list[dict]]:
    """The card's `min_conf`: the best end-to-end F on the first ic15 training images, read by
    the shipped detector and this recognizer (0 where the training images are absent)."""
    from engocr.realtime.reader import Reader
    from engocr.train.data.importers import ic15_scenes
    from engocr.train.min_conf import best_min_conf, conf_grid, readings

    scenes = ic15_scenes("train", data)[:images]
    if not scenes:
        return 0.0, []
    rows = conf_grid(*readings(Reader(rec_model=rec_path, threads=threads), scenes))
    chosen = best_min_conf(rows)
    best = next(r for r in rows if r["min_conf"] == chosen)
    print(f"recognizer min_conf {chosen} (end-to-end F {best['e2e_hmean']:.3f} on {len(scenes)} "
          f"training images; {rows[0]['e2e_hmean']:.3f} keeping every reading)")
    return chosen, rows


# Longest input side of the free-size detector, chosen on validation among these. Frames are
# never enlarged, so from 640 up a 640x480 frame runs at its own size whatever is chosen; a
# 1280x720 frame is scaled to this side (1024 costs it about 1.7x the detector time of 768),
# and from 1280 up it too runs at its own size (ic15's photos are 1280x720).
PAD_SCENES = 300  # training images the box ends and crop margins are chosen on
MAX_SIDES = (512, 640, 768, 896, 1024, 1152, 1280)


def export_detector(run: Path, out: Path, work: Path, quantizations=QUANTIZATIONS,
                    budget: float = 1.0, data: Path | None = None, threads: int = 2,
                    weights: str = "best", prefer: str | None = None,
                    rec_model: Path | None = None) -> dict:
    from engocr.charts import pr_curves
    from engocr.export.output_ranges import spread_outputs
    from engocr.models.yolo_mobilenet import output_name
    from engocr.preprocess import detector_input_size
    from engocr.realtime.reader import DEFAULT_RECOGNIZER, Reader
    from engocr.train import det_data
    from engocr.train.coarse_choice import choose_passes
    from engocr.train.data.importers import ic15_scenes
    from engocr.train.data.synth import SynthScenes
    from engocr.train.evaluate import (
        best_threshold,
        detection_curve,
        ic15_val_scenes,
        postprocess_grid,
        tflite_detector,
        tflite_recognizer,
    )
    from engocr.train.runs import detector_over, imagenet_lineage, load_detector_model

    model, config = load_detector_model(run, weights, free_size=True)
    scenes = ic15_val_scenes(data)
    # The input size and score threshold are chosen on validation, on the Keras model, and
    # shipped in the card.
    by_side = {side: detection_curve(detector_over(model, config, max_side=side), scenes)
               for side in MAX_SIDES}
    best_h = {side: c[best_threshold(c)]["hmean"] for side, c in by_side.items()}
    max_side = max(best_h, key=best_h.get)
    best_t = best_threshold(by_side[max_side])
    print(f"detector keras: H by longest side {json.dumps(best_h)}; chosen {max_side}, "
          f"threshold {best_t}")
    # NMS and merge overlaps and the box extension are chosen on training images, not on
    # validation; then the threshold once more on validation, with the post-processing that
    # ships.
    keras_detector = detector_over(model, config, max_side=max_side)
    train_scenes = ic15_scenes("train", data)
    grid = postprocess_grid(keras_detector, {"train": train_scenes[:200]}, best_t)
    post = max(grid, key=lambda row: row["train"]["hmean"])
    keras_detector.card.iou_threshold = post["nms_iou"]
    keras_detector.card.box_merge_iou = post["merge_iou"]
    keras_detector.card.box_extend = post["box_extend"]
    keras_curve = detection_curve(keras_detector, scenes)
    best_t = best_threshold(keras_curve)
    reference = keras_curve[best_t]["hmean"]
    print(f"detector keras: NMS IoU {post['nms_iou']}, merge IoU {post['merge_iou']}, box "
          f"extension {post['box_extend']} (training images); H {reference:.4f} at threshold "
          f"{best_t}")
    # The box ends (moved to where the ink ends) and the recognizer's crop margins, by what it
    # reads from this detector's boxes on training images (the boxes of a detector tend to
    # clip a word's first and last letters).
    keras_detector.score_threshold = best_t
    reader = Reader.from_parts(keras_detector,
                               tflite_recognizer(rec_model or DEFAULT_RECOGNIZER, threads))
    ends, ends_grids = _choose_ends_and_margins(reader, train_scenes[:PAD_SCENES])
    settings = {"score_threshold": best_t, "max_side": max_side,
                "iou_threshold": post["nms_iou"], "box_merge_iou": post["merge_iou"],
                "box_extend": post["box_extend"], **ends}
    frame_size = detector_input_size(640, 480, max_side)
    # int8 calibration on frames as the runtime feeds them at the chosen side.
    gen = SynthScenes(seed=778, size=det_data.SYNTH_FRAME)
    rep = []
    for scene in train_scenes[:150] + [gen[i] for i in range(150)]:
        rep.append(keras_detector.preprocess(scene.load())[0][0].astype(np.uint8))
        scene.release()
    # Each box output channel over one int8 range; the cards carry the inverse.
    scales, offsets = spread_outputs(model, rep, [output_name(s) for s in config.strides])
    settings |= {"output_scale": scales, "output_offset": offsets}
    variants, curves = {}, {"keras": keras_curve}
    for q in quantizations:
        path = write_model(convert(model, q, representative_from(rep), free_size=True),
                           work / f"detector-{q}.tflite")
        detector_card(config, q, **settings).save(path.with_suffix(".json"))
        curves[q] = detection_curve(tflite_detector(path, threads), scenes)
        scores = curves[q][best_t]
        variants[q] = {"hmean_ic15_val": scores["hmean"], "precision": scores["precision"],
                       "recall": scores["recall"], "latency_ms": measure_latency(
                           path, (1, frame_size[1], frame_size[0], 3), threads),
                       "size_mb": path.stat().st_size / 2**20}
        print(f"detector {q}: {json.dumps(variants[q])}")
    print(f"wrote {pr_curves(curves, work / 'detector-pr.png')}")
    chosen = _pick(variants, budget, "hmean_ic15_val", reference, prefer)
    passes, pass_grids = choose_passes(work / f"detector-{chosen}.tflite", scenes, threads)
    print(f"detector coarse pass and large-box threshold (validation): {json.dumps(passes)}")
    card = detector_card(config, chosen, imagenet_lineage(run), **settings, **passes,
                         training_data=TRAINING_DATA,
                         metrics={"keras_hmean_ic15_val": reference, **pass_grids,
                                  "keras_hmean_by_max_side": best_h,
                                  "postprocess_on_train_images": grid, **ends_grids,
                                  "keras_pr_by_threshold": keras_curve,
                                  "variants": variants},
                         latency_ms={"frame_640x480_2threads": variants[chosen]["latency_ms"]})
    return _ship(work / f"detector-{chosen}.tflite", out, card)


def rechoose_passes(model: Path, data: Path | None = None, threads: int = 2) -> dict:
    """Choose the coarse pass and the large-box threshold of an exported detector again and
    write them into its card (for a model shipped before they existed, or after a runtime
    change)."""
    from engocr.realtime.card import ModelCard, card_path
    from engocr.train.coarse_choice import choose_passes
    from engocr.train.evaluate import ic15_val_scenes

    passes, grids = choose_passes(model, ic15_val_scenes(data), threads)
    card = ModelCard.load(card_path(model))
    for name, value in passes.items():
        setattr(card, name, value)
    card.metrics |= grids
    card.save(card_path(model))
    for rows in grids.values():
        for row in rows:
            print(json.dumps(row))
    print(f"chosen {json.dumps(passes)} -> {card_path(model)}")
    return passes


def rechoose_ends(model: Path, data: Path | None = None, threads: int = 2,
                  rec_model: Path | None = None, images: int = PAD_SCENES) -> dict:
    """Choose the box-end settings of an exported detector (`ends_choice`), then the crop
    margins for the boxes they give, on the first `images` training images with the
    recognizer (default: the shipped one), and write both into its card (for a model shipped
    before they existed)."""
    from engocr.realtime.card import ModelCard, card_path
    from engocr.realtime.reader import DEFAULT_RECOGNIZER, Reader
    from engocr.train.data.importers import ic15_scenes

    reader = Reader(model, rec_model or DEFAULT_RECOGNIZER, threads)
    train_scenes = ic15_scenes("train", data)[:images]
    ends, grids = _choose_ends_and_margins(reader, train_scenes)
    card = ModelCard.load(card_path(model))
    for name, value in ends.items():
        setattr(card, name, value)
    card.metrics |= grids
    card.save(card_path(model))
    for row in grids["box_ends_on_train_images"]:
        print(json.dumps(row))
    print(f"chosen {json.dumps(ends)} -> {card_path(model)}")
    return ends


def _choose_ends_and_margins(reader, scenes) -> tuple[dict, dict]:
    """(card settings, their grids by metrics name): the box ends and the left/right crop
    margin by end-to-end F, then the top/bottom margin by what the recognizer reads from the
    boxes they give, all on `scenes` (training images) at the detector's threshold."""
    from engocr.train.crop_padding import best_padding, found_words, padding_grid
    from engocr.train.ends_choice import choose_ends, moved_ends

    ends, ends_rows, detected = choose_ends(reader, scenes)
    for name, value in ends.items():
        setattr(reader.detector.card, name, value)
    print(f"detector box ends (training images): {json.dumps(ends)}")
    moved = moved_ends(reader, detected[0])
    found = ([[q.tolist() for q in quads] for *_, quads in moved],
             [list(scores) for _, _, scores, _ in moved], detected[1])
    pad_grid = padding_grid(reader.recognizer, scenes, found_words(found),
                            pad_x=(ends["crop_pad_x"],))
    pad_x, pad_y = best_padding(pad_grid)
    print(f"detector crop margins: x {pad_x}, y {pad_y} box heights (training images; read "
          f"{max(r['read'] for r in pad_grid):.3f} of found words)")
    return ({**ends, "crop_pad_y": pad_y},
            {"box_ends_on_train_images": ends_rows, "crop_padding_on_train_images": pad_grid})


def _ship(path: Path, out: Path, card) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, out)
    card.save(out.with_suffix(".json"))
    print(f"shipped {card.quantization} -> {out}")
    return json.loads(out.with_suffix(".json").read_text())
