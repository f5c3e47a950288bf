#!/usr/bin/python3
"""Serving peer for bench/serve_bench.sh: `POST /api/messages/{id}/route` in Flask
(Debian python3-flask) with the PyTorch reference USE-lite (tools/torch/use_lite.py).

It serves the same endpoint shape as `kanava serve`:
  - `Authorization: Bearer TOKEN`, checked against the SHA-256 of the workspace's unrevoked
    admin and service tokens (401 / 403 like Kanava);
  - the message text from an in-memory copy of the workspace's messages (read once at start
    from kanava.db with Python's sqlite3), 404 for an unknown id;
  - the embedding from the reference USE-lite model loaded from the bundle's encoder/
    directory (the same weights Kanava uses), tokenized by tools/torch/use_tokenizer.py;
  - the bundle's trained head (head.safetensors) and temperature (bundle.json), a numpy
    softmax in float64 as Kanava does;
  - Kanava's routing rule (src/route/route.c): the top topic must be known to the workspace
    and automatable, reach its threshold, lead the second topic by the margin, and have a
    reply in the message's language or the fallback language; else a person;
  - the same JSON answer: message_id, action, topic, probability, margin, threshold, reason,
    reply. The message's status is updated in memory only: unlike Kanava it does not write
    the prediction and decision to the database.

Run it with gunicorn (what bench/serve_bench.sh does):
    FLASK_ROUTE_WORKSPACE=WS FLASK_ROUTE_BUNDLE=BUNDLE_DIR \\
    gunicorn --chdir bench/peers -k gthread -w 2 --threads 2 -b 127.0.0.1:8090 'flask_route:create_app()'
or with Flask's own threaded server:
    /usr/bin/python3 bench/peers/flask_route.py --workspace WS --bundle DIR [--port 8090]
Environment: FLASK_ROUTE_TORCH_THREADS (torch intra-op threads per process, 1),
FLASK_ROUTE_MARGIN (0.1), FLASK_ROUTE_FALLBACK (en), OMP_WAIT_POLICY (PASSIVE unless set).
At start each process prints torch's build configuration and the BLAS library it has mapped
to stderr, as one line starting with "flask_route: BLAS".
"""

import hashlib
import hmac
import json
import os
import sqlite3
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FLT_EPSILON = 1.1920928955078125e-07  # route.c: the slack of the >= comparisons


