#!/usr/bin/env bash
# End-to-end check of `make demo` (scripts/demo.sh): sets up the demo workspace in a temporary
# directory (KANAVA_DEMO_NO_SERVE=1, twice: idempotent), serves it on a random free port and
# routes demo messages over HTTP with curl: an automatable topic is answered with its English
# reply, sensitive topics go to a person, a Finnish message gets the Finnish reply; then runs
# the demo with serving and tries the curl commands it prints.
# Usage: tests/demo_test.sh BUILD_DIR  (needs curl, jq, python3 and the use-lite model, which
# the demo fetches when it is missing)
set -u
BUILD="$(cd "$1" && pwd)"
BIN="$BUILD/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$BIN" ] || { echo "no binary at $1/kanava"; echo "demo: 0 passed, 1 failed"; exit 1; }
# ok/bad/check, test_summary, $TMP and $PID cleaned at exit, start_kanava_server, wait_healthz
. "$ROOT/tests/lib.sh"
test_tmp_dir
DEMO_PID=''
# the demo runs in its own process group (setsid): stop the whole group
cleanup() {
    if [ -n "$DEMO_PID" ]; then kill -TERM -- "-$DEMO_PID" 2>/dev/null; wait "$DEMO_PID" 2>/dev/null; fi
    test_cleanup
}
trap cleanup EXIT
finish() { test_summary demo; exit; }
unset KANAVA_WORKSPACE PORT
WS="$TMP/ws"
sql() { /usr/bin/python3 -c 'import sqlite3, sys; print("|".join(str(v) for v in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()))' "$WS/kanava.db" "$1"; }
# topic_field NAME COLUMN: a field of data/demo/topics.csv
topic_field() {
    /usr/bin/python3 -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    if r["name"] == sys.argv[2]: print(r[sys.argv[3]])' "$ROOT/data/demo/topics.csv" "$1" "$2"
}
demo() { KANAVA_BIN="$BIN" DEMO_WORKSPACE="$WS" "$ROOT/scripts/demo.sh"; }

# --- the demo workspace, without serving
KANAVA_DEMO_NO_SERVE=1 demo >"$TMP/out1" 2>"$TMP/err1"; rc=$?
check "the demo sets up the workspace (exit 0)" [ $rc -eq 0 ]
[ $rc -eq 0 ] || { cat "$TMP/out1" "$TMP/err1"; finish; }
TOKEN1=$(sed -n 's/^admin token: //p' "$TMP/out1")
check "it prints an admin token" grep -qxE '[0-9a-f]{64}' <<<"$TOKEN1"
check "it says how to serve the workspace" grep -qF "serve --workspace $WS --model $WS/models/demo" "$TMP/out1"
check "its output is short (at most 10 lines)" [ "$(cat "$TMP/out1" "$TMP/err1" | wc -l)" -le 10 ]
n_msgs=$(($(wc -l <"$ROOT/data/demo/messages.csv") - 1))
n_topics=$(($(wc -l <"$ROOT/data/demo/topics.csv") - 1))
check "every demo message is imported" [ "$(sql "SELECT count(*) FROM messages")" = "$n_msgs" ]
check "with external ids demo-N and language en" \
    [ "$(sql "SELECT count(*) FROM messages WHERE external_id = 'demo-' || (id - (SELECT min(id) FROM messages) + 1) AND language = 'en'")" = "$n_msgs" ]
