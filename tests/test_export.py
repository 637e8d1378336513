"""Every export variant of small models loads in the runtime engine and matches Keras."""

import numpy as np
import pytest

from tests.conftest import TINY_DET, TINY_REC, write_crop_set

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crnn():
    import keras

    from engocr.models.crnn import CRNNConfig, build_crnn

    keras.utils.set_random_seed(1)
    return build_crnn(CRNNConfig(**TINY_REC))


def test_recognizer_variants_match_keras(crnn, tmp_path):
    from engocr.export.tflite import convert, representative_from, write_model
    from engocr.realtime.engine import TFLiteEngine

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 64), dtype=np.uint8)
    x = images[:8, ..., None].astype(np.float32)
    want = crnn(x, training=False).numpy()
    spread = float(want.max() - want.min())
    for quant, tolerance in (("float32", 1e-3), ("dynamic", 0.05), ("int8", 0.08)):
        path = write_model(convert(crnn, quant, representative_from(images)),
                           tmp_path / f"{quant}.tflite")
        got = TFLiteEngine(path, threads=1).run(x)[0]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= tolerance * max(spread, 1.0), quant


def test_detector_float_matches_keras(tmp_path):
    import keras

    from engocr.export.tflite import convert, write_model
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.realtime.engine import TFLiteEngine

    keras.utils.set_random_seed(2)
    model = build_detector(DetectorConfig(**TINY_DET))
    x = np.random.default_rng(1).uniform(0, 255, (2, 96, 128, 3)).astype(np.float32)
    want = sorted((o.numpy() for o in model(x, training=False)), key=lambda o: -o.shape[1])
    engine = TFLiteEngine(write_model(convert(model), tmp_path / "det.tflite"), threads=1)
    got = sorted(engine.run(x), key=lambda o: -o.shape[1])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-3, rtol=1e-3)


def test_bilstm_exports_as_fused_op_and_runs_any_batch(tmp_path):
    import keras

    from engocr.export.fused_rnn import convert_fused
    from engocr.export.tflite import write_model
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.realtime.engine import TFLiteEngine

    keras.utils.set_random_seed(3)
    config = CRNNConfig(**{**TINY_REC, "head": "bilstm"})
    model = build_crnn(config)
    path = write_model(convert_fused(model, config, batch=4), tmp_path / "fused.tflite")
    engine = TFLiteEngine(path, threads=1)
    ops = {op["op_name"] for op in engine.interpreter._get_ops_details()}
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "WHILE" not in ops
    assert engine.fixed_batch == 4
    x = np.random.default_rng(4).uniform(0, 255, (7, 32, 64, 1)).astype(np.float32)
    want = model(x, training=False).numpy()
    for n in (4, 4, 1, 7):  # exact twice (no state kept), padded, split + padded
        got = engine.run(x[:n])[0]
        np.testing.assert_allclose(got, want[:n], atol=1e-4, rtol=1e-4)


