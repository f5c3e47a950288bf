#!/usr/bin/env bash
# End-to-end checks of the `kanava` binary: model fetch/list, embed input and output
# formats, and clear errors for bad input. Usage: tests/cli_test.sh BUILD_DIR
# Needs KANAVA_MODELS with use-lite installed and KANAVA_TARBALL (the npm tarball).
set -u
BIN="$1/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# --- model fetch: corrupt and truncated downloads are refused, nothing is installed
M="$TMP/models"
head -c 1000000 "$KANAVA_TARBALL" > "$TMP/truncated.tgz"
out=$("$BIN" model fetch use-lite --models-dir "$M" --from-tarball "$TMP/truncated.tgz" 2>&1); rc=$?
check "truncated tarball is refused" [ $rc -ne 0 ]
check "truncated tarball error names the checksum" grep -q "sha256 is .* expected" <<<"$out"
check "nothing half-installed after a bad download" [ ! -e "$M/use-lite" ]
check "no staging leftovers" [ -z "$(ls -A "$M" 2>/dev/null)" ]
cp "$KANAVA_TARBALL" "$TMP/corrupt.tgz"
printf '\x00\x01' | dd of="$TMP/corrupt.tgz" bs=1 seek=5000000 conv=notrunc status=none
"$BIN" model fetch use-lite --models-dir "$M" --from-tarball "$TMP/corrupt.tgz" >/dev/null 2>&1
check "corrupt tarball is refused" [ $? -ne 0 -a ! -e "$M/use-lite" ]
check "fetch from a good tarball installs" "$BIN" model fetch use-lite --models-dir "$M" --from-tarball "$KANAVA_TARBALL"
out=$("$BIN" model fetch use-lite --models-dir "$M" --from-tarball "$TMP/corrupt.tgz" 2>&1)
check "fetching again is a no-op" grep -q "already installed" <<<"$out"
check "model list shows it" grep -q "^use-lite .*dim 512" <<<"$("$BIN" model list --models-dir "$M")"
# a half-written model (weights cut short) is detected and replaced on the next fetch
truncate -s 1000 "$M/use-lite/model.safetensors"
out=$("$BIN" embed --models-dir "$M" <<<"hello" 2>&1); rc=$?
check "truncated weights give a clear error" [ $rc -ne 0 ]
check "the error names the weights file" grep -q "model.safetensors" <<<"$out"
"$BIN" model fetch use-lite --models-dir "$M" --from-tarball "$KANAVA_TARBALL" >/dev/null 2>&1
check "a broken install is repaired by fetch" "$BIN" embed --models-dir "$M" <<<"hello" >/dev/null 2>&1

# --- embed: formats, order, CSV column
printf 'How do I order a new card?\nMy card was stolen\n\nWhere is my refund?\n' > "$TMP/in.txt"
"$BIN" embed --format jsonl "$TMP/in.txt" > "$TMP/out.jsonl"
"$BIN" embed --format tsv < "$TMP/in.txt" > "$TMP/out.tsv"
"$BIN" embed --format npy --output "$TMP/out.npy" "$TMP/in.txt"
check "one vector per line, in order, in all formats" /usr/bin/python3 - "$TMP" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]
j = np.array([json.loads(l)["embedding"] for l in open(d + "/out.jsonl")], dtype=np.float32)
t = np.loadtxt(d + "/out.tsv", dtype=np.float32, delimiter="\t")
n = np.load(d + "/out.npy")
assert j.shape == (4, 512) and t.shape == (4, 512) and n.shape == (4, 512) and n.dtype == np.float32
assert np.abs(j - n).max() < 1e-6 and np.abs(t - n).max() < 1e-6
assert np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-4)
assert not np.allclose(n[0], n[1])
PY
printf 'id,text,category\n1,"How do I order a new card?",card\n2,"My card was stolen, help",fraud\n3,"She said ""hi""\nthen left",other\n' > "$TMP/in.csv"
"$BIN" embed --column text --format npy --output "$TMP/csv.npy" "$TMP/in.csv"
printf 'How do I order a new card?\nMy card was stolen, help\n' | "$BIN" embed --format npy --output "$TMP/plain.npy"
check "CSV column (quotes, commas, newlines) embeds the right texts" /usr/bin/python3 - "$TMP" <<'PY'
import sys, numpy as np
d = sys.argv[1]
c, p = np.load(d + "/csv.npy"), np.load(d + "/plain.npy")
assert c.shape == (3, 512) and np.abs(c[:2] - p).max() < 1e-6
PY

