#!/usr/bin/env bash
# export_hf_test.sh BUILD_DIR - `kanava model export-hf`: a frozen bundle trained on a tiny
# BERT (tools/hf/tiny_models.py; F16 weights, with and without the "bert." tensor prefix,
# mean and max pooling) is exported as a sentence-transformers directory, and
#  - the export has every tensor of the source under the same name, all F32, and the side
#    files (tokenizer, pooling, Normalize);
#  - PyTorch (tools/hf/bert_reference.py, float64) on the exported directory, with ids from
#    the independent WordPiece reference (tools/hf/wordpiece_ref.py), equals `kanava embed`
#    of the bundle's encoder within 1e-5, and so does `kanava embed` of the export;
#  - a SetFit bundle exports its tuned encoder (not the base kept beside it), checked the same way;
#  - a missing directory, a use-lite bundle, a quantised bundle, a bundle without an encoder
#    and an existing --out fail with a message naming the problem, leaving nothing behind.
# Needs KANAVA_MODELS with use-lite (tests/run.sh); uses $KANAVA_HF_TINY when set, else
# generates the tiny models. Ends with "export-hf: N passed, M failed".
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BIN="$1/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# ok/bad/check/quiet, test_tmp_dir and test_summary
. "$ROOT/tests/lib.sh"
test_tmp_dir
PY=${KANAVA_PYTHON:-/usr/bin/python3}
DATA="$ROOT/data/demo/messages.csv"
TINY=${KANAVA_HF_TINY:-}
if [ -z "$TINY" ] || [ ! -f "$TINY/models.json" ]; then
    TINY="$TMP/hf-tiny"
    "$PY" "$ROOT/tools/hf/tiny_models.py" "$TINY" >/dev/null || { bad "tiny model generation"; test_summary export-hf; exit; }
fi

# compare.py EXPORT SOURCE DATA.csv BUNDLE.jsonl EXPORT.jsonl: the checks that need Python.
cat >"$TMP/compare.py" <<'PY'
import csv, json, os, sys
import numpy as np
import torch
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tools", "hf"))
import bert_reference, wordpiece_ref

export, source, data, bundle_jsonl, export_jsonl = sys.argv[1:6]
TOL = 1e-5
failed = []
# 1. the same tensor names as the source, every one F32 (integer buffers kept)
src, _, _ = bert_reference.read_safetensors_header(os.path.join(source, "model.safetensors"))
out, _, _ = bert_reference.read_safetensors_header(os.path.join(export, "model.safetensors"))
if sorted(src) != sorted(out):
    failed.append("tensor names differ: %s" % sorted(set(src) ^ set(out)))
for name, info in out.items():
    want = "F32" if src.get(name, {}).get("dtype") in ("F32", "F16", "BF16") else src.get(name, {}).get("dtype")
    if info["dtype"] != want or info["shape"] != src.get(name, {}).get("shape"):
        failed.append("%s: %s %s" % (name, info["dtype"], info["shape"]))
# 2. torch float64 on the export, ids from the reference WordPiece tokenizer
model = bert_reference.load_model(export).double()
cfg = wordpiece_ref.load(os.path.join(export, "tokenizer.json"))
cls, sep, S = cfg.vocab["[CLS]"], cfg.vocab["[SEP]"], model.max_seq_length
with open(data, encoding="utf-8", newline="") as f:
    texts = [row["text"] for row in csv.DictReader(f)]
ids = [[cls] + [cfg.vocab[t] for t in wordpiece_ref.tokenize(x, cfg)][: S - 2] + [sep] for x in texts]
ref = model.embed(ids).numpy()
def load(path):
    with open(path, encoding="utf-8") as f:
        return np.array([json.loads(l)["embedding"] for l in f if l.strip()], dtype=np.float64)
for label, path in (("kanava embed of the bundle's encoder", bundle_jsonl), ("kanava embed of the export", export_jsonl)):
    got = load(path)
    if got.shape != ref.shape:
        failed.append("%s: shape %s, torch %s" % (label, got.shape, ref.shape))
        continue
    d = float(np.abs(got - ref).max())
    print("torch float64 on the export vs %s: max abs diff %.2e over %d texts" % (label, d, len(texts)))
    if not d <= TOL:
        failed.append("%s differs by %.2e" % (label, d))
for f in failed:
    print("FAIL:", f)
sys.exit(1 if failed else 0)
PY

