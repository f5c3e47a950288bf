#!/usr/bin/env bash
# Crash safety of the workspace: a `kanava import` and a `kanava serve` taking message batches
# are killed with SIGKILL mid-way; the database must open, hold only whole batches (each
# batch is one transaction), and a re-run must complete the work without duplicates.
# Usage: tests/crash_test.sh BUILD_DIR  (needs /usr/bin/python3, curl and jq)
set -u
BUILD="$(cd "$1" && pwd)"
BIN="$BUILD/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$BIN" ] || { echo "no binary at $1/kanava"; echo "crash: 0 passed, 1 failed"; exit 1; }
# ok/bad/check/quiet, test_summary, $TMP and $PID cleaned at exit, start_kanava_server
. "$ROOT/tests/lib.sh"
test_tmp_dir
POSTER=''
# a killed run must not leave its server or the poster running
cleanup() {
    for p in $PID $POSTER; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PID=; test_cleanup
}
trap cleanup EXIT
unset KANAVA_WORKSPACE
# sql WS QUERY: the first row of QUERY on WS's database, fields joined by |
sql() { /usr/bin/python3 -c 'import sqlite3, sys; print("|".join(str(v) for v in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()))' "$1/kanava.db" "$2"; }
integrity() { [ "$(sql "$1" "PRAGMA integrity_check")" = ok ]; }
# wait_rows WS N: polls the database until it holds at least N messages (at most 60 s)
wait_rows() {
    /usr/bin/python3 - "$1/kanava.db" "$2" <<'PY'
import sqlite3, sys, time
db, want = sys.argv[1], int(sys.argv[2])
end = time.time() + 60
while time.time() < end:
    try:
        c = sqlite3.connect(db, timeout=1)
        n = c.execute("SELECT count(*) FROM messages").fetchone()[0]
        c.close()
        if n >= want:
            sys.exit(0)
    except sqlite3.Error:
        pass
    time.sleep(0.002)
sys.exit(1)
PY
}

# ---------------------------------------------------------------------------------------
# 1. kanava import, killed mid-way (three times), then resumed
ROWS=300000 BATCH=1000
WS="$TMP/import-ws"
/usr/bin/python3 - "$TMP/big.csv" "$ROWS" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("external_id,channel,language,text\n")
    for i in range(1, int(sys.argv[2]) + 1):
        f.write(f"{i},email,en,Crash test message {i}: my card {i} was charged twice\n")
PY
"$BIN" init --workspace "$WS" >/dev/null 2>&1
check "a workspace for the import" [ -f "$WS/kanava.db" ]
# prefix_ok WS: messages are external ids 1..N, each once, with its own text
prefix_ok() {
    local n
    n=$(sql "$1" "SELECT count(*) FROM messages")
    [ "$(sql "$1" "SELECT count(DISTINCT external_id), min(CAST(external_id AS INTEGER)), max(CAST(external_id AS INTEGER)),
                      sum(text != 'Crash test message ' || external_id || ': my card ' || external_id || ' was charged twice')
                   FROM messages")" = "$n|1|$n|0" ]
}
prev=0
for round in 1 2 3; do
    want=$((prev + 3000 * round))
    "$BIN" import "$TMP/big.csv" --batch "$BATCH" --workspace "$WS" 2>"$TMP/import.$round.log" &
    PID=$!
    if wait_rows "$WS" "$want"; then
        kill -KILL "$PID" 2>/dev/null
    fi
    { wait "$PID"; } 2>/dev/null; rc=$?; PID= # (no "Killed" notice from the shell)
    check "round $round: the import is killed by SIGKILL mid-way" [ $rc -eq 137 ]
    n=$(sql "$WS" "SELECT count(*) FROM messages")
    check "round $round: the database opens and is intact" integrity "$WS"
    check "round $round: kanava opens the workspace" quiet "$BIN" topic list --workspace "$WS"
    check "round $round: some rows were committed, not all ($n of $ROWS)" [ "$n" -ge "$want" -a "$n" -lt "$ROWS" ]
    check "round $round: only whole batches of $BATCH ($n rows)" [ $((n % BATCH)) -eq 0 ]
    check "round $round: the stored rows are the file's first $n, each once" prefix_ok "$WS"
    prev=$n
done
"$BIN" import "$TMP/big.csv" --batch "$BATCH" --workspace "$WS" 2>"$TMP/import.final.log"; rc=$?
check "the import run again completes (exit 0)" [ $rc -eq 0 ]
check "it adds the missing rows and skips the stored ones" \
    grep -q "imported $ROWS rows: $((ROWS - prev)) added, $prev already there, 0 invalid" "$TMP/import.final.log"
check "then the workspace holds exactly $ROWS messages" [ "$(sql "$WS" "SELECT count(*) FROM messages")" = "$ROWS" ]
check "each row once, with its own text" prefix_ok "$WS"
check "the database is intact" integrity "$WS"

