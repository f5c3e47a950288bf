#!/usr/bin/env python3
"""check_wordpiece.py - Kanava's WordPiece tokenizer (C) against the Python reference
(tools/hf/wordpiece_ref.py) on every text of SIB-200 (eng, fin; train/dev/test), Banking77
(train, test) and the edge cases, in several normalizer configurations.

Usage: check_wordpiece.py BUILD_DIR [--python PY]... [--shared DIR]
  BUILD_DIR   build or build-san: BUILD_DIR/tests/test_wordpiece must exist (make tests);
              everything generated goes to BUILD_DIR/hf-wordpiece/.
  --python    interpreter(s) to run the reference with (default: this one). Each one's
              unicodedata is compared with utf8proc's; texts holding a code point whose
              category, lowercase or NFD differs between the two Unicode versions are
              skipped for that interpreter and counted as such (none are skipped when the
              versions agree, e.g. Python 3.12 and utf8proc 2.8 are both Unicode 15.0).
Ends with "N passed, M failed" and exits non-zero if any text differs.
"""
import argparse
import csv
import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))

# Normalizer settings checked, besides the generated (uncased BERT) tokenizer.json.
VARIANTS = {
    'uncased': {},
    'cased': {'normalizer': {'lowercase': False, 'strip_accents': None}},
    'lowercase-keep-accents': {'normalizer': {'strip_accents': False}},
    'no-clean-no-chinese': {'normalizer': {'clean_text': False, 'handle_chinese_chars': False}},
    'no-normalizer': {'normalizer': None},
}

DATASETS = [('banking77/train.csv', ','), ('banking77/test.csv', ',')] + [
    (f'sib200/{lang}/{split}.tsv', '\t') for lang in ('eng_Latn', 'fin_Latn') for split in ('train', 'dev', 'test')]


# ---- Unicode version differences (runs under each reference interpreter) ----

def unicode_differences():
    """Code points whose tokenizer-relevant data differs between this Python's unicodedata
    and utf8proc: general category, lowercase (as the C code applies it), or NFD."""
    lib = ctypes.CDLL(ctypes.util.find_library('utf8proc') or 'libutf8proc.so.2')
    lib.utf8proc_category_string.restype = ctypes.c_char_p
    lib.utf8proc_category_string.argtypes = [ctypes.c_int32]
    lib.utf8proc_tolower.restype = ctypes.c_int32
    lib.utf8proc_tolower.argtypes = [ctypes.c_int32]
    lib.utf8proc_NFD.restype = ctypes.c_void_p
    lib.utf8proc_NFD.argtypes = [ctypes.c_char_p]
    lib.utf8proc_unicode_version.restype = ctypes.c_char_p
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]

    def c_nfd(ch):
        p = lib.utf8proc_NFD(ch.encode('utf-8'))
        s = ctypes.string_at(p).decode('utf-8')
        libc.free(p)
        return s

    diff = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        py_cat, c_cat = unicodedata.category(ch), lib.utf8proc_category_string(cp).decode()
        c_lower = 'i\u0307' if cp == 0x130 else chr(lib.utf8proc_tolower(cp))
        kinds = []
        if py_cat != c_cat:
            kinds.append(f'category {py_cat}/{c_cat}')
        if ch.lower() != c_lower:
            kinds.append('lowercase')
        py_nfd = unicodedata.normalize('NFD', ch)
        if (py_nfd != ch or py_cat != c_cat) and py_nfd != c_nfd(ch):
            kinds.append('NFD')
        if kinds:
            diff[cp] = kinds
    return {'python': sys.version.split()[0], 'python_unicode': unicodedata.unidata_version,
            'utf8proc_unicode': lib.utf8proc_unicode_version().decode(),
            'code_points': diff}


# ---- texts ----

def dataset_texts(shared):
    for source, delimiter in DATASETS:
        with open(os.path.join(shared, 'datasets', source), encoding='utf-8', newline='') as f:
            for row, rec in enumerate(csv.DictReader(f, delimiter=delimiter)):
                yield {'source': source, 'row': row, 'text': rec['text']}


def generated_edge_cases(shared):
    sentence = 'The quick brown fox jumps over the lazy dog, twice! '
    fin_dev = [t['text'] for t in dataset_texts(shared) if t['source'] == 'sib200/fin_Latn/dev.tsv']
    banking_test = [t['text'] for t in dataset_texts(shared) if t['source'] == 'banking77/test.csv']
    cases = {
        'text over 512 tokens': sentence * 60,
        'Finnish dev set as one text': ' '.join(fin_dev),
        'Banking77 test set as one text (about 200 KB)': '\n'.join(banking_test),
        'word of 100 characters': 'k' * 100,
        'word of 101 characters': 'k' * 101,
        'word of 150 characters in a sentence': 'a ' + 'abc' * 50 + ' b',
        '100 composed accented characters': '\u00e9' * 100,
        '101 composed accented characters': '\u00e9' * 101,
        '60 decomposed accented characters': 'e\u0301' * 60,
        '100 CJK ideographs without spaces': '\u5929\u5b89\u95e8' * 33 + '\u5929',
        'punctuation run of 300': '!?.' * 100,
    }
    return [{'source': 'edge', 'name': name, 'text': text} for name, text in cases.items()]


