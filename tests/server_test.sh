#!/usr/bin/env bash
# End-to-end checks of `kanava serve`: every endpoint and role over HTTP with curl, errors
# (401, 403, 400, 404, 405, 413, 415, 422), routing decisions and the request log.
# Usage: tests/server_test.sh BUILD_DIR  (needs curl and jq; trains a small tfidf bundle)
set -u
BUILD="$1"
BIN="$BUILD/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
PID=
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# --- fixture: a workspace with one token per role, a bundle trained on the demo messages
WS="$TMP/ws"
mkdir -p "$WS"
LDLIBS=$(make -s --no-print-directory -C "$ROOT" BUILD="$BUILD" --eval 'kn-print-ldlibs: ; @echo $(LDLIBS)' kn-print-ldlibs)
SANFLAGS=
if nm "$BUILD/libkanava.a" 2>/dev/null | grep -q __asan; then SANFLAGS=-fsanitize=address,undefined; fi
cc -std=c11 -D_GNU_SOURCE $SANFLAGS -I"$ROOT/src" -o "$TMP/fixture" "$ROOT/tests/server_fixture.c" \
    "$BUILD/libkanava.a" $LDLIBS || { echo "server: cannot build the fixture"; exit 1; }
ADMIN=$("$TMP/fixture" "$WS/kanava.db" admin test-admin)
ANNOTATOR=$("$TMP/fixture" "$WS/kanava.db" annotator test-annotator)
SERVICE=$("$TMP/fixture" "$WS/kanava.db" service test-service)
REVOKED=$("$TMP/fixture" "$WS/kanava.db" admin test-revoked)
"$TMP/fixture" "$WS/kanava.db" revoke test-revoked
check "tokens created for every role" [ ${#ADMIN} -ge 32 -a ${#ANNOTATOR} -ge 32 -a ${#SERVICE} -ge 32 ]
"$BIN" train --method tfidf --data "$ROOT/data/demo/messages.csv" --label-column topic --out "$TMP/model" \
    >/dev/null 2>&1
check "a tfidf bundle trains" [ -f "$TMP/model/bundle.json" ]

# --- start on a free port (random, retried), wait for /healthz
LOG="$TMP/server.log"
start_server() {
    for _ in 1 2 3 4 5 6 7 8; do
        PORT=$((20000 + RANDOM % 20000))
        "$BIN" serve --workspace "$WS" --model "$TMP/model" --port "$PORT" --threads 2 --max-body 65536 \
            2>"$LOG" &
        PID=$!
        for _ in $(seq 1 100); do
            if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then return 0; fi
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
    done
    return 1
}
if ! start_server; then
    bad "server starts"; cat "$LOG"
    echo "server: $pass passed, $fail failed"; exit 1
fi
ok "server starts and answers /healthz"
URL="http://127.0.0.1:$PORT"
check "it says where it listens" grep -q "^listening on http://127.0.0.1:$PORT\$" "$LOG"

# api METHOD PATH TOKEN [BODY] [CURL ARGS...]: sets $status and $body (a body is sent as
# application/json).
api() {
    local method="$1" path="$2" token="$3"; shift 3
    local args=(-s -o "$TMP/body" -w '%{http_code}' -X "$method")
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    if [ $# -gt 0 ]; then args+=(-H 'Content-Type: application/json' --data-binary "$1"); shift; fi
    status=$(curl "${args[@]}" "$@" "$URL$path")
    body=$(cat "$TMP/body")
}
# jqc NAME FILTER: the last body satisfies the jq filter.
jqc() { check "$1" jq -e "$2" <<<"$body" >/dev/null; }
is() { [ "$status" = "$1" ]; }
err_is() { is "$1" && jq -e --arg c "$2" '.error.code == $c and (.error.message | length > 0)' <<<"$body" >/dev/null; }

# --- health, authentication
api GET /healthz ""
check "GET /healthz needs no token" is 200
jqc "healthz says ok" '.status == "ok"'
api GET /api/topics ""
check "no token: 401" err_is 401 unauthorized
api GET /api/topics "not-a-token"
check "unknown token: 401" err_is 401 unauthorized
api GET /api/topics "$REVOKED"
check "revoked token: 401" err_is 401 unauthorized
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $ADMIN" "$URL/api/topics")
check "not a bearer token: 401" is 401

# --- topics and replies (admin, annotator)
api PUT /api/topics/lost_card "$ADMIN" '{"description":"card lost or stolen","automatable":true,"threshold":0.3}'
check "PUT a new topic: 201" is 201
jqc "the topic comes back" '.name == "lost_card" and .automatable == true and .threshold == 0.3 and .description == "card lost or stolen"'
api PUT /api/topics/lost_card "$ANNOTATOR" '{"threshold":0.4}'
check "annotator updates a topic: 200" is 200
jqc "an update keeps the fields not given" '.automatable == true and .threshold == 0.4 and .description == "card lost or stolen"'
api PUT /api/topics/fraud "$ADMIN" '{"automatable":false,"threshold":0.0}'
check "PUT a never-automate topic" is 201
api PUT /api/topics/app_login "$ADMIN" '{"automatable":true,"threshold":0.99}'
check "PUT a topic with a high threshold" is 201
api PUT /api/topics/scratch "$ADMIN" '{}'
jqc "a new topic is not automatable by default" '.automatable == false and .threshold == 0.9'
api PUT /api/topics/lost_card/replies/en "$ADMIN" '{"text":"We have blocked nothing yet: block your card in the app."}'
check "PUT a reply: 200" is 200
jqc "the reply comes back" '.topic == "lost_card" and .language == "en"'
api PUT /api/topics/lost_card/replies/fi "$ANNOTATOR" '{"text":"Sulje korttisi sovelluksessa."}'
check "annotator PUTs a reply" is 200
api PUT /api/topics/fraud/replies/en "$ADMIN" '{"text":"Call us now."}'
api PUT /api/topics/app_login/replies/en "$ADMIN" '{"text":"Reset your password in the app."}'
check "replies for every test topic" is 200
api PUT /api/topics/nosuch/replies/en "$ADMIN" '{"text":"x"}'
check "a reply for an unknown topic: 404" err_is 404 not_found
api PUT /api/topics/lost_card/replies/e%20n "$ADMIN" '{"text":"x"}'
check "a reply in a malformed language: 422" err_is 422 invalid
api PUT /api/topics/lost_card "$ADMIN" '{"threshold":1.5}'
check "threshold outside [0, 1]: 422" err_is 422 invalid
jqc "the 422 names the field" '.error.message | test("threshold")'
api PUT /api/topics/lost_card "$ADMIN" '{"automatable":"yes"}'
check "automatable not a boolean: 422" err_is 422 invalid
api PUT /api/topics/lost_card "$ADMIN" '{"treshold":0.5}'
check "unknown field: 422 naming it" err_is 422 invalid
jqc "the unknown field is named" '.error.message | test("treshold")'
api GET /api/topics "$ANNOTATOR"
check "annotator lists topics" is 200
jqc "topics listed by name" '[.topics[].name] == ["app_login","fraud","lost_card","scratch"]'
api GET /api/topics/lost_card "$ADMIN"
jqc "GET one topic" '.name == "lost_card" and .threshold == 0.4'
jqc "a topic shows its reply languages" '.reply_languages == ["en","fi"]'
api GET /api/topics/nosuch "$ADMIN"
check "unknown topic: 404" err_is 404 not_found
api DELETE /api/topics/scratch "$ANNOTATOR"
check "DELETE a topic" is 200
api DELETE /api/topics/scratch "$ADMIN"
check "DELETE it again: 404" err_is 404 not_found
jqc "the 404 names the topic" '.error.message == "topic \"scratch\" does not exist"'

# --- messages
SECRET="Salainen viesti 7731: my card vanished at the zoo"
api POST /api/messages "$SERVICE" "{\"text\":\"$SECRET\",\"external_id\":\"ext-1\",\"channel\":\"email\",\"language\":\"fi\"}"
check "service creates a message: 201" is 201
jqc "one message: an id" '.id >= 1 and .added == true'
M_SECRET=$(jq .id <<<"$body")
api POST /api/messages "$SERVICE" "{\"text\":\"$SECRET\",\"external_id\":\"ext-1\"}"
check "the same external_id again: 200, not added" is 200
jqc "the same id comes back" ".id == $M_SECRET and .added == false"
api POST /api/messages "$ANNOTATOR" '{"messages":[
  {"text":"I lost my card yesterday","language":"fi","external_id":"lost-fi"},
  {"text":"I lost my card yesterday","language":"sv"},
  {"text":"Someone used my card in another country. I am at home!","language":"en"},
  {"text":"I cant log in to the mobile app","language":"en"},
  {"text":"How do I send money abroad?","language":"en"},
  {"text":"Salainen viesti 7731: my card vanished at the zoo","external_id":"ext-1"}]}'
check "a batch: 201" is 201
jqc "a batch: one id per message, duplicates by external_id not added" \
    ".ids | length == 6 and .[5] == $M_SECRET and (.[0:5] | unique | length == 5)"
jqc "a batch: the count of added messages" '.added == 5'
read -r M_FI M_SV M_FRAUD M_LOGIN M_TRANSFER < <(jq -r '.ids[0:5] | @tsv' <<<"$body")
api GET "/api/messages/$M_SECRET" "$SERVICE"
check "service reads a message" is 200
jqc "the message comes back" ".id == $M_SECRET and .external_id == \"ext-1\" and .channel == \"email\" and .language == \"fi\" and .status == \"new\" and .text == \"$SECRET\""
api GET /api/messages/999999 "$ADMIN"
check "unknown message: 404" err_is 404 not_found
jqc "the 404 names the message" '.error.message == "message 999999 does not exist"'
api GET /api/messages/abc "$ADMIN"
check "a non-numeric id: 404" err_is 404 not_found
api POST /api/messages "$SERVICE" '{"text":""}'
check "empty text: 422" err_is 422 invalid
api POST /api/messages "$SERVICE" '{"text":42}'
check "text not a string: 422" err_is 422 invalid
api POST /api/messages "$SERVICE" '{"messages":[{"text":"ok"},{"channel":"x"}]}'
check "a batch with an invalid message: 422" err_is 422 invalid
jqc "the 422 names the message" '.error.message | test("messages\\[1\\]")'
api POST /api/messages "$SERVICE" '{"text":"x","language":"not a tag!"}'
check "a malformed language: 422" err_is 422 invalid
api POST /api/messages "$SERVICE" '[1,2]'
check "not an object: 422" err_is 422 invalid

# --- malformed requests
api POST /api/messages "$SERVICE" '{"text": "unterminated'
check "malformed JSON: 400" err_is 400 bad_json
jqc "the 400 gives the position" '.error.message | test("line 1, column [0-9]+")'
api POST /api/classify "$SERVICE" '{"text":"a",}'
check "trailing comma: 400" err_is 400 bad_json
api POST /api/classify "$SERVICE" ''
check "empty body: 400" err_is 400 bad_json
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $SERVICE" -H 'Content-Type: text/plain' \
    --data-binary '{"text":"a"}' "$URL/api/classify"); body=$(cat "$TMP/body")
check "not application/json: 415" err_is 415 unsupported_media_type
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $SERVICE" --data-binary '{"text":"a"}' \
    "$URL/api/classify"); body=$(cat "$TMP/body")
check "form-encoded (curl's default): 415" err_is 415 unsupported_media_type
api POST /api/classify "$SERVICE" '{"text":"a"}' -H 'Content-Type: application/json; charset=utf-8'
check "application/json with a charset is fine" is 200
head -c 100000 /dev/zero | tr '\0' a | sed 's/^/{"text":"/; s/$/"}/' > "$TMP/big.json"
api POST /api/classify "$SERVICE" "@$TMP/big.json"
check "a body over --max-body: 413" err_is 413 too_large
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $SERVICE" -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary "@$TMP/big.json" "$URL/api/classify")
check "a chunked body over --max-body: 413" is 413
api GET /api/messages "$ADMIN"
check "wrong method: 405" err_is 405 method_not_allowed
allow=$(curl -s -D - -o /dev/null -X DELETE -H "Authorization: Bearer $ADMIN" "$URL/api/messages/1" | tr -d '\r' | grep -i '^allow:')
check "405 gives Allow" [ "$allow" = "Allow: GET" ]
api GET /api/nothing "$ADMIN"
check "unknown path: 404" err_is 404 not_found
api GET /healthz/ ""
check "a trailing slash is another path: 404" err_is 404 not_found

# --- classify
api POST /api/classify "$SERVICE" '{"text":"I lost my card yesterday"}'
check "service classifies a text" is 200
jqc "topic, probability and the top 3" '.topic == "lost_card" and .probability > 0.5 and (.top | length == 3) and .top[0].topic == "lost_card" and .top[0].probability == .probability and .top[1].probability <= .top[0].probability and .top[2].probability <= .top[1].probability and (has("message_id") | not)'
api POST /api/classify "$ANNOTATOR" '{"text":"Someone used my card in another country. I am at home!"}'
jqc "annotator classifies a text" '.topic == "fraud"'
api POST /api/classify "$SERVICE" '{"txt":"a"}'
check "classify without text: 422" err_is 422 invalid
api POST "/api/messages/$M_FRAUD/classify" "$ANNOTATOR"
check "classify a stored message" is 200
jqc "with its message_id" ".message_id == $M_FRAUD and .topic == \"fraud\" and (.top | length == 3)"
api POST /api/messages/999999/classify "$SERVICE"
check "classify an unknown message: 404" err_is 404 not_found

# --- route
api POST "/api/messages/$M_FI/route" "$SERVICE"
check "service routes a message" is 200
jqc "confident, automatable, with a reply: auto_reply in the message's language" \
    ".message_id == $M_FI and .action == \"auto_reply\" and .topic == \"lost_card\" and .probability >= 0.4 and .threshold == 0.4 and .margin >= 0.1 and .reply.language == \"fi\" and .reply.text == \"Sulje korttisi sovelluksessa.\" and (.reason | length > 0)"
api POST "/api/messages/$M_SV/route" "$ADMIN"
jqc "no reply in sv: the fallback language en" '.action == "auto_reply" and .reply.language == "en" and (.reply.text | test("block your card"))'
api POST "/api/messages/$M_FRAUD/route" "$SERVICE"
jqc "a never-automate topic goes to a person" '.action == "human" and .topic == "fraud" and .reply == null'
api POST "/api/messages/$M_LOGIN/route" "$SERVICE"
jqc "below the topic's threshold goes to a person" '.action == "human" and .topic == "app_login" and .threshold == 0.99 and .probability < 0.99 and (.reason | test("below")) and .reply == null'
api POST "/api/messages/$M_TRANSFER/route" "$SERVICE"
jqc "a topic the workspace does not know goes to a person" '.action == "human" and .topic == "transfer" and .reply == null'
api GET "/api/messages/$M_FI" "$SERVICE"
jqc "an auto reply marks the message auto_answered" '.status == "auto_answered"'
api GET "/api/messages/$M_FRAUD" "$SERVICE"
jqc "a human decision queues the message" '.status == "queued"'
api POST /api/messages/999999/route "$SERVICE"
check "route an unknown message: 404" err_is 404 not_found
api GET "/api/messages/$M_SECRET/route" "$SERVICE"
check "GET on route: 405" err_is 405 method_not_allowed

# predictions and decisions are recorded in the workspace
sql() { /usr/bin/python3 -c 'import sqlite3, sys; print("|".join(str(v) for v in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()))' "$WS/kanava.db" "$1"; }
check "the server's bundle is a models row" [ "$(sql "SELECT count(*), method FROM models")" = "1|tfidf" ]
check "a decision per route call, with the reply" \
    [ "$(sql "SELECT count(*), action, reply_language FROM decisions WHERE message_id = $M_FI")" = "1|auto_reply|fi" ]
check "a human decision has no reply and names its topic" \
    [ "$(sql "SELECT d.action, t.name, d.reply_text IS NULL FROM decisions d JOIN topics t ON t.id = d.topic_id WHERE message_id = $M_FRAUD")" = "human|fraud|1" ]
check "predictions of classify and route calls" \
    [ "$(sql "SELECT count(*) FROM predictions WHERE message_id = $M_FRAUD")" = "2" ]

# --- roles: 403 where a role may not go
api POST "/api/messages/$M_FI/route" "$ANNOTATOR"
check "annotator may not route: 403" err_is 403 forbidden
api GET /api/topics "$SERVICE"
check "service may not list topics: 403" err_is 403 forbidden
api PUT /api/topics/x "$SERVICE" '{}'
check "service may not write topics: 403" err_is 403 forbidden
api DELETE /api/topics/fraud "$SERVICE"
check "service may not delete topics: 403" err_is 403 forbidden
api PUT /api/topics/fraud/replies/en "$SERVICE" '{"text":"x"}'
check "service may not write replies: 403" err_is 403 forbidden
api GET /api/topics/fraud "$SERVICE"
check "service may not read a topic: 403" err_is 403 forbidden
api GET "/api/messages/$M_FI" "$ANNOTATOR"
check "annotator reads messages" is 200
api GET /api/topics "$ADMIN"
check "admin lists topics" is 200

# --- concurrency: parallel classify and route calls all answer
pids=()
for i in $(seq 1 16); do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $SERVICE" \
        "$URL/api/messages/$M_SV/route" >"$TMP/parallel.$i" &
    pids+=($!)
done
wait "${pids[@]}"
cat "$TMP"/parallel.* > "$TMP/parallel"
check "16 parallel route calls all answer 200" [ "$(grep -c '^200$' "$TMP/parallel")" = 16 ]

# --- start-up errors
out=$("$BIN" serve --workspace "$WS" --model "$TMP/model" --port "$PORT" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "cannot listen on 127.0.0.1 port $PORT" <<<"$out"
check "a port in use: exit 1 naming it" [ $? -eq 0 ]
out=$("$BIN" serve --workspace "$TMP/nowhere" --model "$TMP/model" --port "$PORT" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "no workspace at" <<<"$out"
check "no workspace: exit 1 saying so" [ $? -eq 0 ]
out=$("$BIN" serve --workspace "$WS" --model "$TMP/nomodel" --port "$PORT" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "nomodel" <<<"$out"
check "no bundle: exit 1" [ $? -eq 0 ]
"$BIN" serve --workspace "$WS" --port "$PORT" >/dev/null 2>&1
check "no --model: usage error" [ $? -eq 2 ]
"$BIN" serve --workspace "$WS" --model "$TMP/model" --port 99999 >/dev/null 2>&1
check "a bad port: usage error" [ $? -eq 2 ]
out=$("$BIN" serve --workspace "$WS" --model "$TMP/model" --port "$PORT" --fallback-language 'e n' 2>&1)
check "a malformed fallback language is refused at start" grep -q "fallback language tag" <<<"$out"

# --- the log: one line per request, never message text; clean stop
# stop_server SIGNAL: sends it and waits (up to 20 s, then SIGKILL); sets $rc to the exit status.
stop_server() {
    kill -"$1" "$PID"
    for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null
    wait "$PID"; rc=$?
    PID=
}
stop_server TERM
check "SIGTERM stops the server cleanly (exit 0)" [ $rc -eq 0 ]
check "the log has a line per request (method, path, status, ms)" \
    grep -qE '^[0-9TZ:-]+ POST /api/messages/[0-9]+/route 200 [0-9.]+ms$' "$LOG"
check "the log records errors too" grep -qE ' GET /api/messages 405 [0-9.]+ms$' "$LOG"
check "the log never holds message text" bash -c "! grep -qiE 'Salainen|7731|zoo|lost my card|abroad|Sulje' '$LOG'"
check "no sanitizer report in the log" bash -c "! grep -q 'Sanitizer' '$LOG'"

# --- SIGINT stops it too (even as a background job of a script, started with SIGINT ignored)
"$BIN" serve --workspace "$WS" --model "$TMP/model" --port "$PORT" 2>"$TMP/int.log" &
PID=$!
for _ in $(seq 1 100); do curl -sf "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
stop_server INT
check "SIGINT stops the server cleanly (exit 0)" [ $rc -eq 0 ]
check "no sanitizer report after SIGINT" bash -c "! grep -q 'Sanitizer' '$TMP/int.log'"

echo "server: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