check "with the texts of messages.csv, unchanged" /usr/bin/python3 - "$ROOT/data/demo/messages.csv" "$WS/kanava.db" <<'PY'
import csv, sqlite3, sys
want = {"demo-" + r["id"]: r["text"] for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"))}
got = dict(sqlite3.connect(sys.argv[2]).execute("SELECT external_id, text FROM messages"))
assert got == want, [k for k in want if got.get(k) != want[k]]
PY
check "every topic of topics.csv is created" [ "$(sql "SELECT count(*) FROM topics")" = "$n_topics" ]
check "every topic has an en and a fi reply" \
    [ "$(sql "SELECT count(*) FROM replies WHERE language IN ('en', 'fi')")" = "$((2 * n_topics))" ]
check "topics.csv has a topic per labelled topic of messages.csv" /usr/bin/python3 - "$ROOT/data/demo" <<'PY'
import csv, sys
labels = {r["topic"] for r in csv.DictReader(open(sys.argv[1] + "/messages.csv", encoding="utf-8"))}
topics = list(csv.DictReader(open(sys.argv[1] + "/topics.csv", encoding="utf-8")))
assert {t["name"] for t in topics} == labels and len(topics) == len(labels)
for t in topics:
    assert t["automatable"] in ("0", "1") and 0 < float(t["threshold"]) <= 1, t["name"]
    assert t["description"] and t["reply_en"] and t["reply_fi"], t["name"]
PY
check "fraud, lost_card and other are never automated" \
    [ "$(sql "SELECT group_concat(name) FROM (SELECT name FROM topics WHERE automatable = 0 ORDER BY name)")" = "fraud,lost_card,other" ]
check "the topic settings come from topics.csv" [ "$(sql "SELECT threshold FROM topics WHERE name = 'refund'")" = "$(topic_field refund threshold)" ]
check "a model is trained in the workspace" [ -f "$WS/models/demo/bundle.json" ]
check "with the default encoder (frozen use-lite)" grep -q '"frozen"' "$WS/models/demo/bundle.json"

# --- again: reuses the workspace, adds no messages, replaces the admin token
KANAVA_DEMO_NO_SERVE=1 demo >"$TMP/out2" 2>"$TMP/err2"; rc=$?
check "the demo runs again on the same workspace (exit 0)" [ $rc -eq 0 ]
check "it adds no message the second time" grep -q "0 added, $n_msgs already there" "$TMP/out2"
check "no message is duplicated" [ "$(sql "SELECT count(*) FROM messages")" = "$n_msgs" ]
check "no topic is duplicated" [ "$(sql "SELECT count(*) FROM topics")" = "$n_topics" ]
TOKEN=$(sed -n 's/^admin token: //p' "$TMP/out2")
check "a new admin token" [ -n "$TOKEN" -a "$TOKEN" != "$TOKEN1" ]
check "one active demo token" [ "$(sql "SELECT count(*) FROM tokens WHERE name = 'demo-admin' AND revoked_at IS NULL")" = 1 ]

# --- serve it on a free port
LOG="$TMP/server.log"
if ! start_kanava_server "$LOG" --workspace "$WS" --model "$WS/models/demo" --threads 2; then
    bad "the server starts on the demo workspace"; cat "$LOG"; finish
fi
ok "the server starts on the demo workspace"
# api METHOD PATH [BODY]: with the admin token; sets $status and $body
api() {
    local args=(-s -o "$TMP/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer ${TOK:-$TOKEN}")
    [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    status=$(curl "${args[@]}" "$URL$2")
    body=$(cat "$TMP/body")
}
# body_is FILTER [JQ ARGS...]: the last body satisfies the jq filter
body_is() { local f="$1"; shift; jq -e "$@" "$f" <<<"$body" >/dev/null; }
jqc() { check "$1" body_is "$2"; }
id_of() { sql "SELECT id FROM messages WHERE external_id = '$1'"; }

TOK=$TOKEN1 api GET /api/topics
check "the first run's token is revoked (401)" [ "$status" = 401 ]
api GET /api/topics
check "the admin token lists the topics" [ "$status" = 200 ]
api POST /api/classify '{"text":"I would like to order a replacement card"}'
check "classify a free text" [ "$status" = 200 ]
jqc "... as card_order" '.topic == "card_order" and (.top | length == 3)'

EN_REPLY=$(topic_field card_order reply_en)
FI_REPLY=$(topic_field card_order reply_fi)
api POST "/api/messages/$(id_of demo-1)/route"
check "route demo message 1 (How do I order a new card?)" [ "$status" = 200 ]
jqc "a confident automatable message is answered automatically" \
    '.action == "auto_reply" and .topic == "card_order" and .probability >= .threshold and .threshold == 0.8'
check "... with the English reply of topics.csv" body_is '.reply.language == "en" and .reply.text == $r' --arg r "$EN_REPLY"
check "the message is marked auto_answered" [ "$(sql "SELECT status FROM messages WHERE external_id = 'demo-1'")" = auto_answered ]

for ext in demo-19 demo-20 demo-16; do # a payment not made, card used abroad, wallet stolen
    api POST "/api/messages/$(id_of $ext)/route"
    check "sensitive message $ext goes to a person" \
        body_is '.action == "human" and (.topic == "fraud" or .topic == "lost_card") and .reply == null and (.reason | test("never"))'
done
check "... and is queued" [ "$(sql "SELECT status FROM messages WHERE external_id = 'demo-19'")" = queued ]

# A message from a Finnish customer (language fi) gets the Finnish reply. USE-lite reads
# English, so the text is the mix of Finnish and English such customers often write.
api POST /api/messages '{"external_id":"fi-1","channel":"chat","language":"fi","text":"Hei! I would like to order a replacement card, kiitos"}'
check "post a Finnish customer's message" [ "$status" = 201 ]
api POST "/api/messages/$(jq -r .id <<<"$body")/route"
check "the Finnish message is answered automatically" body_is '.action == "auto_reply" and .topic == "card_order"'
check "... with the Finnish reply of topics.csv" body_is '.reply.language == "fi" and .reply.text == $r' --arg r "$FI_REPLY"
# A text all in Finnish: the English encoder does not understand it; it must not get a wrong
# automatic answer (it lands in "other", which a person reads).
api POST /api/messages '{"language":"fi","text":"Kadotin korttini eilen illalla, mitä teen?"}'
api POST "/api/messages/$(jq -r .id <<<"$body")/route"
check "a text all in Finnish gets no wrong automatic answer" body_is '.action == "human" or .topic == "lost_card"'

kill -INT "$PID"; wait "$PID"; rc=$?; PID=
check "the server stops on SIGINT (exit 0)" [ $rc -eq 0 ]

# --- the demo itself serving (PORT overrides 8080), and the curl commands it prints
started=0
for _ in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 20000)); URL="http://127.0.0.1:$PORT"
    PORT=$PORT KANAVA_BIN="$BIN" DEMO_WORKSPACE="$WS" setsid "$ROOT/scripts/demo.sh" >"$TMP/out3" 2>"$TMP/err3" &
    DEMO_PID=$!
    wait_healthz "$URL" "$DEMO_PID" && { started=1; break; }
    kill -TERM -- "-$DEMO_PID" 2>/dev/null; wait "$DEMO_PID" 2>/dev/null; DEMO_PID=
