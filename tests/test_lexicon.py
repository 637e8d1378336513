"""Dictionary correction: the numba search and CTC scoring against brute force, and what the
Lexicon does to readings (corrects near-misses, keeps names read with confidence, numbers and
words, puts back case and punctuation, favours common words when the card has a prior)."""

import itertools
import random
import string

import numpy as np
import pytest

from engocr.charset import CHARSET, NUM_CLASSES, edit_distance
from engocr.errors import InputError
from engocr.realtime import kernels
from engocr.realtime.card import ModelCard
from engocr.realtime.lexicon import DEFAULT_WORDS, LISTED_WORD_ZIPF, Lexicon, read_word_list
from engocr.realtime.recognizer import card_lexicon
from engocr.train.data.words import WORD_LIST_NOTICE
from tests.conftest import DATA, needs_data

WORDS = ["available", "hello", "help", "hotel", "london", "sale", "sales", "street", "tea"]


def _codes(words):
    codes = np.zeros((len(words), max(map(len, words))), np.uint8)
    for i, w in enumerate(words):
        codes[i, :len(w)] = np.frombuffer(w.encode(), np.uint8)
    return codes, np.array([len(w) for w in words], np.int32)


@pytest.mark.parametrize("seed", range(3))
def test_trie_search_finds_exactly_the_words_within_the_edit_budget(seed):
    rng = random.Random(seed)
    words = sorted({"".join(rng.choice("abc") for _ in range(rng.randint(1, 8)))
                    for _ in range(800)})
    trie = kernels.build_trie(*_codes(words))
    for _ in range(60):
        query = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 9)))
        for budget in (0, 1, 2):
            ids, dist = kernels.trie_within(np.frombuffer(query.encode(), np.uint8), *trie, budget)
            expected = {k: edit_distance(query, w) for k, w in enumerate(words)
                        if edit_distance(query, w) <= budget}
            assert dict(zip(ids.tolist(), dist.tolist(), strict=True)) == expected


def _brute_force_ctc(log_probs, labels, blank=0):
    """log of the summed probability of every frame path that collapses to `labels`."""
    steps, classes = log_probs.shape
    total = -np.inf
    for path in itertools.product(range(classes), repeat=steps):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == list(labels):
            total = np.logaddexp(total, sum(log_probs[t, c] for t, c in enumerate(path)))
    return total


@pytest.mark.parametrize("labels", [[], [1], [1, 2], [2, 2], [1, 2, 1]])
def test_ctc_log_likelihood_sums_every_alignment(labels):
    rng = np.random.default_rng(len(labels))
    logits = rng.normal(0, 1, (5, 3))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    got = kernels.ctc_log_likelihood(log_probs, np.array(labels, np.int64), 0)
    assert got == pytest.approx(_brute_force_ctc(log_probs, labels), abs=1e-9)


def _logits(frames):
    """(1, time, classes) logits: each frame a dict {character or "-" (blank): logit}, every
    other class at -8."""
    out = np.full((1, len(frames), NUM_CLASSES), -8.0, np.float32)
    for t, frame in enumerate(frames):
        for ch, value in frame.items():
            out[0, t, 0 if ch == "-" else 1 + CHARSET.index(ch)] = value
    return out


def _spelled(text, doubts=None):
    """Frames that read `text` with blanks between letters; `doubts` maps a position to the
    runner-up character and its logit (the top one has 6)."""
    doubts = doubts or {}
    frames = [{"-": 6}]
    for i, ch in enumerate(text):
        frames += [{ch: 6, **({doubts[i][0]: doubts[i][1]} if i in doubts else {})}, {"-": 6}]
    return frames


def _lexicon(margin=4.0, words=WORDS, prior=0.0):
    return Lexicon(words, CHARSET, 0, margin, prior)


def _read(lexicon, frames):
    logits = _logits(frames)
    text = kernels.ctc_greedy_decode(logits)[0][0]
    return text, lexicon.correct([text], logits)[0]


def test_a_near_miss_whose_word_was_almost_as_likely_is_corrected():
    text, corrected = _read(_lexicon(), _spelled("hel1o", {3: ("l", 5)}))
    assert (text, corrected) == ("hel1o", "hello")


def test_a_confident_reading_outside_the_word_list_stays_as_read():
    # "helo" is one edit from "hello" and "help", but nothing in the frames supports them
    assert _read(_lexicon(), _spelled("helo")) == ("helo", "helo")
    # the same near-miss as above with margin 0 would need the word to be likelier: it is not
    assert _read(_lexicon(margin=0.5), _spelled("hel1o", {3: ("l", 2)}))[1] == "hel1o"