# --- bad input gets a clear error naming where, and no output
printf 'fine line\nbad \xc3\x28 line\n' > "$TMP/bad.txt"
out=$("$BIN" embed "$TMP/bad.txt" 2>&1 >"$TMP/bad.out"); rc=$?
check "invalid UTF-8 exits with status 2" [ $rc -eq 2 ]
check "invalid UTF-8 error names line 2" grep -q "bad.txt:2: invalid UTF-8" <<<"$out"
check "invalid UTF-8 writes no vectors" [ ! -s "$TMP/bad.out" ]
printf 'a,b\n1,2\n' > "$TMP/nocol.csv"
out=$("$BIN" embed --column text "$TMP/nocol.csv" 2>&1)
check "unknown CSV column is named" grep -q "no column named 'text'" <<<"$out"
printf 'text,x\n"unterminated,1\n' > "$TMP/quote.csv"
out=$("$BIN" embed --column text "$TMP/quote.csv" 2>&1)
check "unterminated quote names the line" grep -q "quote.csv:2" <<<"$out"
printf 'text,x\n1,2,3\n' > "$TMP/fields.csv"
out=$("$BIN" embed --column text "$TMP/fields.csv" 2>&1)
check "wrong field count names the line" grep -q "fields.csv:2: record has 3 fields" <<<"$out"
out=$("$BIN" embed --format xml <<<"hi" 2>&1); rc=$?
check "unknown format is a usage error" [ $rc -eq 2 ]
out=$("$BIN" embed --model no-such-model <<<"hi" 2>&1)
check "unknown model says how to fetch" grep -q "kanava model fetch" <<<"$out"
head -c 2000000 /dev/zero | tr '\0' 'a' > "$TMP/huge.txt"
out=$("$BIN" embed "$TMP/huge.txt" 2>&1); rc=$?
check "a text over 1 MiB is refused with its line" grep -q "huge.txt:1: the text is 2000000 bytes" <<<"$out"
check "empty input gives no vectors and succeeds" [ -z "$("$BIN" embed < /dev/null)" ]
python3 -c 'print("x" * 5000)' > "$TMP/long.txt"
check "a 5,000-character text embeds" [ "$("$BIN" embed --format tsv "$TMP/long.txt" | awk -F'\t' '{print NF}')" = 512 ]

# --- Hugging Face directories: model add, --model DIR, and clear errors for broken ones
if [ -n "${KANAVA_HF_TINY:-}" ]; then
    H="$TMP/hf"
    cp -r "$KANAVA_HF_TINY/xlmr_f32_mean_norm" "$H"
    check "model add registers a sentence-transformers directory" "$BIN" model add tiny-xlmr "$H" --models-dir "$M"
    check "model list shows it with its model_type" grep -q "^tiny-xlmr .*xlm-roberta" <<<"$("$BIN" model list --models-dir "$M")"
    check "embedding by name equals embedding by directory" [ "$("$BIN" embed --models-dir "$M" --model tiny-xlmr --format tsv <<<"Hyvää päivää")" = "$("$BIN" embed --model "$H" --format tsv <<<"Hyvää päivää")" ]
    out=$("$BIN" model add tiny-xlmr "$KANAVA_HF_TINY/bert_wp_f32_mean_norm" --models-dir "$M" 2>&1)
    check "a second model under a taken name is refused" grep -q "already exists" <<<"$out"
    out=$("$BIN" model add mpnet "$KANAVA_HF_TINY/bad_mpnet" --models-dir "$M" 2>&1)
    check "an unsupported architecture is refused by name" grep -q "model_type 'mpnet' is not supported" <<<"$out"
    broken() { rm -rf "$TMP/broken"; cp -r "$H" "$TMP/broken"; }
    expect_error() { # name, pattern
        local out; out=$("$BIN" embed --model "$TMP/broken" <<<"hei" 2>&1)
        if [ $? -ne 0 ] && grep -q -- "$2" <<<"$out"; then ok "$1"; else bad "$1: $out"; fi
    }
    broken; rm "$TMP/broken/tokenizer.json"
    expect_error "missing tokenizer.json is named" "broken/tokenizer.json: missing"
    broken; head -c 300 "$H/tokenizer.json" > "$TMP/broken/tokenizer.json"
    expect_error "truncated tokenizer.json is named" "broken/tokenizer.json: .*line"
    broken; sed -i 's/"Unigram"/"BPE"/' "$TMP/broken/tokenizer.json"
    expect_error "an unsupported tokenizer model is named" "tokenizer model type 'BPE' is not supported"
    broken; truncate -s 5000 "$TMP/broken/model.safetensors"
    expect_error "truncated weights are named" "broken/model.safetensors: .*truncated"
    broken; printf '\xff\xff\xff\x00\x00\x00\x00\x00' | dd of="$TMP/broken/model.safetensors" bs=1 conv=notrunc status=none
    expect_error "a header longer than the file is named" "header length .* exceeds the file size"
    broken; sed -i 's/"hidden_size": 64/"hidden_size": 48/' "$TMP/broken/config.json"
    expect_error "a shape that disagrees with config.json is named" "model.safetensors: tensor 'embeddings.word_embeddings.weight' has shape \[607, 64\], config.json implies \[607, 48\]"
    broken; rm "$TMP/broken/model.safetensors"
    expect_error "missing weights are named" "broken/model.safetensors: missing"
    broken; echo '[{"type": "x"}' > "$TMP/broken/modules.json"
    expect_error "malformed modules.json is named" "broken/modules.json"
    broken; sed -i 's/"pooling_mode_mean_tokens": true/"pooling_mode_mean_tokens": false/' "$TMP/broken/1_Pooling/config.json"
    expect_error "no pooling mode is named" "exactly one of mean, CLS or max pooling"
fi

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
