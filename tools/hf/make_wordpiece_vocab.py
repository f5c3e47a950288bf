#!/usr/bin/env python3
"""make_wordpiece_vocab.py - a deterministic BERT-style WordPiece vocabulary and a full
Hugging Face tokenizer.json for testing, built from the shared datasets (never committed:
it is generated into a build directory when the tests run).

Usage:
  make_wordpiece_vocab.py --out DIR/tokenizer.json [--shared ../shared]
                          [--extra tests/fixtures/wordpiece/edge_cases.jsonl]

The vocabulary (about 6k pieces), in this order, ties broken alphabetically:
  [PAD] [UNK] [CLS] [SEP] [MASK]            ids 0..4
  every character of the training words, then "##" + each of them
  characters of the --extra texts (lines without "vocab": false), both forms
  the 3000 most frequent words (length >= 2, seen at least twice)
  the 1500 most frequent word endings of 2..6 characters, as "##ending"
  the 1000 most frequent word beginnings of 2..6 characters
Words are counted after the uncased BertNormalizer and BertPreTokenizer (the reference
implementation's), over Banking77 train and SIB-200 eng/fin train.
"""
import argparse
import collections
import csv
import json
import os
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wordpiece_ref  # noqa: E402

SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
N_WORDS, N_ENDINGS, N_BEGINNINGS = 3000, 1500, 1000


def training_texts(shared):
    data = os.path.join(shared, 'datasets')
    with open(os.path.join(data, 'banking77', 'train.csv'), encoding='utf-8', newline='') as f:
        for row in csv.DictReader(f):
            yield row['text']
    for lang in ('eng_Latn', 'fin_Latn'):
        # SIB-200 TSVs quote fields the CSV way ("" inside quotes), so csv reads them right.
        with open(os.path.join(data, 'sib200', lang, 'train.tsv'), encoding='utf-8', newline='') as f:
            for row in csv.DictReader(f, delimiter='\t'):
                yield row['text']


class UncasedBert:
    """The normalizer settings of an uncased BERT tokenizer.json."""
    normalize = clean_text = handle_chinese_chars = strip_accents = lowercase = True


def words_of(text):
    return wordpiece_ref.pre_tokenize(wordpiece_ref.normalize(text, UncasedBert))


def top(counter, n, exclude):
    ranked = sorted((piece for piece in counter if piece not in exclude), key=lambda p: (-counter[p], p))
    return ranked[:n]


def build_vocab(shared, extra_path):
    word_freq = collections.Counter()
    for text in training_texts(shared):
        word_freq.update(words_of(text))

    pieces = list(SPECIALS)
    chars = sorted({ch for word in word_freq for ch in word})
    pieces += chars + ['##' + ch for ch in chars]

    if extra_path:
        extra = set()
        with open(extra_path, encoding='utf-8') as f:
            for line in f:
                case = json.loads(line)
                if case.get('vocab', True):
                    extra.update(ch for word in words_of(case['text']) for ch in word)
        new = sorted(extra - set(chars))
        pieces += new + ['##' + ch for ch in new]

    seen = set(pieces)
    frequent = collections.Counter({w: c for w, c in word_freq.items() if c >= 2 and len(w) >= 2})
    words = top(frequent, N_WORDS, seen)
    seen.update(words)
    pieces += words

    endings, beginnings = collections.Counter(), collections.Counter()
    for word, count in word_freq.items():
        for k in range(2, min(6, len(word) - 1) + 1):
            endings['##' + word[-k:]] += count
            beginnings[word[:k]] += count
    chosen = top(endings, N_ENDINGS, seen)
    seen.update(chosen)
    pieces += chosen
    pieces += top(beginnings, N_BEGINNINGS, seen)
    return {piece: i for i, piece in enumerate(pieces)}


def tokenizer_json(vocab):
    special = [{'id': vocab[t], 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False,
                'normalized': False, 'special': True} for t in SPECIALS]

    def seq(name, type_id):
        return {'Sequence': {'id': name, 'type_id': type_id}}

    def tok(name, type_id):
        return {'SpecialToken': {'id': name, 'type_id': type_id}}

    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': special,
        'normalizer': {'type': 'BertNormalizer', 'clean_text': True, 'handle_chinese_chars': True,
                       'strip_accents': None, 'lowercase': True},
        'pre_tokenizer': {'type': 'BertPreTokenizer'},
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0)],
            'pair': [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0), seq('B', 1), tok('[SEP]', 1)],
            'special_tokens': {t: {'id': t, 'ids': [vocab[t]], 'tokens': [t]} for t in ('[CLS]', '[SEP]')},
        },
        'decoder': {'type': 'WordPiece', 'prefix': '##', 'cleanup': True},
        'model': {'type': 'WordPiece', 'unk_token': '[UNK]', 'continuing_subword_prefix': '##',
                  'max_input_chars_per_word': 100, 'vocab': vocab},
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_shared = os.environ.get('KANAVA_SHARED') or os.path.join(here, '..', '..', '..', 'shared')
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True, help='where to write tokenizer.json')
    ap.add_argument('--shared', default=default_shared, help='the shared directory holding datasets/')
    ap.add_argument('--extra', help='JSON lines of texts whose characters join the vocabulary')
    args = ap.parse_args()
    vocab = build_vocab(args.shared, args.extra)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(tokenizer_json(vocab), f, ensure_ascii=False, indent=2)
        f.write('\n')
    os.replace(tmp, args.out)
    print(f'{args.out}: {len(vocab)} pieces', file=sys.stderr)


if __name__ == '__main__':
    main()