def test_words_numbers_and_codes_are_never_changed():
    lexicon = _lexicon()
    for text in ("hotel", "2024", "a1b2c3", "x"):
        assert lexicon.correct([text], _logits(_spelled(text)))[0] == text


def test_case_and_surrounding_punctuation_are_kept():
    lexicon = _lexicon()
    assert _read(lexicon, _spelled("HOTFL", {3: ("E", 5)}))[1] == "HOTEL"
    assert _read(lexicon, _spelled("Lonclon", {3: ("d", 5), 4: ("-", 5)}))[1] == "London"
    assert _read(lexicon, _spelled("(sa1e),", {3: ("l", 5)}))[1] == "(sale),"


def test_a_prior_lets_a_common_word_beat_a_rare_one_the_crop_supports_as_well():
    frequencies = {"sal": 3.5, "sale": 5.0, "salt": 4.5, "helo": 1.0, "hello": 5.5}
    # "sal" with a faint final "e": the plain lexicon leaves a word alone; a prior weighs it
    # against its neighbours one edit away (1.5 Zipf units x 2 nats beat the "e" missing)
    frames = _spelled("sal") + [{"e": 4.5, "-": 6}]
    assert _read(_lexicon(words=frequencies), frames) == ("sal", "sal")
    assert _read(_lexicon(words=frequencies, prior=2.0), frames)[1] == "sale"
    # nothing in the frames for an "e": the reading stays, whatever the prior
    assert _read(_lexicon(words=frequencies, prior=2.0), _spelled("sal"))[1] == "sal"
    # among non-word corrections, the prior picks the common candidate of two equally likely
    doubtful = _spelled("sa1", {2: ("l", 5)}) + [{"e": 4.5, "t": 4.5, "-": 6}]
    assert _read(_lexicon(words=frequencies, prior=1.0), doubtful)[1] == "sale"


def test_skipping_words_no_neighbour_can_outscore_changes_no_reading(monkeypatch):
    rng = np.random.default_rng(0)
    frequencies = {"sal": 3.5, "sale": 5.0, "salt": 4.5, "tea": 4.8, "ten": 5.6, "sea": 5.0}
    lexicon = _lexicon(words=frequencies, prior=1.5)
    batch = []
    for word in ("sal", "tea", "sea") * 20:  # each letter doubted by a random rival
        doubts = {i: (rng.choice(list("eltnas")), float(rng.uniform(0, 6.5)))
                  for i in range(3) if rng.random() < 0.5}
        batch.append(_logits(_spelled(word, doubts) + [{"e": float(rng.uniform(0, 6)),
                                                          "-": 6}])[0])
    logits = np.stack(batch)
    texts = kernels.ctc_greedy_decode(logits)[0]
    skipped = lexicon.correct(texts, logits)
    monkeypatch.setattr(Lexicon, "_word_is_safe", lambda *args: False)
    assert lexicon.correct(texts, logits) == skipped
    assert skipped != texts  # some readings were corrected, so the check had work to do


def test_word_lists_carry_frequencies_and_plain_words_count_as_fairly_common(tmp_path):
    listed = tmp_path / "terms.txt"
    listed.write_text("engocr numba\nsale 5.25\ngate 5\nroute 66.0\n")
    assert read_word_list(listed) == {"engocr": LISTED_WORD_ZIPF, "numba": LISTED_WORD_ZIPF,
                                      "sale": 5.25, "gate": LISTED_WORD_ZIPF, "5": LISTED_WORD_ZIPF,
                                      "route": LISTED_WORD_ZIPF, "66.0": LISTED_WORD_ZIPF}
    shipped = read_word_list(DEFAULT_WORDS)
    assert shipped["the"] > shipped["street"] > shipped["sal"] > 0


def test_user_words_extend_the_shipped_list(tmp_path):
    own = tmp_path / "terms.txt"
    own.write_text("engocr\nnumba\n")
    frames = _spelled("engocx", {5: ("r", 5)})
    assert _read(Lexicon.load(CHARSET, 0, 4.0), frames)[1] == "engocx"
    assert _read(Lexicon.load(CHARSET, 0, 4.0, [own]), frames)[1] == "engocr"


def test_the_shipped_word_list_is_english_and_unreadable_lists_are_input_errors(tmp_path):
    words = read_word_list(DEFAULT_WORDS)
    assert len(words) > 50_000 and {"available", "street", "london"} <= words.keys()
    with pytest.raises(InputError, match="cannot read word list"):
        read_word_list(tmp_path / "missing.txt")
    (tmp_path / "broken.gz").write_bytes(b"not gzip")
    with pytest.raises(InputError, match="cannot read word list"):
        read_word_list(tmp_path / "broken.gz")
    with pytest.raises(InputError, match="no words"):
        Lexicon(["123", "---"], CHARSET)


