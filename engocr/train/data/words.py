"""Text to render: English words mixed with the numbers, prices, dates, codes and URLs of
signs and labels, in the case styles of real scenes, all inside the charset."""

from __future__ import annotations

import functools
import os
import string
from pathlib import Path

import numpy as np

from engocr.charset import normalize_text

WORD_LISTS = [Path("/usr/share/dict/american-english"), Path("/usr/share/dict/words")]
WORD_LIST_NOTICE = Path("/usr/share/doc/wamerican/copyright")
WORDS_ENV = "ENGOCR_WORDS"  # a word list to use instead (a GPU machine's bundle carries one)
# Used only when no system word list exists (tests on a bare machine still get real words).
_FALLBACK = [
    "open",
    "exit",
    "push",
    "pull",
    "stop",
    "sale",
    "coffee",
    "street",
    "station",
    "parking",
    "entrance",
    "hotel",
    "market",
    "pharmacy",
    "bank",
    "police",
    "taxi",
    "bus",
    "train",
    "airport",
    "office",
    "store",
    "center",
    "cafe",
    "bar",
    "restaurant",
    "museum",
    "library",
    "hospital",
    "school",
    "university",
    "north",
    "south",
    "east",
    "west",
]
_SIGN_WORDS = [
    "OPEN",
    "CLOSED",
    "EXIT",
    "SALE",
    "PUSH",
    "PULL",
    "STOP",
    "NO",
    "ENTRY",
    "PARKING",
    "WAY",
    "IN",
    "OUT",
    "TOILETS",
    "FREE",
    "NEW",
    "HOT",
    "COLD",
    "ONLY",
    "TO",
    "FROM",
    "LEVEL",
    "FLOOR",
    "GATE",
    "ROOM",
]


def word_lists() -> list[Path]:
    """Where the word list is looked for: `$ENGOCR_WORDS` if set, else the system's."""
    return [Path(os.environ[WORDS_ENV])] if os.environ.get(WORDS_ENV) else WORD_LISTS


def write_lexicon(out: Path) -> int:
    """The runtime's word list (engocr/assets/words.txt.gz, see realtime/lexicon.py): the
    system's English word list (SCOWL, Debian's wamerican), lowercased, letters only, sorted,
    each word beside its Zipf frequency in English (wordfreq: log10 of its uses per billion
    words, 0 where unseen), gzipped without a timestamp so that the same lists give the same
    bytes; the notices that must go with every copy beside it (`words.LICENSE`). Returns the
    number of words."""
    import gzip

    if not any(path.exists() for path in word_lists()) or not WORD_LIST_NOTICE.exists():
        raise FileNotFoundError("no system word list (scripts/setup_train.sh installs one)")
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        raise FileNotFoundError("no word frequencies: pip install 'engocr[words]'") from None
    words = sorted({w.lower() for w in vocabulary()})  # letters only already
    lines = "".join(f"{w}\t{zipf_frequency(w, 'en'):.2f}\n" for w in words)
    out.write_bytes(gzip.compress(lines.encode("ascii"), 9, mtime=0))
    out.with_name("words.LICENSE").write_text(
        f"{out.name}: the words of SCOWL as Debian's wamerican package ships them, lowercased, "
        f"each with its Zipf frequency from wordfreq (engocr data words).\n\n"
        f"The frequencies come from wordfreq's data (https://github.com/rspeer/wordfreq, by "
        f"Robyn Speer), redistributed under the Creative Commons Attribution-ShareAlike 4.0 "
        f"license (https://creativecommons.org/licenses/by-sa/4.0/); the frequency column of "
        f"{out.name} is shared under the same license.\n\n"
        f"The word list's copyright notice follows.\n\n" + WORD_LIST_NOTICE.read_text())
    return len(words)


@functools.lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """English words (no possessives, ASCII only), from the system word list when installed."""
    for path in word_lists():
        if path.exists():
            words = [w.strip() for w in path.read_text(encoding="utf-8", errors="ignore").split()]
            words = [w for w in words if w.isascii() and w.isalpha() and "'" not in w]
            if len(words) > 1000:
                return tuple(words)
    return tuple(_FALLBACK)


def _case(word: str, rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.35:
        return word.upper()
    if r < 0.65:
        return word.capitalize()
    return word.lower()


def _number(rng: np.random.Generator) -> str:
    kind = rng.integers(0, 9)
    if kind == 0:
        return str(rng.integers(0, 10 ** int(rng.integers(1, 6))))
    if kind == 1:
        return (
            f"{rng.choice(['$', '', '£'.replace('£', 'EUR ')])}{rng.integers(0, 1000)}."
            f"{rng.integers(0, 100):02d}"
        )
    if kind == 2:
        return f"{rng.integers(1, 29):02d}/{rng.integers(1, 13):02d}/{rng.integers(1990, 2030)}"
    if kind == 3:
        return f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}"
    if kind == 4:
        return f"{rng.integers(1, 100)}%"
    if kind == 5:
        return f"+{rng.integers(1, 99)} {rng.integers(100, 999)} {rng.integers(1000, 9999)}"
    if kind == 6:
        return f"{rng.integers(1, 999)}{rng.choice(['km', 'KM', 'kg', 'ml', 'mm', 'm', 'g'])}"
    if kind == 7:
        return str(rng.integers(100, 99999))
    return f"No.{rng.integers(1, 999)}"


def _code(rng: np.random.Generator) -> str:
    pool = string.ascii_uppercase + string.digits
    n = int(rng.integers(3, 9))
    code = "".join(rng.choice(list(pool), size=n))
    if rng.random() < 0.4:
        cut = int(rng.integers(1, n))
        code = code[:cut] + rng.choice(["-", " ", "/", "."]) + code[cut:]
    return code


def _url(rng: np.random.Generator, vocab: tuple[str, ...]) -> str:
    word = vocab[rng.integers(len(vocab))].lower()
    kind = rng.integers(0, 3)
    if kind == 0:
        return f"www.{word}.{rng.choice(['com', 'org', 'net', 'co.uk'])}"
    if kind == 1:
        return f"{word}@{vocab[rng.integers(len(vocab))].lower()}.com"
    return f"#{word}"


def random_text(rng: np.random.Generator, max_words: int = 1) -> str:
    """One label: usually a single word, sometimes a short phrase or a non-word token."""
    vocab = vocabulary()
    r = rng.random()
    if r < 0.62:
        word = vocab[rng.integers(len(vocab))]
        text = _case(word, rng)
    elif r < 0.70:
        text = _SIGN_WORDS[rng.integers(len(_SIGN_WORDS))]
    elif r < 0.84:
        text = _number(rng)
    elif r < 0.92:
        text = _code(rng)
    else:
        text = _url(rng, vocab)
    if rng.random() < 0.12:  # punctuation clinging to words, as in real labels
        text = text + rng.choice(list(".,:;!?)'\"-"))
    elif rng.random() < 0.04:
        text = rng.choice(list("(\"'#*")) + text
    if max_words > 1 and rng.random() < 0.08:
        text = text + " " + random_text(rng, 1)
    return normalize_text(text)[:24] or "A"


def random_line(rng: np.random.Generator, n_words: int) -> list[str]:
    """Words of one rendered line, sharing a case style most of the time."""
    # A token with inner spaces ("+44 207 1234") is several words to the detector.
    words = [part for _ in range(n_words) for part in random_text(rng).split()]
    style = rng.random()
    if style < 0.3:
        words = [w.upper() for w in words]
    return [w for w in words if w.strip()] or ["TEXT"]