def all_texts(shared):
    texts = list(dataset_texts(shared))
    with open(os.path.join(ROOT, 'tests', 'fixtures', 'wordpiece', 'edge_cases.jsonl'), encoding='utf-8') as f:
        texts += [dict(json.loads(line), source='edge') for line in f if line.strip()]
    return texts + generated_edge_cases(shared)


# ---- driver ----

def variant_json(base, changes):
    doc = json.loads(json.dumps(base))
    for key, value in changes.items():
        if value is None:
            doc[key] = None
        else:
            doc[key].update(value)
    return doc


def run_c(binary, tokenizer, cases):
    env = dict(os.environ, KANAVA_ROOT=ROOT, KANAVA_WORDPIECE_JSON=tokenizer, KANAVA_WORDPIECE_CASES=cases)
    proc = subprocess.run([binary], env=env, cwd=ROOT, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    for line in output.splitlines():
        if line.startswith('reference cases: '):
            words = line.split()
            passed, failed = int(words[2]), int(words[4])
            if proc.returncode != 0 and failed == 0:
                failed = 1      # a unit test failed: count the run as a failure
            return passed, failed, output
    return 0, 1, output


def main():
    if len(sys.argv) == 2 and sys.argv[1] == '--unicode-differences':
        json.dump(unicode_differences(), sys.stdout)
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('build_dir')
    ap.add_argument('--python', action='append', help='reference interpreter (repeatable)')
    ap.add_argument('--shared', default=os.environ.get('KANAVA_SHARED') or os.path.join(ROOT, '..', 'shared'))
    args = ap.parse_args()
    pythons = args.python or [sys.executable]
    build = os.path.abspath(args.build_dir)
    binary = os.path.join(build, 'tests', 'test_wordpiece')
    if not os.access(binary, os.X_OK):
        print(f'{binary} not found: run make tests (or make SAN=1 tests) first', file=sys.stderr)
        return 2
    out = os.path.join(build, 'hf-wordpiece')
    os.makedirs(out, exist_ok=True)

    tokenizer = os.path.join(out, 'tokenizer.json')
    edge_file = os.path.join(ROOT, 'tests', 'fixtures', 'wordpiece', 'edge_cases.jsonl')
    subprocess.run([pythons[0], os.path.join(HERE, 'make_wordpiece_vocab.py'), '--out', tokenizer,
                    '--shared', args.shared, '--extra', edge_file], check=True)
    with open(tokenizer, encoding='utf-8') as f:
        base = json.load(f)
    variant_paths = {}
    for name, changes in VARIANTS.items():
        variant_paths[name] = os.path.join(out, f'tokenizer-{name}.json')
        with open(variant_paths[name], 'w', encoding='utf-8') as f:
            json.dump(variant_json(base, changes), f, ensure_ascii=False)

    texts = all_texts(args.shared)
    texts_path = os.path.join(out, 'texts.jsonl')
    with open(texts_path, 'w', encoding='utf-8') as f:
        for t in texts:
            f.write(json.dumps(t) + '\n')
    n_data = sum(t['source'] != 'edge' for t in texts)
    print(f'{len(texts)} texts: {n_data} from the datasets, {len(texts) - n_data} edge cases')

    total_passed = total_failed = 0
    for py in pythons:
        info = json.loads(subprocess.run([py, __file__, '--unicode-differences'], check=True,
                                         capture_output=True, text=True).stdout)
        differ = {int(cp) for cp in info['code_points']}
        kinds = {}
        for cp_kinds in info['code_points'].values():
            for k in cp_kinds:
                kinds[k] = kinds.get(k, 0) + 1
        tag = f'Python {info["python"]} (Unicode {info["python_unicode"]}) vs utf8proc (Unicode {info["utf8proc_unicode"]})'
        summary = ', '.join(f'{n} {k}' for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:6]) or 'none'
        print(f'{tag}: {len(differ)} code points differ ({summary})')
        kept = [t for t in texts if not any(ord(ch) in differ for ch in t['text'])]
        skipped = [t for t in texts if any(ord(ch) in differ for ch in t['text'])]
        for t in skipped:
            print(f'  skipped for this Unicode version: {t.get("name") or t["source"] + " row " + str(t["row"])}')
        kept_path = os.path.join(out, 'texts-compared.jsonl')
        with open(kept_path, 'w', encoding='utf-8') as f:
            for t in kept:
                f.write(json.dumps(t) + '\n')
        for name, path in variant_paths.items():
            cases = os.path.join(out, f'cases-{name}.jsonl')
            with open(kept_path, encoding='utf-8') as src, open(cases, 'w', encoding='utf-8') as dst:
                subprocess.run([py, os.path.join(HERE, 'wordpiece_ref.py'), path], stdin=src, stdout=dst, check=True)
            passed, failed, output = run_c(binary, path, cases)
            total_passed += passed
            total_failed += failed
            print(f'  {name}: {passed} passed, {failed} failed, {len(skipped)} skipped')
            if failed:
                print('\n'.join('    ' + line for line in output.splitlines() if 'MISMATCH' in line or 'FAIL' in line
                                or 'Error' in line or 'ERROR' in line))
    print(f'{total_passed} passed, {total_failed} failed')
    return 1 if total_failed else 0


if __name__ == '__main__':
    sys.exit(main())
