"""Recognizer round 3 (issue 29): the TPS rectifier and the mixing blocks build, leave the
shipped config's model as it was, start at the identity, export to builtin TFLite ops that
match Keras; the curved / steep / LED / faint synthetic crops render with their labels."""

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_REC, assert_ink_inside_quads

SHIPPED = Path(__file__).resolve().parents[1] / "runs" / "rec" / "conv2x-32x128"
SHIPPED_PARAMS = 1_637_376  # build_crnn of that config before the new stages existed


def _tiny(**extra):
    import keras

    from engocr.models.crnn import CRNNConfig, build_crnn

    keras.utils.set_random_seed(1)
    return build_crnn(CRNNConfig(**TINY_REC, **extra))


def test_shipped_config_builds_the_same_model():
    from engocr.models.crnn import CRNNConfig, build_crnn
    from engocr.train.loop import read_config

    if not (SHIPPED / "config.json").exists():
        pytest.skip("the shipped run folder is absent")
    config = read_config(SHIPPED, CRNNConfig)
    assert (config.rectify, config.mixer_blocks) == ("none", 0)
    model = build_crnn(config)
    assert model.count_params() == SHIPPED_PARAMS
    assert not [layer.name for layer in model.layers if layer.name.startswith(("tps", "mixer"))]
    if (SHIPPED / "best.weights.h5").exists():
        model.load_weights(SHIPPED / "best.weights.h5")  # the trained weights still fit


@pytest.mark.parametrize("extra", [{"rectify": "tps"}, {"mixer_blocks": 2},
                                   {"rectify": "tps", "mixer_blocks": 1, "mixer_heads": 2},
                                   {"mixer_blocks": 1, "mixer_dim": 16},
                                   {"mixer_blocks": 1, "mixer_norm": "batch"}])
def test_stages_build_and_keep_the_ctc_output(extra):
    from engocr.charset import NUM_CLASSES

    base = _tiny().count_params()
    model = _tiny(**extra)
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 64, 1)).astype(np.float32)
    assert model.predict_on_batch(x).shape == (3, 16, NUM_CLASSES)
    assert model.count_params() > base


def test_bad_stage_settings_fail_clearly():
    with pytest.raises(ValueError, match="rectify"):
        _tiny(rectify="stn")
    with pytest.raises(ValueError, match="mixer_heads"):
        _tiny(mixer_blocks=1, mixer_heads=5)
    with pytest.raises(ValueError, match="mixer norm"):
        _tiny(mixer_blocks=1, mixer_norm="group")


def test_tps_starts_at_the_identity_and_moves_like_an_affine_map():
    import keras

    from engocr.models.rectify import TPSSampler

    model = _tiny(rectify="tps")
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (2, 32, 64, 1)).astype(np.float32)
    probe = keras.Model(model.input, [model.get_layer("normalize").output,
                                      model.get_layer("tps_sample").output])
    before, after = probe.predict_on_batch(x)
    np.testing.assert_allclose(after, before, atol=1e-5)
    # A TPS reproduces affine maps: every point moved one pixel right reads the image one
    # pixel on (the last column repeats the border).
    k = 20
    sampler = TPSSampler(32, 64, k)
    shift = np.concatenate([np.full(k, 2 / 63), np.zeros(k)])[None].astype(np.float32)
    out = keras.ops.convert_to_numpy(sampler([x[:1], shift]))
    np.testing.assert_allclose(out[0, :, :-1], x[0, :, 1:], atol=1e-3)
    np.testing.assert_allclose(out[0, :, -1], x[0, :, -1], atol=1e-3)


