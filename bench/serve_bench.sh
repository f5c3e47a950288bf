#!/usr/bin/env bash
# HTTP serving benchmark (issue 6): wrk against `POST /api/messages/{id}/route` of
# `kanava serve` and of a Flask + PyTorch peer (bench/peers/flask_route.py, under gunicorn)
# serving the same endpoint with the same USE-lite encoder, head and routing rule, one after
# the other with identical wrk settings, on the same workspace.
#
# usage: bench/serve_bench.sh      (prints a Markdown table; results in build/serve-bench/)
#
# Environment (defaults in brackets):
#   DURATION [60]        seconds of each measured wrk run (after a WARMUP [5] s run)
#   WRK_THREADS [2]      wrk threads; CONNECTIONS [8] open connections
#   MESSAGES [300]       messages imported: the 48 of data/demo/messages.csv, then Banking77
#                        test texts from ../shared/datasets (else the demo ones repeated)
#   SERVE_THREADS [2]    `kanava serve --threads` (compute cores); HTTP_THREADS [4] `--http-threads`
#   QUANTIZE [0]         1: Kanava serves an int8 bundle (train --quantize), the peer the F32 one
#   PEER_WORKERS [2]     gunicorn worker processes (each loads the model), PEER_THREADS [2]
#                        threads per worker (gthread), PEER_TORCH_THREADS [1] torch threads
#                        per worker; PEER_SERVER=flask runs Flask's threaded server instead
#   KANAVA_PORT [18080], PEER_PORT [18090]
#
# Setup: a fresh workspace build/serve-bench/ws with the 12 topics of data/demo/topics.csv,
# every one automatable at threshold 0.8 with its English reply; MESSAGES messages (language
# en); a service token; a frozen USE-lite bundle trained on data/demo/messages.csv. Before
# the runs every message is routed once by both servers and their decisions compared.
# Memory: the server's VmRSS (for gunicorn, master + workers) sampled every second from
# /proc during the measured run; start, max and end are reported.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-5}
WRK_THREADS=${WRK_THREADS:-2}
CONNECTIONS=${CONNECTIONS:-8}
MESSAGES=${MESSAGES:-300}
SERVE_THREADS=${SERVE_THREADS:-2}
HTTP_THREADS=${HTTP_THREADS:-4}
QUANTIZE=${QUANTIZE:-0}
PEER_SERVER=${PEER_SERVER:-gunicorn}
PEER_WORKERS=${PEER_WORKERS:-2}
PEER_THREADS=${PEER_THREADS:-2}
PEER_TORCH_THREADS=${PEER_TORCH_THREADS:-1}
KANAVA_PORT=${KANAVA_PORT:-18080}
PEER_PORT=${PEER_PORT:-18090}
PY=/usr/bin/python3

scripts/install-deps.sh --bench
make -s -j2 all
KANAVA=$ROOT/build/kanava
"$KANAVA" model fetch use-lite >/dev/null

OUT=$ROOT/build/serve-bench
WS=$OUT/ws
BUNDLE=$OUT/bundle
rm -rf "$OUT"
mkdir -p "$OUT"

