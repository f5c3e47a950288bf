#!/usr/bin/env bash
# End-to-end checks of `kanava serve`: every endpoint and role over HTTP with curl, errors
# (401, 403, 400, 404, 405, 409, 413, 415, 422), annotations, routing decisions, models and their hot swap
# under load, /metrics, the OpenAPI document and the request log; the guessed language of a
# message stored without one; POST /api/train of hybrid and auto (the empty body) as jobs.
# Usage: tests/server_test.sh BUILD_DIR  (needs curl, jq and use-lite in KANAVA_MODELS; trains a
# tfidf and a bm25 bundle with the CLI, and hybrid and auto models over the API)
set -u
BUILD="$1"
BIN="$BUILD/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# ok/bad/check, test_summary, $TMP and $PID cleaned at exit, build_fixture, start/stop_kanava_server
. "$ROOT/tests/lib.sh"
test_tmp_dir

# --- fixture: a workspace with one token per role, a bundle trained on the demo messages
WS="$TMP/ws"
mkdir -p "$WS"
build_fixture "$BUILD" "$TMP/fixture" || { echo "server: cannot build the fixture"; exit 1; }
ADMIN=$("$TMP/fixture" "$WS/kanava.db" admin test-admin)
ANNOTATOR=$("$TMP/fixture" "$WS/kanava.db" annotator test-annotator)
SERVICE=$("$TMP/fixture" "$WS/kanava.db" service test-service)
REVOKED=$("$TMP/fixture" "$WS/kanava.db" admin test-revoked)
"$TMP/fixture" "$WS/kanava.db" revoke test-revoked
check "tokens created for every role" [ ${#ADMIN} -ge 32 -a ${#ANNOTATOR} -ge 32 -a ${#SERVICE} -ge 32 ]
"$BIN" train --method tfidf --data "$ROOT/data/demo/messages.csv" --label-column topic --out "$TMP/model" \
    >/dev/null 2>&1
check "a tfidf bundle trains" [ -f "$TMP/model/bundle.json" ]
"$BIN" train --method bm25 --data "$ROOT/data/demo/messages.csv" --label-column topic --out "$TMP/model-bm25" \
    >/dev/null 2>&1
check "a bm25 bundle trains" [ -f "$TMP/model-bm25/bundle.json" ]

# --- start on a free port (random, retried), wait for /healthz
LOG="$TMP/server.log"
if ! start_kanava_server "$LOG" --workspace "$WS" --model "$TMP/model" --threads 2 --max-body 65536; then
    bad "server starts"; cat "$LOG"
    test_summary server; exit 1
fi
ok "server starts and answers /healthz"
check "it says where it listens" grep -q "^listening on http://127.0.0.1:$PORT\$" "$LOG"


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
api PUT /api/topics/lost_card/replies/PT-br "$ADMIN" '{"text":"Bloqueie o cartão na app."}'
jqc "a reply's language is kept in canonical case (the form routing looks up)" '.language == "pt-BR"'
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
jqc "a topic shows its reply languages" '.reply_languages == ["en","fi","pt-BR"]'
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
api POST /api/messages "$SERVICE" '{"text":"x","language":"de-DE-x-phonebook"}'
check "a tag the router could not use (over 15 characters): 422, not a failing route later" err_is 422 invalid
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
api PUT /api/messages "$ADMIN"
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

# --- annotations: create, list, get, delete (admin, annotator write; service reads)
api GET "/api/messages/$M_FRAUD/annotations" "$ANNOTATOR"
check "list the annotations of a message without any: 200" is 200
jqc "an empty list" '.annotations == []'
api POST "/api/messages/$M_FRAUD/annotations" "$ANNOTATOR" '{"topic":"fraud","annotator":"liisa"}'
check "annotator annotates a message: 201" is 201
jqc "the annotation comes back" ".id > 0 and .message_id == $M_FRAUD and .topic == \"fraud\" and .annotator == \"liisa\" and .created_at > 0"
A1=$(jq .id <<<"$body")
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{"topic":"lost_card"}'
check "admin annotates without an annotator: 201" is 201
jqc "the annotator defaults to the token's name" '.annotator == "test-admin" and .topic == "lost_card"'
A2=$(jq .id <<<"$body")
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{"topic":"fraud","annotator":null}'
jqc "a null annotator is the default too" '.annotator == "test-admin"'
A3=$(jq .id <<<"$body")
api GET "/api/messages/$M_FRAUD/annotations" "$SERVICE"
check "service lists a message's annotations" is 200
jqc "the annotations, oldest first" "[.annotations[] | {id, topic, annotator}] == [{\"id\":$A1,\"topic\":\"fraud\",\"annotator\":\"liisa\"},{\"id\":$A2,\"topic\":\"lost_card\",\"annotator\":\"test-admin\"},{\"id\":$A3,\"topic\":\"fraud\",\"annotator\":\"test-admin\"}]"
jqc "every listed annotation names its message" "[.annotations[].message_id == $M_FRAUD] | all"
api GET "/api/annotations/$A1" "$SERVICE"
check "service reads an annotation" is 200
jqc "GET one annotation" ".id == $A1 and .message_id == $M_FRAUD and .topic == \"fraud\" and .annotator == \"liisa\" and .created_at > 0"
check "the annotation is in the workspace" \
    [ "$(sql "SELECT a.message_id, t.name, a.annotator FROM annotations a JOIN topics t ON t.id = a.topic_id WHERE a.id = $A1")" = "$M_FRAUD|fraud|liisa" ]
api GET /api/annotations/999999 "$ADMIN"
check "unknown annotation: 404" err_is 404 not_found
jqc "the 404 names the annotation" '.error.message == "annotation 999999 does not exist"'
api GET /api/annotations/abc "$ADMIN"
check "a non-numeric annotation id: 404" err_is 404 not_found
api POST /api/messages/999999/annotations "$ADMIN" '{"topic":"fraud"}'
check "annotate an unknown message: 404" err_is 404 not_found
jqc "the 404 names the message" '.error.message == "message 999999 does not exist"'
api GET /api/messages/999999/annotations "$ADMIN"
check "list the annotations of an unknown message: 404" err_is 404 not_found
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{"topic":"no_such_topic"}'
check "annotate with an unknown topic: 422" err_is 422 invalid
jqc "the 422 names the topic" '.error.message | test("no_such_topic")'
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{"topic":42}'
check "a topic that is not a string: 422" err_is 422 invalid
jqc "the 422 names the field" '.error.message | test("topic")'
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{"topic":"fraud","annotator":7}'
check "an annotator that is not a string: 422" err_is 422 invalid
jqc "the 422 names the annotator" '.error.message | test("annotator")'
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{}'
check "annotate without a topic: 422" err_is 422 invalid
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{"topic":"fraud","label":"x"}'
check "annotate with an unknown field: 422" err_is 422 invalid
api POST "/api/messages/$M_FRAUD/annotations" "$ADMIN" '{"topic": "fraud"'
check "annotate with malformed JSON: 400" err_is 400 bad_json
api POST "/api/messages/$M_FRAUD/annotations" "$SERVICE" '{"topic":"fraud"}'
check "service may not annotate: 403" err_is 403 forbidden
api DELETE "/api/annotations/$A1" "$SERVICE"
check "service may not delete an annotation: 403" err_is 403 forbidden
api PUT "/api/annotations/$A1" "$ADMIN" '{}'
check "PUT on an annotation: 405" err_is 405 method_not_allowed
allow=$(curl -s -D - -o /dev/null -X PATCH -H "Authorization: Bearer $ADMIN" "$URL/api/messages/$M_FRAUD/annotations" | tr -d '\r' | grep -i '^allow:')
check "the 405 on a message's annotations allows GET and POST" [ "$allow" = "Allow: GET, POST" ]
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ANNOTATOR" "$URL/api/annotations/$A3")
check "annotator deletes an annotation: 204" is 204
check "with no body" [ ! -s "$TMP/body" ]
api GET "/api/annotations/$A3" "$ADMIN"
check "a deleted annotation is gone: 404" err_is 404 not_found
api DELETE "/api/annotations/$A3" "$ADMIN"
check "delete it again: 404" err_is 404 not_found
api GET "/api/messages/$M_FRAUD/annotations" "$ADMIN"
jqc "the list no longer holds it" "[.annotations[].id] == [$A1, $A2]"
# a topic with annotations cannot be deleted until they are
api PUT /api/topics/labelled "$ADMIN" '{}'
api POST "/api/messages/$M_LOGIN/annotations" "$ANNOTATOR" '{"topic":"labelled"}'
A4=$(jq .id <<<"$body")
api DELETE /api/topics/labelled "$ADMIN"
check "deleting a topic with annotations: 409" err_is 409 conflict
jqc "the 409 says why" '.error.message | test("1 annotation")'
api GET /api/topics/labelled "$ADMIN"
check "the topic stays" is 200
api DELETE "/api/annotations/$A4" "$ADMIN"
check "admin deletes the annotation: 204" is 204
api DELETE /api/topics/labelled "$ADMIN"
check "then the topic can be deleted" is 200

# --- models: list, register, activate
api GET /api/models "$SERVICE"
check "GET /api/models" is 200
jqc "the --model bundle is the one model, active" \
    '(.models | length == 1) and .models[0].active == true and .models[0].method == "tfidf" and .models[0].classes >= 2 and (.models[0].bundle_path | startswith("/")) and .models[0].created_at > 0'
M_TFIDF=$(jq '.models[0].id' <<<"$body")
check "the models row is active in the workspace" [ "$(sql "SELECT id, active FROM models WHERE active = 1")" = "$M_TFIDF|1" ]
api POST /api/models "$ANNOTATOR" "{\"bundle_path\":\"$TMP/model-bm25\"}"
check "annotator may not register a model: 403" err_is 403 forbidden
api POST /api/models "$SERVICE" "{\"bundle_path\":\"$TMP/model-bm25\"}"
check "service may not register a model: 403" err_is 403 forbidden
api POST /api/models "$ADMIN" "{\"bundle_path\":\"$TMP/no-such-bundle\"}"
check "register a path that does not exist: 422" err_is 422 invalid_bundle
jqc "the 422 names the path" '.error.message | test("no-such-bundle")'
mkdir -p "$TMP/not-a-bundle"
api POST /api/models "$ADMIN" "{\"bundle_path\":\"$TMP/not-a-bundle\"}"
check "register a directory that is not a bundle: 422" err_is 422 invalid_bundle
jqc "the 422 gives the bundle's error" '.error.message | test("bundle.json")'
api POST /api/models "$ADMIN" '{}'
check "register without bundle_path: 422" err_is 422 invalid
api POST /api/models "$ADMIN" "{\"bundle_path\":\"$TMP/model-bm25\",\"activate\":true}"
check "register with an unknown field: 422" err_is 422 invalid
api POST /api/models "$ADMIN" "{\"bundle_path\":\"$TMP/model-bm25\"}"
check "admin registers a bm25 bundle: 201" is 201
jqc "the new model: bm25, not active" '.method == "bm25" and .active == false and .classes >= 2 and .id > 0'
M_BM25=$(jq .id <<<"$body")
api POST /api/models "$ADMIN" "{\"bundle_path\":\"$TMP/model-bm25/\"}"
check "registering it again: 200, the same model" is 200
jqc "the same id comes back" ".id == $M_BM25"
api GET /api/models "$ANNOTATOR"
jqc "two models, the tfidf one still active" "[.models[] | {id, active}] == [{\"id\":$M_TFIDF,\"active\":true},{\"id\":$M_BM25,\"active\":false}]"
api POST "/api/models/$M_BM25/activate" "$ANNOTATOR"
check "annotator may not activate: 403" err_is 403 forbidden
api POST "/api/models/$M_BM25/activate" "$SERVICE"
check "service may not activate: 403" err_is 403 forbidden
api POST /api/models/999999/activate "$ADMIN"
check "activate an unknown model: 404" err_is 404 not_found
api POST /api/models/abc/activate "$ADMIN"
check "activate a non-numeric id: 404" err_is 404 not_found
api GET "/api/models/$M_BM25/activate" "$ADMIN"
check "GET on activate: 405" err_is 405 method_not_allowed
api POST "/api/models/$M_BM25/activate" "$ADMIN"
check "admin activates the bm25 model" is 200
jqc "it comes back active" ".id == $M_BM25 and .active == true and .method == \"bm25\""
api GET /api/models "$ADMIN"
jqc "exactly one active model: the bm25 one" "[.models[] | select(.active) | .id] == [$M_BM25]"
api POST "/api/messages/$M_SV/route" "$SERVICE"
check "routing works on the new model" is 200
check "its decision names the new model" [ "$(sql "SELECT model_id FROM decisions ORDER BY id DESC LIMIT 1")" = "$M_BM25" ]
api POST "/api/models/$M_TFIDF/activate" "$ADMIN"
check "and back to the tfidf model" is 200
api POST /api/classify "$SERVICE" '{"text":"I lost my card yesterday"}'
jqc "classify works after swapping back" '.topic == "lost_card"'
cp -r "$TMP/model-bm25" "$TMP/model-gone"
api POST /api/models "$ADMIN" "{\"bundle_path\":\"$TMP/model-gone\"}"
M_GONE=$(jq .id <<<"$body")
rm -rf "$TMP/model-gone"
api POST "/api/models/$M_GONE/activate" "$ADMIN"
check "activating a model whose bundle is gone: 422" err_is 422 invalid_bundle
api GET /api/models "$ADMIN"
jqc "the live model stays active" "[.models[] | select(.active) | .id] == [$M_TFIDF]"
api POST /api/classify "$SERVICE" '{"text":"I lost my card yesterday"}'
check "and keeps answering" is 200

# --- hot swap under load: 8 client loops hammer route and classify while the models are
# swapped back and forth; every single request must answer 200.
before=$(sql "SELECT coalesce(max(id), 0) FROM decisions")
rm -f "$TMP/stop"
loops=()
for i in $(seq 1 8); do
    (
        while [ ! -e "$TMP/stop" ]; do
            if [ $((i % 2)) -eq 0 ]; then
                curl -s -m 30 -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $SERVICE" \
                    "$URL/api/messages/$M_SV/route"
            else
                curl -s -m 30 -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $SERVICE" \
                    -H 'Content-Type: application/json' --data-binary '{"text":"I lost my card yesterday"}' \
                    "$URL/api/classify"
            fi
        done >"$TMP/load.$i"
    ) &
    loops+=($!)
done
SWAPS=8
: >"$TMP/activations"
sleep 0.5
for k in $(seq 1 $SWAPS); do
    if [ $((k % 2)) -eq 1 ]; then target=$M_BM25; else target=$M_TFIDF; fi
    [ $k -eq $SWAPS ] && target=$M_BM25
    curl -s -m 60 -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $ADMIN" \
        "$URL/api/models/$target/activate" >>"$TMP/activations"
    sleep 0.4
done
sleep 0.5
touch "$TMP/stop"
wait "${loops[@]}"
cat "$TMP"/load.* >"$TMP/load"
LOAD_TOTAL=$(wc -l <"$TMP/load")
LOAD_OK=$(grep -c '^200$' "$TMP/load")
echo "# hot swap: $LOAD_TOTAL requests during $SWAPS activations, $LOAD_OK answered 200"
check "requests ran during the swaps ($LOAD_TOTAL)" [ "$LOAD_TOTAL" -ge 40 ]
check "every request during the swaps answered 200 ($LOAD_OK of $LOAD_TOTAL)" [ "$LOAD_OK" -eq "$LOAD_TOTAL" ]
check "every activation answered 200" [ "$(grep -c '^200$' "$TMP/activations")" -eq $SWAPS ]
check "decisions during the load came from both models" \
    [ "$(sql "SELECT count(DISTINCT model_id) FROM decisions WHERE id > $before")" = "2" ]
api GET /api/models "$SERVICE"
jqc "after the swaps the bm25 model is the active one" '[.models[] | select(.active) | .method] == ["bm25"]'
api POST "/api/messages/$M_SV/route" "$SERVICE"
check "a later request is served by it" [ "$status" = 200 -a "$(sql "SELECT model_id FROM decisions ORDER BY id DESC LIMIT 1")" = "$M_BM25" ]

# --- metrics
metrics() { curl -s -o "$TMP/metrics" -w '%{http_code}' -H "Authorization: Bearer $1" "$URL/metrics"; }
# mval SERIES: the value of one series in the last scrape (0 when absent).
mval() { awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }' "$TMP/metrics"; }
check "GET /metrics without a token: 401" [ "$(metrics "")" = 401 ]
check "annotator may not read /metrics: 403" [ "$(metrics "$ANNOTATOR")" = 403 ]
check "admin reads /metrics" [ "$(metrics "$ADMIN")" = 200 ]
check "service reads /metrics" [ "$(metrics "$SERVICE")" = 200 ]
ctype=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $SERVICE" "$URL/metrics" | tr -d '\r' | grep -i '^content-type:')
check "the Prometheus text format 0.0.4" grep -q 'text/plain; version=0.0.4' <<<"$ctype"
for family in "kanava_http_requests_total counter" "kanava_http_request_duration_seconds histogram" \
    "kanava_route_decisions_total counter" "kanava_model_swaps_total counter" "kanava_active_model_id gauge"; do
    check "metrics: # TYPE $family" grep -qx "# TYPE $family" "$TMP/metrics"
done
CLS='kanava_http_requests_total{method="POST",path_pattern="/api/classify",status="200"}'
HCOUNT='kanava_http_request_duration_seconds_count{path_pattern="/api/classify"}'
ROUTES='kanava_http_requests_total{method="POST",path_pattern="/api/messages/{id}/route",status="200"}'
c0=$(mval "$CLS"); h0=$(mval "$HCOUNT"); r0=$(mval "$ROUTES")
check "classify requests counted ($c0)" [ "$c0" -ge $((LOAD_OK / 4)) ]
check "route requests counted by path pattern ($r0)" [ "$r0" -ge $((LOAD_OK / 4)) ]
check "the swaps counted" [ "$(mval kanava_model_swaps_total)" -ge $((SWAPS + 2)) ]
check "the active model id" [ "$(mval kanava_active_model_id)" = "$M_BM25" ]
check "decisions counted by topic and action" grep -qE '^kanava_route_decisions_total\{topic="lost_card",action="auto_reply"\} [1-9]' "$TMP/metrics"
check "annotation requests are counted by path pattern" \
    grep -qE '^kanava_http_requests_total\{method="POST",path_pattern="/api/messages/\{id\}/annotations",status="201"\} [1-9]' "$TMP/metrics"
check "annotation deletes are counted by path pattern" \
    grep -qE '^kanava_http_requests_total\{method="DELETE",path_pattern="/api/annotations/\{id\}",status="204"\} [1-9]' "$TMP/metrics"
check "a 404 is counted under an unmatched pattern" grep -qE '^kanava_http_requests_total\{method="GET",path_pattern="unmatched",status="404"\} [1-9]' "$TMP/metrics"
check "the histogram has every bucket up to 2.5 s and +Inf" \
    [ "$(grep -c '^kanava_http_request_duration_seconds_bucket{path_pattern="/api/classify",le=' "$TMP/metrics")" = 12 ]
check "its +Inf bucket equals its count" \
    [ "$(mval 'kanava_http_request_duration_seconds_bucket{path_pattern="/api/classify",le="+Inf"}')" = "$h0" ]
for _ in 1 2 3; do api POST /api/classify "$SERVICE" '{"text":"I lost my card yesterday"}'; done
metrics "$ADMIN" >/dev/null
check "the request counter grows by the requests made" [ "$(mval "$CLS")" -eq $((c0 + 3)) ]
check "the histogram count grows too" [ "$(mval "$HCOUNT")" -eq $((h0 + 3)) ]
check "metrics never hold message text" bash -c "! grep -qiE 'Salainen|viesti|zoo|lost my card|abroad|Sulje|block your' '$TMP/metrics'"
check "metrics never hold ids in paths" bash -c "! grep -qE 'path_pattern=\"[^\"]*/[0-9]' '$TMP/metrics'"
check "every sample line is well formed" bash -c "grep -v '^#' '$TMP/metrics' | grep -vqE '^[a-z_]+(\{.*\})? [0-9.e+-]+$' && exit 1 || exit 0"

# --- the OpenAPI document: valid JSON listing exactly the endpoints the server answers
ENDPOINTS="GET /healthz
GET /metrics
GET /api/openapi.json
POST /api/messages
GET /api/messages
GET /api/me
GET /api/stats
POST /api/import
POST /api/annotations/bulk
POST /api/annotations/bulk-delete
GET /api/messages/{id}
POST /api/messages/{id}/classify
POST /api/messages/{id}/route
GET /api/messages/{id}/annotations
POST /api/messages/{id}/annotations
GET /api/annotations/{id}
DELETE /api/annotations/{id}
POST /api/classify
GET /api/topics
GET /api/topics/{name}
PUT /api/topics/{name}
DELETE /api/topics/{name}
PUT /api/topics/{name}/replies/{lang}
GET /api/models
POST /api/models
GET /api/models/{id}
POST /api/models/{id}/activate
POST /api/train
GET /api/jobs
GET /api/jobs/{id}
POST /api/map
GET /api/map
POST /api/route"
api GET /api/openapi.json ""
check "GET /api/openapi.json needs no token" is 200
check "it is valid JSON" jq -e . <<<"$body" >/dev/null
check "python's json module parses it too" /usr/bin/python3 -c 'import json, sys; json.load(sys.stdin)' <<<"$body"
jqc "OpenAPI 3.0 with a title and bearer auth" '(.openapi | startswith("3.0")) and (.info.title | length > 0) and .components.securitySchemes.bearerAuth.scheme == "bearer"'
documented=$(jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | "\(ascii_upcase) \($p)"' <<<"$body" | sort)
check "it documents exactly the endpoints the server answers" [ "$documented" = "$(sort <<<"$ENDPOINTS")" ]
jqc "every operation has responses and a description naming its roles" \
    '[.paths[][] | (.responses | length > 0) and (.description | test("Roles:|No token needed"))] | all'
jqc "every \$ref points at a component" \
    '. as $d | [.. | objects | .["$ref"]? // empty | ltrimstr("#/") | split("/") as $p | $d | getpath($p) != null] | all'
jqc "the error schema" '.components.schemas.Error.properties.error.required == ["code","message"]'
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    check "openapi-spec-validator accepts it" python3 -c 'import json, sys; from openapi_spec_validator import validate; validate(json.loads(sys.stdin.read()))' <<<"$body"
else
    echo "# skipped: openapi-spec-validator is not installed"
fi
unanswered=
while read -r method path; do
    p=${path//\{id\}/1}; p=${p//\{name\}/lost_card}; p=${p//\{lang\}/en}
    st=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$URL$p")
    case "$st" in 404|405|000) unanswered="$unanswered $method $path ($st);" ;; esac
done <<<"$ENDPOINTS"
check "the server answers every documented endpoint${unanswered:+: not$unanswered}" [ -z "$unanswered" ]

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

# --- a message stored without a language gets the guessed one (en, fi, sv, or none)
FI_TEXT="Miten tilaan uuden kortin? Korttini katosi eilen illalla."
api POST /api/messages "$SERVICE" "{\"text\":\"$FI_TEXT\"}"
check "a Finnish message without a language: 201" is 201
M_GUESS_FI=$(jq .id <<<"$body")
api GET "/api/messages/$M_GUESS_FI" "$SERVICE"
jqc "it is stored as Finnish: language fi" ".id == $M_GUESS_FI and .language == \"fi\" and .text == \"$FI_TEXT\""
api POST /api/messages "$SERVICE" '{"text":"Hello, my new card has not arrived yet. Where is it?"}'
M_GUESS_EN=$(jq .id <<<"$body")
api GET "/api/messages/$M_GUESS_EN" "$SERVICE"
jqc "an English message without a language: en" ".id == $M_GUESS_EN and .language == \"en\""
api POST /api/messages "$SERVICE" '{"messages":[{"text":"Var är mitt nya kort? Jag har väntat i två veckor."},
  {"text":"ok"},{"text":"Korttini katosi eilen illalla, mitä teen?","language":"sv"},{"text":"Mitä kuuluu? Tilini on lukittu.","language":null}]}'
check "a batch without languages: 201" is 201
read -r M_GUESS_SV M_GUESS_NONE M_GIVEN_SV M_NULL_LANG < <(jq -r '.ids | @tsv' <<<"$body")
check "in a batch: Swedish guessed sv, too short to tell null, a given language kept, a null one guessed" \
    [ "$(sql "SELECT group_concat(coalesce(language, 'null'), ' ') FROM (SELECT language FROM messages WHERE id IN ($M_GUESS_SV, $M_GUESS_NONE, $M_GIVEN_SV, $M_NULL_LANG) ORDER BY id)")" = "sv null sv fi" ]
api GET "/api/messages/$M_GUESS_NONE" "$SERVICE"
jqc "a text too short to tell keeps no language" ".id == $M_GUESS_NONE and .language == null"

# --- POST /api/train: hybrid and auto (the empty body) from the annotations; bad requests
for bad in '{"method":"nope"}' '{"tune":true,"method":"frozen"}' '{"tune":true}' '{"method":"hybrid","tune":"yes"}' \
    '{"budget_seconds":1}' '{"budget_seconds":86401}' '{"budget_seconds":"60"}' '{"unlabelled":"yes"}' '{"method":7}'; do
    api POST /api/train "$ADMIN" "$bad"
    check "POST /api/train $bad: 422 invalid" err_is 422 invalid
done
api POST /api/train "$ADMIN" '{"method":"frozen","tune":true}'
jqc "the 422 for tune names the method it is for" '.error.message | test("tune is for method \"hybrid\"")'
api POST /api/train "$ADMIN" '{"budget_seconds":5}'
jqc "the 422 for budget_seconds gives its range" '.error.message | test("budget_seconds.*\\[10, 86400\\]")'
api POST /api/train "$ADMIN" '{"method":"auto","speed":"fast"}'
check "an unknown field: 422" err_is 422 invalid
api GET /api/openapi.json ""
jqc "the OpenAPI TrainRequest documents these fields, the methods and auto as the default" \
    '.components.schemas.TrainRequest | (.properties | keys) == ["budget_seconds", "method", "tune", "unlabelled"] and .properties.method.enum == ["auto", "frozen", "setfit", "tfidf", "bm25", "hybrid"] and .properties.method.default == "auto" and .properties.budget_seconds.minimum == 10 and .properties.budget_seconds.maximum == 86400'
api GET /api/jobs "$ADMIN"
jqc "refused requests start no job" '[.jobs[] | select(.kind == "train")] | length == 0'
# Labelled messages of three topics (the demo's, minus texts already stored above), beside the
# unlabelled ones already stored: those are the backlog.
/usr/bin/python3 - "$ROOT/data/demo/messages.csv" >"$TMP/train_rows.json" <<'PY'
import csv, json, sys
stored = {"I lost my card yesterday", "Someone used my card in another country. I am at home!"}
rows = [{"text": r["text"], "topic": r["topic"]} for r in csv.DictReader(open(sys.argv[1], newline=""))
        if r["topic"] in ("lost_card", "fraud", "app_login") and r["text"] not in stored]
print(json.dumps(rows))
PY
api POST /api/messages "$SERVICE" "$(jq -c '{messages: [.[] | {text, language: "en"}]}' "$TMP/train_rows.json")"
check "the labelled messages for training are stored" is 201
ids=$(jq -c .ids <<<"$body")
for topic in lost_card fraud app_login; do
    api POST /api/annotations/bulk "$ANNOTATOR" "$(jq -c --argjson ids "$ids" --arg t "$topic" \
        '{topic: $t, message_ids: [range(length) as $i | select(.[$i].topic == $t) | $ids[$i]]}' "$TMP/train_rows.json")"
    [ "$status" = 201 ] || bad "annotate the $topic messages ($status)"
done
N_UNLABELLED=$(sql "SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.message_id = m.id)")
# train_job BODY NAME: POST /api/train BODY, waits for the job; sets TRAINED (the model id) and
# TRAINED_BUNDLE (its bundle.json), checks the job ended done with a model.
train_job() {
    TRAINED= TRAINED_BUNDLE=/nonexistent
    if [ -n "$1" ]; then api POST /api/train "$ADMIN" "$1"; else api POST /api/train "$ADMIN"; fi
    check "POST /api/train ${1:-(empty body)}: 202" is 202
    local job; job=$(jq -r .job <<<"$body")
    check "wait for the $2 job" wait_job "$job"
    jqc "the $2 job is done with a model" '.state == "done" and .kind == "train" and .progress == 1 and (.model_id | type == "number") and .error == null'
    echo "# $2 job: $(jq -c '{created_at, finished_at, error}' <<<"$body")"
    TRAINED=$(jq -r .model_id <<<"$body")
    api GET "/api/models/$TRAINED" "$ADMIN"
    TRAINED_BUNDLE="$(jq -r .bundle_path <<<"$body")/bundle.json"
}
train_job '{"method":"hybrid"}' hybrid
jqc "the hybrid model is reported as hybrid, not active, with its held-out metrics" \
    '.method == "hybrid" and .active == false and .classes == 3 and .metrics.n_train + .metrics.n_eval == 12 and .metrics.n_eval == 3'
check "its bundle is a hybrid one that learnt from the unlabelled messages (of $N_UNLABELLED stored)" /usr/bin/python3 -c "
import json, sys
b = json.load(open(sys.argv[1]))
m = b['training']
assert b['method'] == 'hybrid' and 'dense_weight' in b['hybrid'] and m['hybrid']['tuned'] is False, b.get('hybrid')
assert 0 < m['unlabelled_rows'] <= int(sys.argv[2]) and m['self_training']['backlog_read'] == m['unlabelled_rows'], m
assert m['source'] == 'annotations' and m['rows'] == 12, m
" "$TRAINED_BUNDLE" "$N_UNLABELLED"
check "  and it is registered as hybrid in the workspace" [ "$(sql "SELECT method FROM models WHERE id = $TRAINED")" = hybrid ]
train_job '{"method":"hybrid","unlabelled":false}' "hybrid without the backlog"
check "\"unlabelled\": false trains without the backlog" \
    quiet jq -e '.method == "hybrid" and .training.unlabelled_rows == 0 and (.training | has("self_training") | not)' "$TRAINED_BUNDLE"
train_job "" "auto (empty body)"
AUTO=$TRAINED
AUTO_METHOD=$(jq -r .method <<<"$body")
check "an empty body trains auto: the model's method ($AUTO_METHOD) is the one chosen, with the candidates" /usr/bin/python3 -c "
import json, sys
b = json.load(open(sys.argv[1]))
a = b['training']['auto']
assert [c['method'] for c in a['candidates']] == ['tfidf', 'frozen', 'hybrid', 'hybrid-setfit'], a
assert a['chosen'] in ('tfidf', 'frozen', 'hybrid', 'hybrid-setfit') and a['budget_seconds'] == 180, a
assert b['method'] == sys.argv[2] == {'hybrid-setfit': 'hybrid'}.get(a['chosen'], a['chosen']), (b['method'], sys.argv[2], a['chosen'])
assert b['training']['unlabelled_rows'] > 0
" "$TRAINED_BUNDLE" "$AUTO_METHOD"
api GET /api/models "$ADMIN"
jqc "GET /api/models lists the trained models with their methods" \
    "[.models[] | select(.id >= $AUTO - 2) | .method] | .[0:2] == [\"hybrid\", \"hybrid\"] and .[2] == \"$AUTO_METHOD\""
train_job '{"method":"auto","budget_seconds":30,"unlabelled":false}' "auto with a budget"
check "budget_seconds reaches the auto choice" \
    quiet jq -e '.training.auto.budget_seconds == 30 and .training.unlabelled_rows == 0' "$TRAINED_BUNDLE"
api GET /api/models "$SERVICE"
jqc "the trained models are not activated: the bm25 one stays live" "[.models[] | select(.active) | .id] == [$M_BM25]"

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
mkdir -p "$TMP/empty-ws"
"$TMP/fixture" "$TMP/empty-ws/kanava.db" admin x >/dev/null
out=$("$BIN" serve --workspace "$TMP/empty-ws" --port "$PORT" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "no active model yet" <<<"$out" && grep -q "cannot listen" <<<"$out"
check "no --model and no active model: it starts without one (then finds the port in use)" [ $? -eq 0 ]
"$BIN" serve --workspace "$WS" --model "$TMP/model" --port 99999 >/dev/null 2>&1
check "a bad port: usage error" [ $? -eq 2 ]
out=$("$BIN" serve --workspace "$WS" --model "$TMP/model" --port "$PORT" --fallback-language 'e n' 2>&1)
check "a malformed fallback language is refused at start" grep -q "fallback language tag" <<<"$out"

# --- the log: one line per request, never message text; clean stop
stop_kanava_server TERM
check "SIGTERM stops the server cleanly (exit 0)" [ $rc -eq 0 ]
check "the log has a line per request (method, path, status, ms)" \
    grep -qE '^[0-9TZ:-]+ POST /api/messages/[0-9]+/route 200 [0-9.]+ms$' "$LOG"
check "the log records errors too" grep -qE ' PUT /api/messages 405 [0-9.]+ms$' "$LOG"
check "the log never holds message text" bash -c "! grep -qiE 'Salainen|viesti 7731|zoo|lost my card|abroad|Sulje' '$LOG'"
check "nor the texts trained on, or whose language was guessed" bash -c "! grep -qiE 'Miten tilaan|Korttini|wallet was stolen|väntat|not arrived yet' '$LOG'"
check "no sanitizer report in the log" bash -c "! grep -q 'Sanitizer' '$LOG'"

# --- SIGINT stops it too (even as a background job of a script, started with SIGINT ignored)
# (and without --model: the workspace's active model, the bm25 one activated above)
"$BIN" serve --workspace "$WS" --port "$PORT" 2>"$TMP/int.log" &
PID=$!
wait_healthz "$URL" "$PID"
api GET /api/models "$ADMIN"
jqc "without --model the server runs the workspace's active model" "[.models[] | select(.active) | .id] == [$M_BM25]"
api POST /api/classify "$SERVICE" '{"text":"I lost my card yesterday"}'
check "and classifies with it" is 200
check "it logs which model is live" grep -q "^model $M_BM25 (bm25, [0-9]* topics) is live\$" "$TMP/int.log"
stop_kanava_server INT
check "SIGINT stops the server cleanly (exit 0)" [ $rc -eq 0 ]
check "no sanitizer report after SIGINT" bash -c "! grep -q 'Sanitizer' '$TMP/int.log'"

test_summary server