done
check "the demo serves on \$PORT" [ $started -eq 1 ]
if [ $started -eq 1 ]; then
    check "it prints the URL" grep -qF "serves the demo workspace at $URL" "$TMP/out3"
    TOKEN3=$(sed -n 's/^admin token: //p' "$TMP/out3")
    check "it prints the admin token" grep -qxE '[0-9a-f]{64}' <<<"$TOKEN3"
    # each example: a line "  curl ...", continued on the next line after a backslash
    awk '/^  curl/ { cmd = $0; while (cmd ~ /\\$/ && (getline more) > 0) { sub(/\\$/, "", cmd); cmd = cmd more }; print cmd }' \
        "$TMP/out3" >"$TMP/curls"
    check "it prints two curl examples" [ "$(wc -l <"$TMP/curls")" = 2 ]
    sed -n 1p "$TMP/curls" >"$TMP/c1"; sed -n 2p "$TMP/curls" >"$TMP/c2"
    body=$(bash "$TMP/c1"); jqc "the classify example works" '.topic == "card_order"'
    body=$(bash "$TMP/c2"); jqc "the route example works" '.message_id == 1 and .action == "auto_reply"'
    kill -INT -- "-$DEMO_PID"; wait "$DEMO_PID"; rc=$?; DEMO_PID=
    check "Ctrl-C (SIGINT) stops the demo (exit 0)" [ $rc -eq 0 ]
fi
check "no sanitizer report" bash -c "! grep -q Sanitizer '$LOG' '$TMP/err1' '$TMP/err2' '$TMP/err3' 2>/dev/null"
finish
