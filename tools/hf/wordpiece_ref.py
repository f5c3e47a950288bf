#!/usr/bin/env python3
"""wordpiece_ref.py - reference BERT WordPiece tokenizer, configured by a Hugging Face
tokenizer.json, written from the published descriptions (the BERT README / tokenization
description and the Hugging Face `tokenizers` docs for BertNormalizer, BertPreTokenizer
and WordPiece) with nothing but the standard library. Used only to test Kanava's C
tokenizer (src/text/wordpiece.c); the two share no code.

Usage:
  wordpiece_ref.py TOKENIZER_JSON [--tokens] < texts.jsonl > ids.jsonl
Each input line is a JSON object with a "text" field; it is written back with "ids"
added (and "tokens" with --tokens). Special tokens ([CLS], [SEP]) are not added.

Character data comes from Python's unicodedata (Unicode 14 in Python 3.11, 15.0 in 3.12).
Semantics, step by step (where `tokenizers` and the original BERT code differ, this
follows `tokenizers`, whose output the models were trained and published with):
  clean_text      drop U+0000, U+FFFD and characters of category Cc, Cf or Co (tab, LF
                  and CR excepted); unassigned code points (Cn) stay. Then every
                  White_Space character becomes " ".
  chinese chars   put " " before and after every code point of the CJK ideograph ranges
                  below (extension E from U+2B920, as `tokenizers` has it).
  strip_accents   NFD, then drop category Mn. null means "same as lowercase".
  lowercase       full lowercase mapping of each code point on its own (no final-sigma
                  context), as Rust's char::to_lowercase.
  pre-tokenizer   split on White_Space (dropped), and make every punctuation character
                  (ASCII !"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ or category P*) its own word.
  WordPiece       per word: more than max_input_chars_per_word code points -> [UNK];
                  else repeatedly take the longest vocab piece that is a prefix of the
                  rest (continuation pieces carry continuing_subword_prefix); if some
                  position has no piece at all, the whole word is [UNK].
"""
import json
import sys
import unicodedata

# The White_Space property from the Unicode Character Database (PropList.txt); this is
# what Rust's char::is_whitespace tests. str.isspace() would be wrong: it also accepts
# U+001C..U+001F, which are not White_Space.
WHITE_SPACE = frozenset(
    [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680]
    + list(range(0x2000, 0x200B))
    + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])

# CJK ideographs as `tokenizers` lists them (inclusive ranges).
CJK_RANGES = [
    (0x4E00, 0x9FFF),    # CJK Unified Ideographs
    (0x3400, 0x4DBF),    # Extension A
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2B73F),  # Extension C
    (0x2B740, 0x2B81F),  # Extension D
    (0x2B920, 0x2CEAF),  # Extension E (from 2B920 in `tokenizers`; 2B820 in original BERT)
    (0xF900, 0xFAFF),    # Compatibility Ideographs
    (0x2F800, 0x2FA1F),  # Compatibility Ideographs Supplement
]

ASCII_PUNCTUATION = frozenset('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')


def is_white_space(ch):
    return ord(ch) in WHITE_SPACE


def is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def is_punctuation(ch):
    return ch in ASCII_PUNCTUATION or unicodedata.category(ch).startswith('P')


def is_removed_by_cleaning(ch):
    if ch in '\t\n\r':
        return False
    if ch in '\x00\ufffd':
        return True
    return unicodedata.category(ch) in ('Cc', 'Cf', 'Co')


class Config:
    """The parts of tokenizer.json that change the ids."""

    def __init__(self, root, path='tokenizer.json'):
        def fail(msg):
            raise ValueError(f'{path}: {msg}')

        norm = root.get('normalizer')
        self.normalize = norm is not None
        if norm is not None:
            if norm.get('type') != 'BertNormalizer':
                fail(f'normalizer type {norm.get("type")!r} is not supported')
            self.clean_text = norm.get('clean_text', True)
            self.handle_chinese_chars = norm.get('handle_chinese_chars', True)
            self.lowercase = norm.get('lowercase', True)
            strip = norm.get('strip_accents')
            self.strip_accents = self.lowercase if strip is None else strip
        pre = root.get('pre_tokenizer')
        if pre is not None and pre.get('type') != 'BertPreTokenizer':
            fail(f'pre_tokenizer type {pre.get("type")!r} is not supported')
        self.split_words = pre is not None
        model = root.get('model')
        if not isinstance(model, dict) or model.get('type') != 'WordPiece':
            fail('model is not a WordPiece model')
        self.vocab = model['vocab']
        self.unk_token = model.get('unk_token', '[UNK]')
        self.prefix = model.get('continuing_subword_prefix', '##')
        self.max_chars = model.get('max_input_chars_per_word', 100)
        if self.unk_token not in self.vocab:
            fail(f'unk_token {self.unk_token!r} is not in the vocab')


def normalize(text, cfg):
    if not cfg.normalize:
        return text
    if cfg.clean_text:
        text = ''.join(' ' if is_white_space(ch) else ch
                       for ch in text if not is_removed_by_cleaning(ch))
    if cfg.handle_chinese_chars:
        text = ''.join(f' {ch} ' if is_cjk(ch) else ch for ch in text)
    if cfg.strip_accents:
        text = ''.join(ch for ch in unicodedata.normalize('NFD', text)
                       if unicodedata.category(ch) != 'Mn')
    if cfg.lowercase:
        # One code point at a time: str.lower() on the whole string would apply the
        # final-sigma rule, which char::to_lowercase does not.
        text = ''.join(ch.lower() for ch in text)
    return text


def pre_tokenize(text):
    """Words: runs between White_Space, with each punctuation character on its own."""
    words, current = [], []
    for ch in text:
        if is_white_space(ch) or is_punctuation(ch):
            if current:
                words.append(''.join(current))
                current = []
            if not is_white_space(ch):
                words.append(ch)
        else:
            current.append(ch)
    if current:
        words.append(''.join(current))
    return words


def wordpiece(word, cfg):
    """Greedy longest-match-first, as the BERT README describes it."""
    if len(word) > cfg.max_chars:
        return [cfg.unk_token]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while end > start:
            candidate = word[start:end] if start == 0 else cfg.prefix + word[start:end]
            if candidate in cfg.vocab:
                found = candidate
                break
            end -= 1
        if found is None:
            return [cfg.unk_token]
        pieces.append(found)
        start = end
    return pieces


def tokenize(text, cfg):
    text = normalize(text, cfg)
    words = pre_tokenize(text) if cfg.split_words else ([text] if text else [])
    return [piece for word in words for piece in wordpiece(word, cfg)]


def load(path):
    with open(path, encoding='utf-8') as f:
        return Config(json.load(f), path)


def main(argv):
    if len(argv) < 2 or argv[1] in ('-h', '--help'):
        print(__doc__, file=sys.stderr)
        return 2
    cfg = load(argv[1])
    with_tokens = '--tokens' in argv[2:]
    stdin = open(sys.stdin.fileno(), encoding='utf-8', newline='\n', closefd=False)
    out = sys.stdout
    for line in stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        tokens = tokenize(case['text'], cfg)
        case['ids'] = [cfg.vocab[t] for t in tokens]
        if with_tokens:
            case['tokens'] = tokens
        out.write(json.dumps(case) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