KPID= PPID_= SAMPLER=
cleanup() {
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
    [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
    [ -n "$PPID_" ] && kill "$PPID_" 2>/dev/null && wait "$PPID_" 2>/dev/null
    return 0
}
trap cleanup EXIT

for port in "$KANAVA_PORT" "$PEER_PORT"; do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
        echo "serve_bench: port $port is in use (set KANAVA_PORT / PEER_PORT)" >&2
        exit 1
    fi
done

# --- workspace: topics, messages, token, bundle ---------------------------------------------
echo "setting up $WS ($MESSAGES messages) and training the bundle..." >&2
"$KANAVA" init --workspace "$WS" >/dev/null
$PY - "$KANAVA" "$WS" "$MESSAGES" "$ROOT/../shared/datasets/banking77/test.csv" "$OUT/messages.csv" <<'PY'
import csv, os, subprocess, sys
kanava, ws, n, b77, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
with open("data/demo/topics.csv", encoding="utf-8", newline="") as f:
    for t in csv.DictReader(f):
        subprocess.run([kanava, "topic", "add", t["name"], "--description", t["description"],
                        "--threshold", "0.8", "--automate", "--workspace", ws], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([kanava, "topic", "reply", t["name"], "en", t["reply_en"], "--workspace", ws],
                       check=True, stdout=subprocess.DEVNULL)
# The demo messages (the topics' own domain), then Banking77 test texts spread over the set
# (it is sorted by topic) up to n; without Banking77, the demo messages repeated.
with open("data/demo/messages.csv", encoding="utf-8", newline="") as f:
    texts = [r["text"] for r in csv.DictReader(f)][:n]
src = "data/demo/messages.csv"
if os.path.exists(b77) and n > len(texts):
    src += " + " + os.path.relpath(b77)
    with open(b77, encoding="utf-8", newline="") as f:
        more = [r["text"] for r in csv.DictReader(f)]
    k = n - len(texts)
    texts += [more[(i * len(more)) // k] for i in range(k)]
else:
    texts = [texts[i % len(texts)] for i in range(n)]
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["external_id", "language", "text"])
    for i, t in enumerate(texts):
        w.writerow(["bench-%d" % (i + 1), "en", t])
print("messages: %d texts from %s" % (len(texts), src), file=sys.stderr)
PY
"$KANAVA" import "$OUT/messages.csv" --workspace "$WS" >&2
TOKEN=$("$KANAVA" token create --role service --name bench-service --workspace "$WS")
"$KANAVA" train --method frozen --data data/demo/messages.csv --label-column topic --out "$BUNDLE" \
    >"$OUT/train.log" 2>&1
$PY -c 'import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("SELECT id FROM messages ORDER BY id")]' \
    "$WS/kanava.db" >"$OUT/ids.txt"
echo "messages imported: $(wc -l <"$OUT/ids.txt"); topics: $("$KANAVA" topic list --workspace "$WS" | wc -l) lines" >&2

# --- helpers -----------------------------------------------------------------------------
wait_healthz() { # URL PID
    for _ in $(seq 1 600); do
        curl -sf "$1/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
pids_of() { # PID and its children
    echo "$1"
    cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true
}
rss_kib() { # sum of VmRSS over PIDS
    local total=0 p v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
sampler() { # PID FILE: one "seconds rss_kib" line a second
    local t=0
    while :; do
        echo "$t $(rss_kib $(pids_of "$1"))" >>"$2"
        sleep 1
        t=$((t + 1))
    done
}
# run_wrk NAME URL PID: warm-up, then the measured run with RSS sampling
run_wrk() {
    local name="$1" url="$2" pid="$3"
    export KANAVA_BENCH_TOKEN="$TOKEN" KANAVA_BENCH_IDS="$OUT/ids.txt"
    echo "== $name: warm-up ${WARMUP}s" >&2
    KANAVA_BENCH_OUT="$OUT/$name-warmup.json" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" \
        -s bench/peers/serve_route.lua "$url" >/dev/null
    echo "== $name: wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency" >&2
    : >"$OUT/$name-rss.txt"
    local log_before=0
    [ "$name" = kanava ] && log_before=$(wc -l <"$OUT/kanava-serve.log")
    local cpu0 busy0
    cpu0=$(cpu_ticks $(pids_of "$pid")); busy0=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    sampler "$pid" "$OUT/$name-rss.txt" &
    SAMPLER=$!
    KANAVA_BENCH_OUT="$OUT/$name.json" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -s bench/peers/serve_route.lua "$url" | tee "$OUT/$name-wrk.txt" >&2
    # CPU: the server's cores in use over the run, and the whole machine's busy share (wrk included)
    local cpu1 busy1
    cpu1=$(cpu_ticks $(pids_of "$pid")); busy1=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    echo "$cpu0 $cpu1 $busy0 $busy1 $(getconf CLK_TCK) $DURATION" >"$OUT/$name-cpu.txt"
    sleep 1
    kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=
    # Kanava's own request log: handling time of the measured requests (first header to response queued)
    [ "$name" = kanava ] && tail -n +"$((log_before + 1))" "$OUT/kanava-serve.log" |
        awk '$3 ~ /\/route$/ {sub(/ms$/, "", $5); print $5}' >"$OUT/kanava-handling-ms.txt"
    return 0
}
cpu_ticks() { # utime + stime of PIDS, in clock ticks
    local total=0 p
    for p in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0)))
    done
    echo "$total"
}
blas_of() { # the BLAS libraries a process has mapped
    awk '$6 ~ /blas/ {print $6}' /proc/"$1"/maps | sort -u | xargs -r -n1 realpath | sort -u | tr '\n' ' '
}

# --- start both servers, compare their decisions on every message ------------------------
KURL=http://127.0.0.1:$KANAVA_PORT
PURL=http://127.0.0.1:$PEER_PORT
# QUANTIZE=1: Kanava serves an int8 bundle (train --quantize); the peer keeps the F32 one.
KBUNDLE=$BUNDLE
if [ "$QUANTIZE" = 1 ]; then
    KBUNDLE=$OUT/bundle-int8
    "$KANAVA" train --quantize --method frozen --data data/demo/messages.csv --label-column topic --out "$KBUNDLE" \
        >>"$OUT/train.log" 2>&1
fi
"$KANAVA" serve --workspace "$WS" --model "$KBUNDLE" --port "$KANAVA_PORT" --threads "$SERVE_THREADS" \
    --http-threads "$HTTP_THREADS" \
    2>"$OUT/kanava-serve.log" &
KPID=$!
wait_healthz "$KURL" "$KPID" || { echo "serve_bench: kanava serve did not start" >&2; cat "$OUT/kanava-serve.log" >&2; exit 1; }

export FLASK_ROUTE_WORKSPACE="$WS" FLASK_ROUTE_BUNDLE="$BUNDLE" FLASK_ROUTE_TORCH_THREADS="$PEER_TORCH_THREADS"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
if [ "$PEER_SERVER" = flask ]; then
    PEER_DESC="Flask $($PY -c 'import flask; print(flask.__version__)' 2>/dev/null) threaded dev server (werkzeug), torch threads $PEER_TORCH_THREADS"
    $PY bench/peers/flask_route.py --workspace "$WS" --bundle "$BUNDLE" --port "$PEER_PORT" 2>"$OUT/flask.log" &
else
    PEER_DESC="Flask $($PY -c 'import flask; print(flask.__version__)' 2>/dev/null) under gunicorn $(gunicorn --version 2>&1 | awk '{print $NF}' | tr -d '()'), $PEER_WORKERS worker(s) x $PEER_THREADS threads (gthread), torch threads $PEER_TORCH_THREADS per worker"
    gunicorn --chdir bench/peers -k gthread -w "$PEER_WORKERS" --threads "$PEER_THREADS" \
        -b "127.0.0.1:$PEER_PORT" --log-level warning 'flask_route:create_app()' 2>"$OUT/flask.log" &
fi
PPID_=$!
wait_healthz "$PURL" "$PPID_" || { echo "serve_bench: the Flask peer did not start" >&2; cat "$OUT/flask.log" >&2; exit 1; }
# gunicorn answers /healthz from the first worker that is up: wait for every worker's model
for _ in $(seq 1 600); do
    [ "$(grep -c '^flask_route: [0-9]* messages' "$OUT/flask.log")" -ge $([ "$PEER_SERVER" = flask ] && echo 1 || echo "$PEER_WORKERS") ] && break
    sleep 0.1
done

echo "routing every message once on both servers (warm-up and agreement check)..." >&2
$PY - "$KURL" "$PURL" "$TOKEN" "$OUT/ids.txt" <<'PY' | tee "$OUT/agreement.txt" >&2
import json, sys, urllib.request
kurl, purl, token, ids_file = sys.argv[1:5]
ids = [l.strip() for l in open(ids_file) if l.strip()]
def route(base, i):
    req = urllib.request.Request("%s/api/messages/%s/route" % (base, i), method="POST",
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200, r.status
        return json.load(r)
same = auto = 0
maxdiff = 0.0
diffs = []
for i in ids:
    k, p = route(kurl, i), route(purl, i)
    if (k["action"], k["topic"], k["reply"]) == (p["action"], p["topic"], p["reply"]):
        same += 1
    else:
        diffs.append((i, k["action"], k["topic"], round(k["probability"], 4), p["action"], p["topic"], round(p["probability"], 4)))
    auto += k["action"] == "auto_reply"
    maxdiff = max(maxdiff, abs(k["probability"] - p["probability"]))
print("agreement: %d of %d decisions equal (action, topic, reply); Kanava auto_reply %d, human %d; "
      "max |probability difference| %.2e" % (same, len(ids), auto, len(ids) - auto, maxdiff))
for d in diffs[:5]:
    print("  differs: id %s kanava %s %s %.4f / flask %s %s %.4f" % d)
PY

KBLAS=$(blas_of "$KPID")
PBLAS_LINE=$(grep -m1 '^flask_route: BLAS' "$OUT/flask.log" || echo "?")

# --- the runs: Kanava, then the peer --------------------------------------------------------
run_wrk kanava "$KURL" "$KPID"
kill "$KPID"; wait "$KPID" 2>/dev/null || true; KPID=
run_wrk flask "$PURL" "$PPID_"
kill "$PPID_"; wait "$PPID_" 2>/dev/null || true; PPID_=

# --- report --------------------------------------------------------------------------------
cat >"$OUT/env.txt" <<EOF
machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)
wrk: $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency, script bench/peers/serve_route.lua (same machine as the servers)
kanava: kanava serve --threads $SERVE_THREADS --http-threads $HTTP_THREADS (micro-batched model calls)$([ "$QUANTIZE" = 1 ] && echo ", int8 bundle"); BLAS mapped: $KBLAS
peer: $PEER_DESC
peer BLAS: ${PBLAS_LINE#flask_route: BLAS }
EOF
cat "$OUT/env.txt"
$PY - "$OUT" <<'PY'
import json, sys
d = sys.argv[1]
def load(name):
    r = json.load(open("%s/%s.json" % (d, name)))
    rss = [int(l.split()[1]) / 1024 for l in open("%s/%s-rss.txt" % (d, name)) if len(l.split()) == 2 and int(l.split()[1]) > 0]
    r["rss"] = (rss[0], max(rss), rss[-1]) if rss else (0, 0, 0)
    e = r["errors"]
    r["non2xx"] = e["status"]
    r["sock"] = e["connect"] + e["read"] + e["write"] + e["timeout"]
    return r
def cpu(name):
    c0, c1, b0, t0, b1, t1, hz, dur = (float(x) for x in open("%s/%s-cpu.txt" % (d, name)).read().split())
    return (c1 - c0) / hz / dur, 100.0 * (b1 - b0) / max(1.0, t1 - t0)
k, p = load("kanava"), load("flask")
for name, r in (("kanava", k), ("flask", p)):
    r["cores"], r["busy"] = cpu(name)
print()
print("| server | requests/s | p50 ms | p99 ms | errors (non-2xx / socket) | RSS MiB start / max / end |")
print("|---|---|---|---|---|---|")
for name, r in (("Kanava (C)", k), ("Flask + PyTorch", p)):
    print("| %s | %.0f | %.2f | %.2f | %d / %d | %.0f / %.0f / %.0f |" % (
        name, r["rps"], r["lat_ms"]["p50"], r["lat_ms"]["p99"], r["non2xx"], r["sock"], *r["rss"]))
ratio = k["rps"] / p["rps"] if p["rps"] else float("inf")
print()
print("Kanava / Flask requests/s: %.1fx" % ratio)
print()
for name, r in (("Kanava", k), ("Flask", p)):
    print("- %s: the server used %.2f cores on average; the machine was %.0f %% busy (wrk included)"
          % (name, r["cores"], r["busy"]))
try:
    h = sorted(float(x) for x in open("%s/kanava-handling-ms.txt" % d) if x.strip())
    q = lambda f: h[max(0, min(len(h) - 1, int(-(-f * len(h) // 1)) - 1))]
    print("- Kanava's request log (first header to response queued, measured run): %d requests, "
          "p50 %.2f ms, p99 %.2f ms; mean service time at this rate %.2f ms per request"
          % (len(h), q(0.5), q(0.99), 1e3 / k["rps"]))
except (OSError, ValueError):
    pass
s, m, e = k["rss"]
stable = e - s <= max(5.0, 0.05 * s)
checks = [
    ("Kanava >= 400 requests/s", "%.0f" % k["rps"], k["rps"] >= 400),
    ("Kanava p99 <= 50 ms", "%.2f ms" % k["lat_ms"]["p99"], k["lat_ms"]["p99"] <= 50),
    ("zero errors (Kanava)", "%d non-2xx, %d socket" % (k["non2xx"], k["sock"]), k["non2xx"] + k["sock"] == 0),
    ("stable memory (Kanava; end - start <= max(5 MiB, 5 %))", "%.1f -> %.1f MiB (max %.1f)" % (s, e, m), stable),
    ("Kanava >= 10x Flask requests/s", "%.1fx" % ratio, ratio >= 10),
]
print()
print("| target | measured | met |")
print("|---|---|---|")
for what, got, ok in checks:
    print("| %s | %s | %s |" % (what, got, "yes" if ok else "**no**"))
if p["non2xx"] + p["sock"]:
    print("\n(the Flask peer had %d non-2xx and %d socket errors)" % (p["non2xx"], p["sock"]))
PY