# compare_export NAME EXPORT SOURCE: kanava embed of SOURCE and of EXPORT, both against
# PyTorch on EXPORT (compare.py), one check named NAME.
compare_export() {
    local name="$1" x="$2" src="$3"
    "$BIN" embed --model "$src" --column text --format jsonl "$DATA" >"$TMP/source.jsonl" 2>/dev/null
    "$BIN" embed --model "$x" --column text --format jsonl "$DATA" >"$TMP/export.jsonl" 2>/dev/null
    if ROOT="$ROOT" "$PY" "$TMP/compare.py" "$x" "$src" "$DATA" "$TMP/source.jsonl" "$TMP/export.jsonl" \
        >"$TMP/compare.log" 2>&1; then
        ok "$name: same tensors in F32; torch on it equals kanava embed (1e-5)"
    else
        bad "$name: same tensors in F32; torch on it equals kanava embed (1e-5)"
    fi
    sed 's/^/      /' "$TMP/compare.log"
}

for base in bert_wp_f16_mean_norm bert_wp_pfx_f16_max_norm; do
    B="$TMP/$base.bundle" X="$TMP/$base.export"
    check "train --method frozen --base $base" quiet "$BIN" train --method frozen --base "$TINY/$base" \
        --data "$DATA" --label-column topic --out "$B"
    check "export-hf of the $base bundle succeeds" quiet "$BIN" model export-hf "$B" --out "$X"
    for f in config.json modules.json sentence_bert_config.json tokenizer.json tokenizer_config.json \
        1_Pooling/config.json 2_Normalize; do
        check "$base export has $f" [ -e "$X/$f" ]
    done
    check "$base export has no staging leftovers" [ -z "$(find "$TMP" -maxdepth 1 -name '.export-hf-*')" ]
    compare_export "$base export" "$X" "$B/encoder"
done

# A SetFit bundle's encoder is the tuned one beside its base (model/concat_encoder.h): the
# export is the tuned part, checked against PyTorch as above.
base=bert_wp_f16_mean_norm B="$TMP/setfit.bundle" X="$TMP/setfit.export"
check "train --method setfit --base $base" quiet "$BIN" train --method setfit --max-steps 3 --base "$TINY/$base" \
    --data "$DATA" --label-column topic --out "$B"
check "export-hf of the setfit bundle succeeds" quiet "$BIN" model export-hf "$B" --out "$X"
compare_export "setfit export is the tuned part" "$X" "$B/encoder/tuned"

# --- bad inputs: non-zero exit, a message naming the problem, nothing written
B="$TMP/bert_wp_f16_mean_norm.bundle"
expect_refusal() { # name, expected message (grep -E), export-hf arguments...
    local name="$1" pattern="$2" out rc; shift 2
    out=$("$BIN" model export-hf "$@" --out "$TMP/refused" 2>&1); rc=$?
    check "$name: exits non-zero" [ "$rc" -ne 0 ]
    check "$name: says so" grep -qE "$pattern" <<<"$out"
    check "$name: writes nothing" [ ! -e "$TMP/refused" ]
    [ "$rc" -ne 0 ] || rm -rf "$TMP/refused"
}
expect_refusal "missing directory" "no-such-dir: no such bundle or model directory" "$TMP/no-such-dir"
if [ -f "${KANAVA_MODELS:-}/use-lite/config.json" ]; then
    quiet "$BIN" train --method frozen --data "$DATA" --label-column topic --out "$TMP/use.bundle"
    expect_refusal "use-lite bundle" "export-hf writes BERT-family encoders; this bundle's encoder is use-lite" \
        "$TMP/use.bundle"
else
    bad "use-lite bundle: needs KANAVA_MODELS with use-lite"
fi
quiet "$BIN" model quantize "$B" --out "$TMP/q8.bundle"
check "a quantised bundle exists to refuse" [ -f "$TMP/q8.bundle/encoder/config.json" ]
expect_refusal "quantised bundle" "quantised \(int8\).*export the F32 bundle" "$TMP/q8.bundle"
quiet "$BIN" train --method tfidf --data "$DATA" --label-column topic --out "$TMP/tfidf.bundle"
expect_refusal "bundle without an encoder" "has no encoder to export \(method tfidf\)" "$TMP/tfidf.bundle"
mkdir -p "$TMP/taken"
out=$("$BIN" model export-hf "$B" --out "$TMP/taken" 2>&1); rc=$?
check "an existing --out is refused" [ "$rc" -ne 0 ]
check "an existing --out is named" grep -q "taken already exists" <<<"$out"
check "the existing --out is left alone" [ -z "$(ls -A "$TMP/taken")" ]
out=$("$BIN" model export-hf "$B" 2>&1); rc=$?
check "export-hf without --out is a usage error" [ "$rc" -eq 2 ]

test_summary export-hf
