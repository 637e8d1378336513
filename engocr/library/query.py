"""The parts of a search query that engocr rewrites before FTS5 sees it: the top-level
clauses of a multi-word query (each word may sit in its own box on screen) and the one-edit
widening of plain words (OCR errors: "L0T" for "LOT")."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable

OPERATORS = {"AND", "OR", "NOT", "NEAR"}
TOKEN = re.compile(r'"[^"]*"|\(|\)|[^\s()"]+')
PLAIN = re.compile(r"^[^\W_]+$")
OPERAND = re.compile(r'^("[^"]*"|[^\W_]+\*?)$')
# Letters and digits a one-edit neighbour may bring in besides the query word's own: the
# unicode61 tokenizer folds case and diacritics, so indexed Latin terms use these.
ALPHABET = string.ascii_lowercase + string.digits


def within_one_edit(a: str, b: str) -> bool:
    """Whether b is a, or one substitution, insertion or deletion away from it."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    return a[i + 1:] == b[i + 1:] if la == lb else a[i:] == b[i + 1:]


def one_edit_candidates(term: str) -> set[str]:
    """Every string one substitution, insertion or deletion from `term` over ALPHABET and its
    own characters: looked up in the index's vocabulary, so no query scans all of it."""
    letters = sorted(set(ALPHABET) | set(term))
    out = {term[:i] + term[i + 1:] for i in range(len(term))}
    for i in range(len(term) + 1):
        for c in letters:
            out.add(term[:i] + c + term[i:])
            if i < len(term):
                out.add(term[:i] + c + term[i + 1:])
    out.discard(term)
    out.discard("")
    return out


def widen(query: str, neighbours: Callable[[str], list[str]]) -> str | None:
    """The query with each plain word widened to (word OR its neighbours), or None when no
    word has one. A word after NOT, a prefix and a phrase stay exact."""
    out, widened = [], False
    for token in TOKEN.findall(query):
        if token in OPERATORS or not PLAIN.match(token) or (out and out[-1] == "NOT"):
            out.append(token)
            continue
        term = token.lower()
        near = sorted(neighbours(term)) if len(term) >= 2 else []
        if near:
            widened = True
            out.append("(" + " OR ".join(f'"{t}"' for t in [term, *near]) + ")")
        else:
            out.append(token)
    if not widened:
        return None
    joined = []  # FTS5 needs an explicit AND after a bracketed group
    for token in out:
        if joined and joined[-1] not in OPERATORS and joined[-1] != "(" and \
                token not in OPERATORS and token != ")":
            joined.append("AND")
        joined.append(token)
    return " ".join(joined)


def fuzzy_query(query: str, vocabulary: Iterable[str]) -> str | None:
    """`widen` with the neighbours found in a list of indexed terms."""
    vocabulary = list(vocabulary)
    return widen(query, lambda term: [v for v in vocabulary
                                      if v != term and within_one_edit(term, v)])


def _operands(tokens: list[str]) -> list[list[str]] | None:
    """The query as alternating operands and operators at the top level (a bracketed group
    or NEAR(...) is one operand; a missing operator is an implicit AND), or None when it is
    not of a shape this splits (unbalanced brackets, FTS5 syntax beyond words, prefixes,
    phrases and brackets): such a query is matched whole."""
    items: list[list[str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("AND", "OR", "NOT"):
            items.append([token])
            i += 1
            continue
        start = i
        if token == "NEAR" and i + 1 < len(tokens) and tokens[i + 1] == "(":
            i += 1
            token = "("
        if token == "(":
            depth = 0
            while i < len(tokens):
                depth += {"(": 1, ")": -1}.get(tokens[i], 0)
                i += 1
                if depth == 0:
                    break
            if depth:
                return None
        elif OPERAND.match(token):
            i += 1
        else:
            return None
        if items and items[-1][0] not in ("AND", "OR", "NOT"):
            items.append(["AND"])
        items.append(tokens[start:i])
    return items


def clauses(query: str) -> list[str]:
    """The top-level AND-ed parts of a query, each a query of its own: `OPEN EXIT` and
    `OPEN AND (EXIT OR OUT)` give two. A query with OR or NOT at its top level (FTS5 binds
    `a NOT b c` as `a NOT (b c)` but `a NOT b AND c` as `(a NOT b) AND c`), or of a shape
    not split here, is one clause."""
    items = _operands(TOKEN.findall(query)) if query.count('"') % 2 == 0 else None
    if not items or any(item in (["OR"], ["NOT"]) for item in items):
        return [query]
    parts: list[list[str]] = [[]]
    for item in items:
        if item == ["AND"]:
            parts.append([])
        else:
            parts[-1] += item
    if any(not p for p in parts):
        return [query]  # malformed: FTS5 says why
    return [" ".join(p) for p in parts]