def test_free_size_detector_runs_each_frame_at_its_own_aspect(tmp_path):
    import keras

    from engocr.export.cards import detector_card
    from engocr.export.tflite import convert, write_model
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.preprocess import detector_input_size, letterbox
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.engine import TFLiteEngine
    from engocr.train.keras_engine import KerasEngine

    assert detector_input_size(640, 480, 768) == (640, 480)  # never enlarged
    assert detector_input_size(1280, 720, 768) == (768, 448)  # 432 rounded up to 32
    assert detector_input_size(1280, 720, 512) == (512, 288)
    keras.utils.set_random_seed(5)
    config = DetectorConfig(**TINY_DET)
    model = build_detector(config, any_size=True)
    fixed = build_detector(config)
    fixed.set_weights(model.get_weights())  # the same weights fit both builds
    path = write_model(convert(model, free_size=True), tmp_path / "free.tflite")
    card = detector_card(config, "float32", score_threshold=0.0, max_side=256)
    card.save(path.with_suffix(".json"))
    engine = TFLiteEngine(path, threads=1)
    assert engine.free_size
    detector = TextDetector(engine, card)
    # The one Keras seam: the runtime detector over the Keras model, same card, same boxes.
    over_keras = TextDetector(KerasEngine(model), card)
    rng = np.random.default_rng(6)
    for h, w, want in ((240, 320, (256, 192)), (360, 640, (256, 160)), (96, 128, (128, 96))):
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert detector.input_size(frame.shape) == want
        boxes = detector(frame)[0]
        x, placement = detector.preprocess(frame)
        raws, keras_raws = detector.infer(x), over_keras.infer(x)
        for a, b in zip(keras_raws, raws, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
        top = detector.postprocess(raws, placement, frame.shape, 0.5)
        keras_top = over_keras.postprocess(keras_raws, placement, frame.shape, 0.5)
        for a, b in zip(keras_top, top, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-3)
        assert engine.input_shape == (1, want[1], want[0], 3) and len(boxes)
        x = letterbox(frame, *want)[0][None].astype(np.float32)
        got = sorted(engine.run(x), key=lambda o: -o.shape[1])
        ref = sorted((o.numpy() for o in model(x, training=False)), key=lambda o: -o.shape[1])
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_allclose(g, r, atol=1e-4, rtol=1e-4)
    # At the nominal size the free-size build and the fixed build agree.
    x = rng.uniform(0, 255, (1, 96, 128, 3)).astype(np.float32)
    for a, b in zip(model(x, training=False), fixed(x, training=False), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_mobile_body_exports_and_matches_keras(tmp_path):
    import keras

    from engocr.export.tflite import convert, write_model
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.realtime.engine import TFLiteEngine

    keras.utils.set_random_seed(7)
    model = build_crnn(CRNNConfig(**{**TINY_REC, "body": "mobile"}))
    assert any(layer.name == "block2_dw" for layer in model.layers)
    x = np.random.default_rng(8).uniform(0, 255, (3, 32, 64, 1)).astype(np.float32)
    engine = TFLiteEngine(write_model(convert(model), tmp_path / "m.tflite"), threads=1)
    np.testing.assert_allclose(engine.run(x)[0], model(x, training=False).numpy(), atol=1e-4)


def test_export_ships_the_fastest_variant_within_budget_or_the_preferred_one():
    from engocr.export.pipeline import _pick

    variants = {"float32": {"h": 0.254, "latency_ms": 10.4},
                "dynamic": {"h": 0.256, "latency_ms": 15.8},
                "int8": {"h": 0.243, "latency_ms": 13.3}}
    assert _pick(variants, 1.0, "h", 0.254) == "float32"
    assert _pick(variants, 1.0, "h", 0.254, prefer="int8") == "float32"  # 1.1 points lost
    assert _pick(variants, 2.0, "h", 0.254, prefer="int8") == "int8"
    with pytest.raises(RuntimeError, match="no variant within"):
        _pick(variants, 1.0, "h", 0.30)


def test_upsampling_of_every_backend_gives_the_exported_values():
    """`repeat2x` (the keras.ops form JAX and PyTorch train with) equals the tf.image form that
    the export converts, and UpSampling2D."""
    import keras

    from engocr.models.yolo_mobilenet import Upsample2x, repeat2x

    x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype(np.float32)
    want = np.asarray(keras.layers.UpSampling2D(2)(x))
    np.testing.assert_array_equal(np.asarray(repeat2x(x)), want)
    np.testing.assert_array_equal(np.asarray(Upsample2x()(x)), want)


def test_export_rec_ships_a_card_with_min_conf_chosen_on_training_images(tmp_path, capsys):
    """`engocr export rec` on a tiny run and a fixture data folder: the shipped card carries
    the `min_conf` chosen on the training images (nothing is found on blank photos, so every
    threshold ties and the lowest, 0, is kept) and the table it was chosen from; likewise the
    lexicon margin chosen on the validation crops (an untrained model reads nothing a word list
    can mend, so the margins tie and 0, no correction, is kept)."""
    import json

    import cv2

    from engocr.cli import main
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.realtime.card import ModelCard
    from engocr.train.min_conf import CONF_GRID
    from engocr.train.reading_choice import MARGIN_GRID, PRIOR_GRID, narrow_settings

    run = tmp_path / "run"
    run.mkdir()
    config = CRNNConfig(**TINY_REC)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    build_crnn(config).save_weights(run / "best.weights.h5")
    data = tmp_path / "data"
    write_crop_set(data / "iiit5k_train", ["EXIT", "open", "cafe"])
    scenes = data / "ic15_train"
    (scenes / "images").mkdir(parents=True)
    entries = []
    for n in (1, 2, 901, 902):  # 1-900 training, 901-1000 validation
        cv2.imwrite(str(scenes / "images" / f"img_{n}.jpg"), np.full((240, 320, 3), 200,
                                                                      np.uint8))
        entries.append({"image": f"img_{n}.jpg", "width": 320, "height": 240, "words": [
            {"quad": [[20, 20], [120, 20], [120, 50], [20, 50]], "text": "EXIT",
             "ignore": False}]})
    (scenes / "gt.json").write_text(json.dumps(entries))
    out = tmp_path / "shipped" / "rec.tflite"
    code = main(["export", "rec", "--run", str(run), "--out", str(out), "--work",
                 str(tmp_path / "work"), "--data", str(data), "--quant", "float32"])
    assert code == 0 and out.exists(), capsys.readouterr().err
    card = ModelCard.load(out.with_suffix(".json"))
    assert card.min_conf == 0.0
    assert [r["min_conf"] for r in card.metrics["min_conf_train"]] == list(CONF_GRID)
    assert (card.lexicon_margin, card.lexicon_prior) == (0.0, 0.0)
    # an untrained model reads nothing: crops are read as trained
    assert (card.min_aspect, card.narrow_crops) == (0.0, "widen")
    assert [(r["margin"], r["prior"]) for r in card.metrics["lexicon_val"]] == [(0.0, 0.0)] + [
        (m, p) for m in MARGIN_GRID[1:] for p in PRIOR_GRID]
    assert [(r["min_aspect"], r["narrow_crops"]) for r in card.metrics["narrow_crops_val"]] == \
        narrow_settings(0.0)
    # `export reading`: the same choices made again for a shipped model, its file untouched
    card.min_aspect, card.min_conf, card.metrics = 2.5, 0.5, {}
    card.save(out.with_suffix(".json"))
    model_bytes = out.read_bytes()
    assert main(["export", "reading", "--out", str(out), "--data", str(data)]) == 0
    again = ModelCard.load(out.with_suffix(".json"))
    assert (again.min_aspect, again.narrow_crops, again.min_conf) == (2.5, "widen", 0.0)
    assert len(again.metrics["narrow_crops_val"]) == len(narrow_settings(2.5))
    assert [r["min_conf"] for r in again.metrics["min_conf_train"]] == list(CONF_GRID)
    assert out.read_bytes() == model_bytes


def test_export_reading_without_the_data_says_so_in_one_line(tiny_models, tmp_path, capsys):
    import shutil

    from engocr.cli import main

    model = tmp_path / "rec.tflite"
    shutil.copy(tiny_models["rec"], model)
    shutil.copy(tiny_models["rec"].with_suffix(".json"), model.with_suffix(".json"))
    card = model.with_suffix(".json").read_bytes()
    assert main(["export", "reading", "--out", str(model), "--data", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not found" in err and "--data" in err
    assert model.with_suffix(".json").read_bytes() == card  # the card is left as it was


def test_a_card_names_the_imagenet_weights_that_started_a_line_of_runs(tmp_path):
    import json

    from engocr.export.cards import detector_card
    from engocr.models.yolo_mobilenet import DetectorConfig
    from engocr.train.runs import imagenet_lineage

    first, second, third = (tmp_path / n for n in ("pre", "reach", "large"))
    for run, pretrained, source in ((first, "mnv1.tflite", None), (second, "", first),
                                    (third, "", second)):
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"pretrained": pretrained}))
        if source is not None:
            (run / "init.json").write_text(json.dumps({"from": str(source)}))
    assert imagenet_lineage(third) == ("mnv1.tflite", ["pre", "reach", "large"])
    text = detector_card(DetectorConfig(), "int8", imagenet_lineage(third)).architecture
    assert "ImageNet weights (mnv1.tflite)" in text and "pre -> reach -> large" in text
    assert "from scratch" in detector_card(DetectorConfig(), "int8").architecture


def test_spread_outputs_give_int8_boxes_their_own_range_and_the_runtime_maps_them_back(
        tmp_path):
    """An output holding objectness logits far below zero beside box sizes and angles near
    it: int8 gives the whole tensor one scale, and the sizes and angles lose their steps. With
    each channel spread over one range (the card carrying the inverse) the runtime's raw
    outputs are the model's own, and int8's box channels come out closer to float's."""
    import keras

    from engocr.errors import ModelError
    from engocr.export.cards import detector_card
    from engocr.export.output_ranges import spread_outputs
    from engocr.export.tflite import convert, representative_from, write_model
    from engocr.models.yolo_mobilenet import DetectorConfig, build_detector
    from engocr.realtime.detector import TextDetector
    from engocr.realtime.engine import TFLiteEngine
    from engocr.train.keras_engine import KerasEngine

    keras.utils.set_random_seed(7)
    config = DetectorConfig(**TINY_DET, oriented=True)
    model = build_detector(config)
    names = [f"out_s{s}" for s in config.strides]
    for name in names:  # objectness logits around -12, as a trained detector's background
        kernel, bias = model.get_layer(name).get_weights()
        bias[4::7] = -12.0
        kernel[..., 4::7] *= 20.0
        model.get_layer(name).set_weights([kernel, bias])
    frames = np.random.default_rng(8).integers(0, 256, (8, 96, 128, 3), dtype=np.uint8)
    x = frames[:2].astype(np.float32)
    over_keras = TextDetector(KerasEngine(model), detector_card(config, "float32"))
    want = [r.copy() for r in over_keras.infer(x[:1])]

    def runtime_raws(tag: str, quantization: str, **spread):
        path = write_model(convert(model, quantization, representative_from(frames)),
                           tmp_path / f"{tag}.tflite")
        card = detector_card(config, quantization, **spread)
        card.save(path.with_suffix(".json"))
        return TextDetector(TFLiteEngine(path, threads=1), card).infer(x[:1])

    plain = runtime_raws("plain", "int8")
    scales, offsets = spread_outputs(model, frames, names)
    assert len(scales) == 3 and all(len(s) == 21 for s in scales)
    for got, ref in zip(runtime_raws("float", "float32", output_scale=scales,
                                     output_offset=offsets), want, strict=True):
        np.testing.assert_allclose(got, ref, atol=1e-3, rtol=1e-3)
    spread = runtime_raws("spread", "int8", output_scale=scales, output_offset=offsets)
    box = [0, 1, 2, 3, 5, 6]  # every channel but objectness

    def box_error(raws):
        return np.mean([np.abs(r[..., box] - w[..., box]).mean()
                        for r, w in zip(raws, want, strict=True)])

    assert box_error(spread) < 0.5 * box_error(plain), (box_error(spread), box_error(plain))
    card = detector_card(config, "int8", output_scale=scales[:2], output_offset=offsets[:2])
    with pytest.raises(ModelError, match="output_scale"):
        TextDetector(TFLiteEngine(tmp_path / "spread.tflite", threads=1), card)