# ---------------------------------------------------------------------------------------
# 2. kanava serve taking batches of 500 messages (POST /api/messages), killed mid-way
WS="$TMP/http-ws"
NB=120 PER=500
"$BIN" init --workspace "$WS" >/dev/null 2>&1
TOKEN=$("$BIN" token create --role service --workspace "$WS" 2>"$TMP/setup.log")
"$BIN" train --method tfidf --data "$ROOT/data/demo/messages.csv" --label-column topic --out "$TMP/model" >>"$TMP/setup.log" 2>&1
if [ -n "$TOKEN" ] && [ -f "$TMP/model/bundle.json" ]; then ok "a workspace, a token and a bundle for the server"
else bad "a workspace, a token and a bundle for the server"; cat "$TMP/setup.log"; fi
mkdir -p "$TMP/batches"
/usr/bin/python3 - "$TMP/batches" "$NB" "$PER" <<'PY'
import json, sys
d, nb, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for b in range(1, nb + 1):
    msgs = [{"external_id": f"h{b}-{j}", "language": "en", "text": f"HTTP crash test batch {b} message {j}"}
            for j in range(1, per + 1)]
    with open(f"{d}/{b}.json", "w") as f:
        json.dump({"messages": msgs}, f)
PY
LOG="$TMP/server.log"
# post_batches FIRST LAST OUT: posts the batches in order, one "batch status" line each to
# OUT; stops after the first one that gets no 2xx
post_batches() {
    local b status
    for b in $(seq "$1" "$2"); do
        status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
            -H 'Content-Type: application/json' --data-binary "@$TMP/batches/$b.json" "http://127.0.0.1:$PORT/api/messages")
        echo "$b $status" >>"$3"
        case "$status" in 2??) ;; *) return ;; esac
    done
}
if ! start_kanava_server "$LOG" --workspace "$WS" --model "$TMP/model" --threads 2; then
    bad "the server starts"; cat "$LOG"
else
    ok "the server starts"
    : >"$TMP/posted"
    post_batches 1 "$NB" "$TMP/posted" &
    POSTER=$!
    # kill the server once 20 batches were acknowledged (or the poster gave up)
    for _ in $(seq 1 1200); do
        [ "$(grep -c ' 2[0-9][0-9]$' "$TMP/posted")" -ge 20 ] && break
        kill -0 "$POSTER" 2>/dev/null || break
        sleep 0.01
    done
    kill -KILL "$PID"; { wait "$PID"; } 2>/dev/null; PID=
    wait "$POSTER"; POSTER=
    acked=$(grep -c ' 2[0-9][0-9]$' "$TMP/posted")
    check "the server was killed mid-way ($acked of $NB batches acknowledged)" [ "$acked" -ge 20 -a "$acked" -lt "$NB" ]
    check "the database is intact after the kill" integrity "$WS"
    # every acknowledged batch is there in full; any other batch entirely or not at all
    check "every acknowledged batch is stored in full, no batch in part" /usr/bin/python3 - "$WS/kanava.db" "$TMP/posted" "$NB" "$PER" <<'PY'
import sqlite3, sys
db, posted, nb, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
acked = {int(b) for b, s in (l.split() for l in open(posted)) if s.startswith("2")}
counts = dict.fromkeys(range(1, nb + 1), 0)
for (ext,) in sqlite3.connect(db).execute("SELECT external_id FROM messages"):
    counts[int(ext[1:].split("-")[0])] += 1
ok = True
for b, n in counts.items():
    if n not in (0, per) or (b in acked and n != per):
        print(f"batch {b}: {n} of {per} stored, acknowledged: {b in acked}")
        ok = False
stored = sum(1 for n in counts.values() if n)
if not acked <= {b for b, n in counts.items() if n} or stored > len(acked) + 1:
    print(f"{stored} batches stored, {len(acked)} acknowledged")
    ok = False
sys.exit(0 if ok else 1)
PY
    LOG="$TMP/server2.log" # the first server's log stays for the sanitizer check
    if ! start_kanava_server "$LOG" --workspace "$WS" --model "$TMP/model" --threads 2; then
        bad "the server starts again on the killed workspace"; cat "$LOG"
    else
        ok "the server starts again on the killed workspace"
        : >"$TMP/reposted"
        post_batches 1 "$NB" "$TMP/reposted"
        check "posting every batch again succeeds" [ "$(grep -c ' 20[01]$' "$TMP/reposted")" = "$NB" ]
        check "... adding nothing twice: $((NB * PER)) messages" [ "$(sql "$WS" "SELECT count(*) FROM messages")" = $((NB * PER)) ]
        kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
        check "the server stops cleanly (exit 0)" [ $rc -eq 0 ]
        check "the database is intact at the end" integrity "$WS"
    fi
fi
check "no sanitizer report" bash -c "! grep -q Sanitizer '$TMP'/server*.log '$TMP'/import.*.log"

test_summary crash