def test_tps_trains_end_to_end():
    """The localisation net starts at zero weights: the loss must still reach them through
    the bilinear weights (the whole-pixel indices carry no gradient)."""
    import tensorflow as tf

    model = _tiny(rectify="tps", mixer_blocks=1)
    x = tf.constant(np.random.default_rng(3).uniform(0, 255, (4, 32, 64, 1)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x, training=True) ** 2)
    kernel = model.get_layer("tps_points").kernel
    grads = tape.gradient(loss, [kernel, *model.get_layer("tps_loc0_conv").trainable_weights])
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    assert np.abs(grads[0].numpy()).max() > 0


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_mixing_blocks_start_as_the_identity(norm):
    """A run started from a trained CRNN (`--init-from`) reads as well at step 0: the blocks'
    gates start at zero, so the model gives the CRNN's logits until they learn."""
    from engocr.train.loop import copy_matching_weights

    plain = _tiny()
    mixed = _tiny(mixer_blocks=2, mixer_dim=16, mixer_norm=norm)
    assert copy_matching_weights(mixed, plain)
    x = np.random.default_rng(4).uniform(0, 255, (3, 32, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(mixed.predict_on_batch(x), plain.predict_on_batch(x), atol=1e-5)


def _open_gates(model, value: float = 0.5):
    """Non-zero LayerScale gates, as trained weights have, so the export check runs the
    attention path (at zero the blocks add nothing)."""
    for layer in model.layers:
        if "_scale" in layer.name:
            layer.set_weights([np.full_like(w, value) for w in layer.get_weights()])
    return model


def _bent(model, amount: float = 0.15):
    """Offsets of a curved word for the TPS (top and bottom points bowed), as trained weights
    might predict, so the export check covers a non-trivial sampling grid."""
    layer = model.get_layer("tps_points")
    kernel, bias = layer.get_weights()
    k = bias.size // 2
    t = np.linspace(-1, 1, k // 2)
    bow = amount * (1 - t * t)
    layer.set_weights([kernel, np.concatenate([np.zeros(k), -bow, -bow]).astype(np.float32)])
    return model


@pytest.mark.slow
def test_round3_model_exports_to_builtin_ops_matching_keras(tmp_path):
    from benchmarks.rec_round3 import tflite_ops
    from engocr.export.tflite import convert, representative_from, write_model
    from engocr.realtime.engine import TFLiteEngine

    model = _open_gates(_bent(_tiny(rectify="tps", mixer_blocks=2)))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 32, 64), dtype=np.uint8)
    x = images[:8, ..., None].astype(np.float32)
    want = model.predict_on_batch(x)
    spread = max(float(want.max() - want.min()), 1.0)
    for quant, tolerance in (("float32", 1e-3), ("int8", 0.1)):
        flatbuffer = convert(model, quant, representative_from(images))
        ops = tflite_ops(flatbuffer)
        assert not ops["custom"], ops  # no Flex op: LiteRT runs it as it is
        assert {"GATHER", "FULLY_CONNECTED", "SOFTMAX"} <= set(ops["builtin"])
        engine = TFLiteEngine(write_model(flatbuffer, tmp_path / f"{quant}.tflite"), threads=2)
        got = engine.run(x)[0]
        assert np.abs(got - want).max() <= tolerance * spread, quant
        np.testing.assert_allclose(engine.run(x[:1])[0], got[:1], atol=1e-4)  # batch resizes


def test_arc_words_keep_their_ink_inside_their_boxes():
    from engocr.train.data.fonts import find_fonts
    from engocr.train.data.render import arc, render_block

    if not find_fonts():
        pytest.skip("no fonts: run scripts/setup_train.sh")
    block = render_block(np.random.default_rng(2), [["Round", "badge"]], str(find_fonts()[1]), 40)
    for seed in range(4):  # both ways up
        bent = arc(block, np.random.default_rng(seed), span=np.deg2rad(160))
        assert bent.texts == block.texts
        assert_ink_inside_quads(bent)
        assert abs(bent.ink.sum() - block.ink.sum()) < 0.1 * block.ink.sum()


def test_relief_shows_letters_by_lit_and_shaded_edges_not_by_paint():
    from engocr.train.data.render import TextBlock, composite

    ink = np.zeros((40, 60), np.float32)
    ink[10:30, 20:40] = 1.0  # one square letter
    block = TextBlock(ink, np.array([[[20, 10], [40, 10], [40, 30], [20, 30]]], np.float32), ["I"])
    grey = np.array([128, 128, 128], np.float32)
    for strength in (100.0, -100.0):  # embossed, engraved
        scene = np.full((40, 60, 3), 128, np.uint8)
        composite(scene, block, np.eye(3), (0, 0), grey, relief=(0, 2, strength))
        top, bottom, inside = scene[11, 30, 0], scene[31, 30, 0], scene[20, 30, 0]
        assert abs(int(inside) - 128) <= 2  # the letter keeps the surface's colour
        if strength > 0:  # light from above: a raised letter's top edge lit, its foot shaded
            assert top > 160 and bottom < 100
        else:
            assert top < 100 and bottom > 160


def test_styled_crops_render_with_their_labels_and_default_is_unchanged():
    from engocr.charset import CHARSET
    from engocr.train.data.backgrounds import PhotoBank
    from engocr.train.data.fonts import find_fonts
    from engocr.train.data.synth import SynthCrops

    if not find_fonts():
        pytest.skip("no fonts: run scripts/setup_train.sh")
    bank = PhotoBank(root="/nonexistent")
    plain, default = SynthCrops(seed=5, bank=bank), SynthCrops.styled("default", 5, bank=bank)
    for i in range(3):
        assert np.array_equal(plain[i].image, default[i].image)
    for knob in ("arc_p", "steep_p", "led_p", "faint_p", "emboss_p"):
        gen = SynthCrops(seed=5, bank=bank, **{knob: 1.0})
        for i in range(4):
            sample = gen[i]
            assert sample.text == plain[i].text and set(sample.text) <= set(CHARSET)
            assert sample.image.dtype == np.uint8 and min(sample.image.shape[:2]) >= 2
            assert sample.image.std() > 1, knob  # something drawn, not a flat patch
        again = SynthCrops(seed=5, bank=bank, **{knob: 1.0})[1]
        assert np.array_equal(again.image, gen[1].image)  # deterministic
        assert not np.array_equal(gen[1].image, plain[1].image)
    with pytest.raises(ValueError, match="style"):
        SynthCrops.styled("curvy")


def test_card_names_the_stages_and_the_fused_export_refuses_them():
    from engocr.export.cards import recognizer_card
    from engocr.export.fused_rnn import tf_keras_twin
    from engocr.models.crnn import CRNNConfig

    plain = recognizer_card(CRNNConfig(**TINY_REC), "int8").architecture
    staged = recognizer_card(CRNNConfig(**TINY_REC, rectify="tps", mixer_blocks=2),
                             "int8").architecture
    assert "rectifier" not in plain and "self-attention" not in plain
    assert "TPS rectifier (20 points)" in staged and "2 self-attention blocks" in staged
    lstm = {**TINY_REC, "head": "bilstm"}
    with pytest.raises(ValueError, match="rectifier or mixing blocks"):
        tf_keras_twin(CRNNConfig(**lstm, rectify="tps"))


def test_a_run_keeps_the_synthetic_style_it_started_with(tmp_path):
    from engocr.errors import InputError
    from engocr.train.rec import _run_synth_style

    run = tmp_path / "run"
    assert _run_synth_style(run, None) == "default"  # a new run, nothing said
    assert _run_synth_style(run, "round3") == "round3"
    assert _run_synth_style(run, None) == "round3"  # resumed without the flag
    with pytest.raises(InputError, match="choose one of default, round3"):
        _run_synth_style(run, "gothic")
    assert _run_synth_style(run, None) == "round3"


def test_round3_training_driver_rebuilds_the_shipped_architecture(tmp_path):
    """`benchmarks/rec_round3_train.py` trains every candidate from the shipped run: the flags
    it gives `engocr train rec` must rebuild that run's architecture (else `--init-from`
    copies nothing), plus the candidate's stages; a run's logged hours are read back."""
    import importlib.util

    from engocr.cli import build_parser
    from engocr.models.crnn import CRNNConfig
    from engocr.train.loop import read_config

    if not (SHIPPED / "config.json").exists():
        pytest.skip("the shipped run folder is absent")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "rec_round3_train.py"
    spec = importlib.util.spec_from_file_location("rec_round3_train", path)
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    args = build_parser().parse_args(["train", "rec", "--run", str(tmp_path / "r"),
                                      *driver.shipped_flags(SHIPPED),
                                      *driver.CANDIDATES["tps+mixer2"],
                                      "--synth-style", "round3"])
    config = CRNNConfig(width=args.width, head=args.head, body=args.body,
                        widths=tuple(args.widths), hidden=args.hidden, rectify=args.rectify,
                        mixer_blocks=args.mixer_blocks)
    shipped = read_config(SHIPPED, CRNNConfig)
    assert (config.widths, config.hidden, config.head, config.width) == \
        (shipped.widths, shipped.hidden, shipped.head, shipped.width)
    assert (config.rectify, config.mixer_blocks, args.synth_style) == ("tps", 2, "round3")
    narrow = build_parser().parse_args(["train", "rec", "--run", str(tmp_path / "n"),
                                        *driver.CANDIDATES["mixer2-bn-d128"]])
    assert (narrow.mixer_blocks, narrow.mixer_dim, narrow.mixer_norm) == (2, 128, "batch")
    (tmp_path / "r").mkdir()
    assert driver.trained_hours(tmp_path / "r") == 0.0
    (tmp_path / "r" / "metrics.csv").write_text("step,train_hours\n500,0.2\n1000,0.41\n")
    assert driver.trained_hours(tmp_path / "r") == pytest.approx(0.41)
