#!/usr/bin/python3
"""Generate tools/torch/nfkc_delta.py: what Node's String.prototype.normalize
(ICU, Unicode 17 in the project's Node) knows about NFKC that this Python's
unicodedata (Unicode 14 on Debian 12) does not.

TF.js tokenizes with `str.normalize('NFKC')` of the JavaScript runtime, so the
reference ids follow the runtime's Unicode version. Characters assigned after
Python's Unicode version are "unassigned" to unicodedata: no decomposition,
combining class 0, no compositions. This script asks Node, for every code
point, for its NFD/NFKD/NFC and, for new combining marks, probes the
canonical combining class by how they reorder against marks of known class.
The result is three small tables used by use_tokenizer.nfkc():
  DECOMP   code point -> full compatibility decomposition (NFKD)
  CCC      code point -> canonical combining class (new non-zero ones)
  COMPOSE  (first, second) -> primary composite (new canonical pairs)

  /usr/bin/python3 tools/torch/gen_nfkc_delta.py [--node node]
"""

import argparse
import json
import os
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))

NODE_SCRIPT = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const cps = (s) => [...s].map((c) => c.codePointAt(0));
const unassigned = new Set(input.unassigned_in_python);
const out = { unicode: process.versions.unicode, node: process.version, chars: [], marks: [] };
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp < 0xe000) continue;
  const s = String.fromCodePoint(cp);
  const r = ['NFD', 'NFKD', 'NFC', 'NFKC'].map((f) => cps(s.normalize(f)));
  if (r.some((a) => a.length !== 1 || a[0] !== cp)) out.chars.push([cp, ...r]);
  if (/^\p{M}$/u.test(s) && unassigned.has(cp)) {
    // For each reference mark M of known class k: does X move before M in
    // NFD(a M X) (then 0 < ccc(X) < k) or after M in NFD(a X M) (ccc(X) > k)?
    const probes = input.reference_marks.map(([k, m]) => {
      const M = String.fromCodePoint(m);
      const before = cps(('a' + M + s).normalize('NFD'))[1] === cp;
      const after = cps(('a' + s + M).normalize('NFD'))[2] === cp;
      return [k, before, after];
    });
    out.marks.push([cp, probes]);
  }
}
console.log(JSON.stringify(out));
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--node", default="node")
    ap.add_argument("--out", default=os.path.join(HERE, "nfkc_delta.py"))
    args = ap.parse_args()

    unassigned = [cp for cp in range(0x110000)
                  if not (0xD800 <= cp < 0xE000) and unicodedata.category(chr(cp)) == "Cn"]
    reference = {}
    for cp in range(0x110000):
        ch = chr(cp)
        k = unicodedata.combining(ch)
        if k and k not in reference and unicodedata.normalize("NFD", ch) == ch:
            reference[k] = cp
    payload = {"unassigned_in_python": unassigned,
               "reference_marks": sorted(reference.items())}
    res = subprocess.run([args.node, "-e", NODE_SCRIPT], input=json.dumps(payload),
                         capture_output=True, text=True, check=True)
    data = json.loads(res.stdout)

    decomp, compose, ccc = {}, {}, {}
    for cp, nfd, nfkd, nfc, nfkc in data["chars"]:
        ch = chr(cp)
        py = [[ord(c) for c in unicodedata.normalize(f, ch)] for f in ("NFD", "NFKD", "NFC", "NFKC")]
        if py == [nfd, nfkd, nfc, nfkc]:
            continue
        if unicodedata.category(ch) != "Cn":
            sys.exit("U+%04X: normalization of an assigned character changed; "
                     "this delta scheme does not cover that" % cp)
        decomp[cp] = tuple(nfkd)
        if nfc == [cp] and len(nfd) >= 2:
            # Canonical composite: pair = (NFC of all but the last, last).
            first = "".join(chr(c) for c in nfd[:-1])
            res_first = subprocess.run([args.node, "-e",
                                        "process.stdout.write(JSON.stringify([...JSON.parse(require('fs')"
                                        ".readFileSync(0,'utf8')).normalize('NFC')].map(c=>c.codePointAt(0))))"],
                                       input=json.dumps(first), capture_output=True, text=True, check=True)
            f = json.loads(res_first.stdout)
            if len(f) != 1:
                sys.exit("U+%04X: cannot find its canonical pair" % cp)
            compose[(f[0], nfd[-1])] = cp
    for cp, probes in data["marks"]:
        lower = [k for k, before, _ in probes if before]   # ccc(X) < k
        higher = [k for k, _, after in probes if after]    # ccc(X) > k
        if not lower and not higher:
            continue  # class 0
        equal = [k for k, b, a in probes if not b and not a]
        cands = [k for k in equal if all(k < x for x in lower) and all(k > x for x in higher)]
        if len(cands) != 1:
            sys.exit("U+%04X: combining class not determined (%r)" % (cp, cands))
        ccc[cp] = cands[0]

    with open(args.out, "w", encoding="utf-8") as f:
        f.write('"""Generated by gen_nfkc_delta.py; do not edit.\n\n'
                "NFKC data of Unicode %s (Node %s) missing from this Python's unicodedata %s:\n"
                "DECOMP = full compatibility decompositions, CCC = canonical combining classes,\n"
                'COMPOSE = canonical pairs -> primary composite."""\n\n'
                % (data["unicode"], data["node"], unicodedata.unidata_version))
        f.write("UNICODE_VERSION = %r\nPYTHON_UNIDATA_VERSION = %r\n\n"
                % (data["unicode"], unicodedata.unidata_version))
        f.write("DECOMP = {\n")
        for cp in sorted(decomp):
            f.write("    0x%04X: (%s,),\n" % (cp, ", ".join("0x%04X" % c for c in decomp[cp])))
        f.write("}\n\nCCC = {\n")
        for cp in sorted(ccc):
            f.write("    0x%04X: %d,\n" % (cp, ccc[cp]))
        f.write("}\n\nCOMPOSE = {\n")
        for (a, b) in sorted(compose):
            f.write("    (0x%04X, 0x%04X): 0x%04X,\n" % (a, b, compose[(a, b)]))
        f.write("}\n")
    print("wrote %s: %d decompositions, %d combining classes, %d compositions (Unicode %s vs %s)"
          % (args.out, len(decomp), len(ccc), len(compose), data["unicode"], unicodedata.unidata_version))


if __name__ == "__main__":
    main()