def test_the_card_decides_whether_a_recognizer_corrects():
    card = ModelCard(kind="recognizer", input_width=128, input_height=32, input_channels=1,
                     charset=CHARSET, time_steps=32)
    assert card_lexicon(card) is None  # no margin chosen: the model reads alone
    card.lexicon_margin, card.lexicon_prior = 3.0, 0.5
    lexicon = card_lexicon(card)
    assert lexicon is not None and (lexicon.margin, lexicon.prior) == (3.0, 0.5)
    assert card_lexicon(card, enabled=False) is None


def test_reading_settings_are_chosen_by_word_accuracy_fewest_changes_among_equals():
    from engocr.train.reading_choice import MARGIN_GRID, PRIOR_GRID, best_reading, lexicon_grid

    logits = np.concatenate([_logits(_spelled("hel1o", {3: ("l", 5)})),
                             _logits(_spelled("helpo"))])  # a name, read with confidence
    rows = lexicon_grid(logits, ["hello", "helpo"], CHARSET)
    assert [(r["margin"], r["prior"]) for r in rows] == [(0.0, 0.0)] + [
        (m, p) for m in MARGIN_GRID[1:] for p in PRIOR_GRID]
    accuracy = {(r["margin"], r["prior"]): r["word_acc"] for r in rows}
    assert accuracy[0.0, 0.0] == 0.5 and max(accuracy.values()) == 1.0
    best = min((key for key, acc in accuracy.items() if acc == 1.0),
               key=lambda key: (key[1], key[0]))
    # the same scores at two crop aspects: the one the model was trained with
    both = [{"min_aspect": aspect, **r} for aspect in (0.0, 2.0) for r in rows]
    chosen = best_reading(both, trained_aspect=2.0)
    assert (chosen["min_aspect"], chosen["margin"], chosen["prior"]) == (2.0, *best)
    # a better score at another aspect wins over the trained one
    worse = [{**r, "word_acc": r["word_acc"] - 0.1} if r["min_aspect"] == 2.0 else r
             for r in both]
    assert best_reading(worse, trained_aspect=2.0)["min_aspect"] == 0.0
    # unless it reads short words worse than the model as trained does
    worse = [{**r, "short_word_acc": 0.80 if r["min_aspect"] == 2.0 else 0.79} for r in worse]
    assert best_reading(worse, trained_aspect=2.0)["min_aspect"] == 2.0
    worse = [{**r, "short_word_acc": 0.796} if r["min_aspect"] == 0.0 else r for r in worse]
    assert best_reading(worse, trained_aspect=2.0)["min_aspect"] == 0.0  # within the slack


@needs_data("ic15_train")
def test_the_shipped_recognizer_reads_more_validation_words_with_its_word_list():
    from engocr.realtime.reader import DEFAULT_RECOGNIZER
    from engocr.train import rec_data
    from engocr.train.evaluate import read_crops_tflite, tflite_recognizer
    from engocr.train.metrics import recognition_scores

    recognizer = tflite_recognizer(DEFAULT_RECOGNIZER, threads=1)
    assert recognizer.card.lexicon_margin > 0 and recognizer.lexicon is not None
    samples = rec_data.load_crops("ic15_val", DATA)[:200]
    crops, truths = [s.load() for s in samples], [s.text for s in samples]
    alone = read_crops_tflite(recognizer, crops, lexicon=False)
    corrected = read_crops_tflite(recognizer, crops)
    changed = [(a, c) for a, c in zip(alone, corrected, strict=True) if a != c]
    assert changed and all(c.strip(string.punctuation + " ").lower() in recognizer.lexicon.known
                           for _, c in changed)
    assert recognition_scores(corrected, truths)["word_acc"] > \
        recognition_scores(alone, truths)["word_acc"]


@pytest.mark.skipif(not WORD_LIST_NOTICE.exists(), reason="no system word list (wamerican: "
                    "scripts/setup_train.sh installs it)")
def test_the_shipped_word_list_is_rebuilt_byte_for_byte_by_its_command(tmp_path):
    from engocr.cli import main

    out = tmp_path / "words.txt.gz"
    assert main(["data", "words", "--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_WORDS.read_bytes()
    notice = (tmp_path / "words.LICENSE").read_text()
    assert notice == DEFAULT_WORDS.with_name("words.LICENSE").read_text()
    assert "Attribution-ShareAlike 4.0" in notice and "Kevin Atkinson" in notice