def _setup_threads(n):
    # Thread pools are sized when the libraries load: before importing numpy and torch.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    # See bench/peers/torch_embed.py: with 2 cores, spinning OpenMP workers starve OpenBLAS.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _blas_line(torch):
    sys.path.insert(0, HERE)
    from torch_embed import loaded_libs, openblas_info
    info = ""
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO=" in line:
            info = ", ".join(i.strip() for i in line.split(":", 1)[1].split(",")
                             if i.strip().startswith(("BLAS_INFO=", "LAPACK_INFO=", "USE_OPENMP=")))
    libs = loaded_libs(("blas", "mkl_rt", "libmkl", "blis"))
    cfg, threads, lib = openblas_info(libs)
    return ("flask_route: BLAS torch %s (%s); mapped: %s; %s; torch intra-op threads %d, OMP_WAIT_POLICY=%s"
            % (torch.__version__, info, ", ".join(libs) or "none",
               ("%s, %d threads (%s)" % (cfg, threads, lib)) if cfg else "OpenBLAS not found",
               torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY")))


def _fmt_pair(a, b):
    """route.c format_pair: 3 decimals, more (up to 9) until the two differ."""
    for d in range(3, 10):
        sa, sb = "%.*f" % (d, a), "%.*f" % (d, b)
        if sa != sb:
            break
    return sa, sb


def create_app(workspace=None, bundle=None):
    workspace = workspace or os.environ["FLASK_ROUTE_WORKSPACE"]
    bundle = bundle or os.environ["FLASK_ROUTE_BUNDLE"]
    margin_needed = float(os.environ.get("FLASK_ROUTE_MARGIN", "0.1"))
    fallback = os.environ.get("FLASK_ROUTE_FALLBACK", "en")
    _setup_threads(int(os.environ.get("FLASK_ROUTE_TORCH_THREADS", "1")))

    import numpy as np
    import torch
    from flask import Flask, Response, request
    sys.path.insert(0, os.path.join(ROOT, "tools", "torch"))
    import use_lite
    from use_tokenizer import UseTokenizer

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    # --- the bundle: encoder, head, temperature, classes
    with open(os.path.join(bundle, "bundle.json"), encoding="utf-8") as f:
        desc = json.load(f)
    if desc.get("method") not in ("frozen", "setfit"):
        sys.exit("flask_route: %s: method %r has no encoder + head" % (bundle, desc.get("method")))
    classes = desc["classes"]
    enc_dir = os.path.join(bundle, desc.get("encoder", "encoder"))
    model = use_lite.from_model_dir(enc_dir)
    tok = UseTokenizer.from_file(use_lite.find_vocab(model_dir=enc_dir))
    head, _ = use_lite.read_safetensors(os.path.join(bundle, desc["head"]["file"]))
    W = head["head.weight"].astype(np.float64)  # [K, 512]
    b = head["head.bias"].astype(np.float64)
    temperature = float(desc["head"].get("temperature") or 1.0)
    if temperature <= 0:
        temperature = 1.0

    # --- in-memory copy of the workspace: messages, topics with replies, tokens
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(workspace, "kanava.db"), uri=True)
    messages = {mid: {"text": text, "language": lang, "status": status}
                for mid, text, lang, status in db.execute("SELECT id, text, language, status FROM messages")}
    topics = {name: {"automatable": bool(auto), "threshold": float(th), "replies": {}}
              for name, auto, th in db.execute("SELECT name, automatable, threshold FROM topics")}
    for name, lang, text in db.execute(
            "SELECT t.name, r.language, r.text FROM replies r JOIN topics t ON t.id = r.topic_id"):
        topics[name]["replies"][lang.lower()] = text
    tokens = [(h, role) for h, role in db.execute("SELECT hash, role FROM tokens WHERE revoked_at IS NULL")]
    db.close()
    status_lock = threading.Lock()

    print(_blas_line(torch), file=sys.stderr, flush=True)
    print("flask_route: %d messages, %d topics, %d classes, temperature %.4f, pid %d"
          % (len(messages), len(topics), len(classes), temperature, os.getpid()), file=sys.stderr, flush=True)

    def embed(text):
        ids, lengths = use_lite.pad_batch([tok.encode(text)])
        with torch.inference_mode():
            return model(ids, lengths)[0].numpy().astype(np.float64)

    def predict(text):
        z = (W @ embed(text) + b) / temperature
        z = np.exp(z - z.max())
        return (z / z.sum()).astype(np.float32)  # Kanava hands float probabilities to routing

    def reply_for(t, language):
        cands, n_message = [], 0
        for i, tag in enumerate((language, fallback)):
            tag = (tag or "").replace("_", "-").lower()
            while tag:
                if tag not in cands:
                    cands.append(tag)
                tag = tag.rpartition("-")[0]
            if i == 0:
                n_message = len(cands)
        for k, tag in enumerate(cands):
            if tag in t["replies"]:
                return tag, t["replies"][tag], k >= n_message
        return None, None, False

    def decide(proba, language):
        order = np.argsort(-proba, kind="stable")
        top = int(order[0])
        second = int(order[1]) if len(order) > 1 else -1
        p = float(proba[top])
        margin = p - float(proba[second]) if second >= 0 else p
        name = classes[top]
        t = topics.get(name)
        threshold = t["threshold"] if t else 1.0
        d = {"topic": name, "probability": p, "margin": margin, "threshold": threshold,
             "action": "human", "reply": None}
        if t is None:
            d["reason"] = "topic '%s' is not configured in this workspace" % name
        elif not t["automatable"]:
            d["reason"] = "topic '%s' is never answered automatically" % name
        elif p < threshold - FLT_EPSILON:
            a, c = _fmt_pair(p, threshold)
            d["reason"] = "probability %s of '%s' is below its threshold %s" % (a, name, c)
        elif margin < margin_needed - FLT_EPSILON:
            a, c = _fmt_pair(margin, margin_needed)
            d["reason"] = "margin %s to '%s' is below %s" % (a, classes[second], c)
        else:
            nums = "probability %.3f >= threshold %.3f, margin %.3f >= %.3f" % (
                max(p, threshold), threshold, max(margin, margin_needed), margin_needed)
            lang, text, is_fallback = reply_for(t, language)
            if text is None:
                d["reason"] = "no reply for '%s'" % name
            else:
                d["action"] = "auto_reply"
                d["reply"] = {"language": lang, "text": text}
                d["reason"] = "%s, reply in '%s'%s" % (nums, lang, " (fallback)" if is_fallback else "")
        return d

    app = Flask("flask_route")

    def error(status, code, message):
        body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")) + "\n"
        return Response(body, status=status, mimetype="application/json")

    def role_of(header):
        if not header or not header.startswith("Bearer "):
            return None
        h = hashlib.sha256(header[7:].strip().encode("utf-8")).hexdigest()
        role = None
        for stored, r in tokens:  # every token compared, like Kanava (no early exit)
            if hmac.compare_digest(stored, h):
                role = r
        return role

    @app.get("/healthz")
    def healthz():
        return Response('{"status":"ok"}\n', mimetype="application/json")

    @app.post("/api/messages/<mid>/route")
    def route(mid):
        role = role_of(request.headers.get("Authorization"))
        if role is None:
            return error(401, "unauthorized", "a valid Bearer token is needed")
        if role not in ("admin", "service"):
            return error(403, "forbidden", "role '%s' may not call this endpoint" % role)
        m = messages.get(int(mid)) if mid.isdigit() else None
        if m is None:
            return error(404, "not_found", "message %s does not exist" % mid[:40])
        d = decide(predict(m["text"]), m["language"])
        with status_lock:
            m["status"] = "auto_answered" if d["action"] == "auto_reply" else "queued"
        out = {"message_id": int(mid), "action": d["action"], "topic": d["topic"],
               "probability": d["probability"], "margin": d["margin"], "threshold": d["threshold"],
               "reason": d["reason"], "reply": d["reply"]}
        return Response(json.dumps(out, separators=(",", ":")) + "\n", mimetype="application/json")

    return app


def main():
    import argparse
    ap = argparse.ArgumentParser(description="Flask + PyTorch routing peer (Flask's threaded server)")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090)
    args = ap.parse_args()
    app = create_app(args.workspace, args.bundle)
    app.run(host=args.bind, port=args.port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
