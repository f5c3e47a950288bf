#!/usr/bin/env bash
# End-to-end checks of the web UI's job endpoints (issue 7, part B) over HTTP with curl: a
# server started on a workspace with no model, training from the annotations (tfidf and
# frozen) as background jobs with their held-out metrics, activation, the map (UMAP +
# k-means; the base encoder's map before any model exists, then the model's), routing every
# new message, roles and errors, and a stop while a job runs.
# Usage: tests/ui_api_b_test.sh BUILD_DIR  (needs curl, jq, /usr/bin/python3 and the
# use-lite model installed: `kanava model fetch use-lite`)
set -u
BUILD="$1"
BIN="$BUILD/kanava"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# ok/bad/check, test_summary, $TMP and $PID cleaned at exit, start/stop_kanava_server, api/jqc/is/err_is
. "$ROOT/tests/lib.sh"
API_MAX_TIME=20 # a hung request fails fast here (the jobs run beside the requests)
test_tmp_dir
finish() { test_summary ui_api_b; exit $?; }

# --- a workspace with the demo messages (ids 1..48 in file order) and tokens, no model
WS="$TMP/ws"
ws() { "$BIN" "$@" --workspace "$WS"; }
ws init >/dev/null 2>&1
awk 'NR == 1 { print "external_id,language,text"; next }
     NF { id = $0; sub(/,.*/, "", id); text = substr($0, length(id) + 2); sub(/,[^,]*\r?$/, "", text)
          print "demo-" id ",en," text }' "$ROOT/data/demo/messages.csv" >"$TMP/messages.csv"
ws import "$TMP/messages.csv" >/dev/null 2>&1
ADMIN=$(ws token create --role admin --name ui-admin 2>/dev/null | tail -n 1)
ANNOTATOR=$(ws token create --role annotator --name ui-annotator 2>/dev/null | tail -n 1)
SERVICE=$(ws token create --role service --name ui-service 2>/dev/null | tail -n 1)
check "tokens created" [ ${#ADMIN} -ge 32 -a ${#ANNOTATOR} -ge 32 -a ${#SERVICE} -ge 32 ]
# The labels and the topics' settings, read with Python's csv module (an independent parser).
/usr/bin/python3 - "$ROOT/data/demo" "$TMP" <<'EOF'
import csv, json, sys
src, out = sys.argv[1], sys.argv[2]
with open(f"{src}/messages.csv", newline="") as f:
    labels = [r["topic"] for r in csv.DictReader(f)]
with open(f"{out}/labels.txt", "w") as f:
    f.write("\n".join(labels) + "\n")
with open(f"{src}/topics.csv", newline="") as f, open(f"{out}/topics.jsonl", "w") as o:
    for r in csv.DictReader(f):
        o.write(json.dumps({"name": r["name"], "automatable": r["automatable"] == "1",
                            "threshold": float(r["threshold"]), "reply_en": r["reply_en"]}) + "\n")
EOF
N_LABELLED=$(wc -l <"$TMP/labels.txt")
check "48 demo labels read" [ "$N_LABELLED" -eq 48 ]

LOG="$TMP/server.log"
if ! start_kanava_server "$LOG" --workspace "$WS" --threads 4; then
    bad "a server starts on a workspace without a model"; cat "$LOG"; finish
fi
ok "a server starts on a workspace without a model"
check "it says it has no model, once" [ "$(grep -c 'no active model yet' "$LOG")" -eq 1 ]


# --- without a model: 409 no_active_model where a model is needed
api POST /api/classify "$ADMIN" '{"text":"my card is lost"}'
check "classify without a model: 409 no_active_model" err_is 409 no_active_model
api POST /api/messages/1/route "$ADMIN"
check "route one without a model: 409" err_is 409 no_active_model
api POST /api/messages/1/classify "$ADMIN"
check "classify a message without a model: 409" err_is 409 no_active_model
api POST /api/route "$ADMIN" '{"status":"new"}'
check "route all without a model: 409" err_is 409 no_active_model
api GET /api/map "$ADMIN"
check "no map yet: 404 map_not_computed" err_is 404 map_not_computed
api GET "/api/map?model_id=base" "$ADMIN"
check "no base map yet: 404 map_not_computed" err_is 404 map_not_computed
api POST /api/map "$ADMIN" '{"model_id":0}'
check "map of model_id 0: 422" err_is 422 invalid
api POST /api/map "$ADMIN" '{"model_id":"active"}'
check "map of model_id \"active\": 422" err_is 422 invalid
api GET "/api/map?model_id=0" "$ADMIN"
check "GET the map of model_id=0: 400" err_is 400 invalid

# --- the base map: with no model, POST /api/map maps with the base encoder (use-lite)
N_IMPORTED=$(wc -l <"$TMP/labels.txt")
api POST /api/map "$ANNOTATOR" '{}'
check "map without a model: 202 (the base map)" is 202
check "wait for the base map job" wait_job "$(jq -r .job <<<"$body")"
jqc "the base map job is done, for no model" '.state == "done" and .kind == "map" and .model_id == null and .error == null'
api GET /api/map "$SERVICE"
check "GET /api/map without a model: 200" is 200
jqc "it is the base map: one point per message" \
    ".model_id == null and .base == true and (.points | length == $N_IMPORTED) and ([.points[].id] | unique | length == $N_IMPORTED)"
jqc "base map: finite coordinates, no label or prediction yet" \
    'all(.points[]; (.x | isinfinite | not) and (.y | isinfinite | not) and .label == null and .prediction == null and .probability == null)'
# k = clamp(round(sqrt(48 / 4)), 2, 40) = 3
jqc "base map: clusters 0..2, all used" '[.points[].cluster] | unique == [0, 1, 2]'
jqc "base map: each point is nearest its own cluster's centre" \
    '.points as $p | ([range(3) as $k | [$p[] | select(.cluster == $k)] | {x: (map(.x) | add / length), y: (map(.y) | add / length)}]) as $c | all($p[]; . as $q | ([range(3) as $k | (($q.x - $c[$k].x) * ($q.x - $c[$k].x) + ($q.y - $c[$k].y) * ($q.y - $c[$k].y))] | . as $d | index($d | min)) == $q.cluster)'
BASE_XY=$(jq -c '[.points[] | [.id, .x, .y]]' <<<"$body")
api GET "/api/map?model_id=base" "$SERVICE"
jqc "GET /api/map?model_id=base: the same points" ".base == true and ([.points[] | [.id, .x, .y]] == $BASE_XY)"
api GET /api/messages/1 "$SERVICE"
check "stored messages are readable without a model" is 200

# --- topics and replies over the API, then too few labels to train
while IFS= read -r t; do
    name=$(jq -r .name <<<"$t")
    api PUT "/api/topics/$name" "$ADMIN" "$(jq -c '{automatable, threshold}' <<<"$t")"
    api PUT "/api/topics/$name/replies/en" "$ADMIN" "$(jq -c '{text: .reply_en}' <<<"$t")"
done <"$TMP/topics.jsonl"
api GET /api/topics "$ADMIN"
jqc "12 topics set up" '.topics | length == 12'
api POST /api/train "$ADMIN" '{"method":"tfidf"}'
check "train with no annotations: 422 not_enough_labels" err_is 422 not_enough_labels
api POST /api/messages/1/annotations "$ANNOTATOR" "{\"topic\":\"$(sed -n 1p "$TMP/labels.txt")\"}"
api POST /api/messages/2/annotations "$ANNOTATOR" "{\"topic\":\"$(sed -n 2p "$TMP/labels.txt")\"}"
api POST /api/train "$ADMIN" '{"method":"tfidf"}'
check "one topic with 2 labels is not enough: 422" err_is 422 not_enough_labels
jqc "the 422 names the counts" '.error.message | test("1 such topic")'

# --- label every demo message (a wrong label first on message 3, then corrected: the latest wins)
api POST /api/messages/3/annotations "$ANNOTATOR" '{"topic":"fraud"}'
i=0
while IFS= read -r topic; do
    i=$((i + 1))
    [ "$i" -le 2 ] && continue
    api POST "/api/messages/$i/annotations" "$ANNOTATOR" "{\"topic\":\"$topic\"}"
    [ "$status" = 201 ] || bad "annotate message $i ($status)"
done <"$TMP/labels.txt"
# four unlabelled messages beside them
api POST /api/messages "$SERVICE" '{"messages":[{"text":"I lost my wallet and my card with it","language":"en"},{"text":"How can I order a card for my son?","language":"en"},{"text":"Can I get a new card delivered abroad?","language":"en"},{"text":"Mikä on tilini saldo?","language":"fi"}]}'
check "4 unlabelled messages stored" is 201
N_MESSAGES=52

# --- bad train requests and roles
api POST /api/train "$ADMIN" '{"method":"nope"}'
check "unknown method: 422" err_is 422 invalid
api POST /api/train "$ADMIN" '{"methods":"tfidf"}'
check "unknown field: 422" err_is 422 invalid
api POST /api/train "$ANNOTATOR" '{"method":"tfidf"}'
check "an annotator may not train: 403" is 403

# --- train tfidf
api POST /api/train "$ADMIN" '{"method":"tfidf"}'
check "POST /api/train tfidf: 202" is 202
TFIDF_JOB=$(jq -r .job <<<"$body")
check "wait for the tfidf job" wait_job "$TFIDF_JOB"
jqc "the tfidf job is done with progress 1 and a model" \
    '.state == "done" and .progress == 1 and .kind == "train" and (.model_id | type == "number") and .error == null and (.finished_at >= .created_at)'
TFIDF=$(jq -r .model_id <<<"$body")

# check_metrics ID METHOD: the model's held-out metrics are consistent and in range.
check_metrics() {
    api GET "/api/models/$1" "$SERVICE"
    echo "# $2: $(jq -c '.metrics | {accuracy, macro_f1, n_train, n_eval, curve_points: (.curve | length)}' <<<"$body")"
    jqc "$2 model $1: row fields" ".id == $1 and .method == \"$2\" and .active == false and .classes == 12 and (.created_at > 0)"
    jqc "$2: 48 = n_train + n_eval, 12 held out (one per topic)" '.metrics.n_train + .metrics.n_eval == 48 and .metrics.n_eval == 12'
    jqc "$2: accuracy and macro F1 in [0, 1]" '.metrics.accuracy >= 0 and .metrics.accuracy <= 1 and .metrics.macro_f1 >= 0 and .metrics.macro_f1 <= 1'
    jqc "$2: per topic: 12 topics, values in [0, 1], supports sum to n_eval" \
        '(.metrics.per_topic | length == 12) and all(.metrics.per_topic[]; .precision >= 0 and .precision <= 1 and .recall >= 0 and .recall <= 1 and .f1 >= 0 and .f1 <= 1) and ([.metrics.per_topic[].support] | add) == .metrics.n_eval'
    # Recomputed here from the confusion matrix: accuracy = trace / total, recall = diagonal / row sum.
    jqc "$2: confusion 12 x 12, total n_eval, accuracy = trace / total" \
        '.metrics.confusion.matrix as $m | ($m | length == 12) and all($m[]; length == 12) and ([$m[][]] | add) == .metrics.n_eval and ((([range(12) as $i | $m[$i][$i]] | add) / .metrics.n_eval) - .metrics.accuracy | fabs) < 1e-9'
    jqc "$2: recall of each topic = its diagonal / its row" \
        '.metrics.confusion.matrix as $m | .metrics.confusion.topics as $t | all(range(12) as $i | .metrics.per_topic[] | select(.topic == $t[$i]) | {r: .recall, s: .support, i: $i}; (.s == 0) or ((.r - ($m[.i][.i] / .s)) | fabs) < 1e-9)'
    jqc "$2: curve: thresholds falling, automation rising to 1, precision at full automation = accuracy" \
        '.metrics.curve as $c | ($c | length >= 1) and ($c | length <= 200) and all(range(1; $c | length); $c[.].threshold < $c[. - 1].threshold and $c[.].automation >= $c[. - 1].automation) and ($c[-1].automation == 1) and ($c[-1].answered == .metrics.n_eval) and (($c[-1].precision - .metrics.accuracy) | fabs) < 1e-9'
    check "$2: the bundle is under the workspace" test -f "$(jq -r .bundle_path <<<"$body")/bundle.json"
    case "$(jq -r .bundle_path <<<"$body")" in "$(cd "$WS" && pwd -P)"/models/*) ok "$2: saved in WORKSPACE/models" ;; *) bad "$2: saved in WORKSPACE/models" ;; esac
}
check_metrics "$TFIDF" tfidf
api POST /api/train "$ADMIN" '{"method":"bm25"}'
check "POST /api/train bm25: 202" is 202
check "wait for the bm25 job" wait_job "$(jq -r .job <<<"$body")"
jqc "the bm25 job is done" '.state == "done" and (.model_id | type == "number")'
check_metrics "$(jq -r .model_id <<<"$body")" bm25

# --- train frozen (USE-lite); the server stays answerable meanwhile; one train job at a time
api POST /api/train "$ADMIN" '{"method":"frozen"}'
check "POST /api/train frozen: 202" is 202
FROZEN_JOB=$(jq -r .job <<<"$body")
api POST /api/train "$ADMIN" '{"method":"tfidf"}'
check "a second train job while one runs: 409 job_running" err_is 409 job_running
t0=$(date +%s%N)
api GET /api/topics "$ANNOTATOR"
t1=$(date +%s%N)
check "requests are answered while training (under 1 s)" [ "$status" = 200 -a $(((t1 - t0) / 1000000)) -lt 1000 ]
api GET /api/jobs "$ANNOTATOR"
jqc "GET /api/jobs lists both train jobs, newest first" ".jobs[0].id == $FROZEN_JOB and any(.jobs[]; .id == $TFIDF_JOB)"
jqc "a job's progress is in [0, 1] and it has a stage" 'all(.jobs[]; .progress >= 0 and .progress <= 1 and (.stage | length > 0))'
check "wait for the frozen job" wait_job "$FROZEN_JOB"
jqc "the frozen job is done" '.state == "done" and (.model_id | type == "number")'
FROZEN=$(jq -r .model_id <<<"$body")
check_metrics "$FROZEN" frozen

# --- activate: classify and route answer
api POST "/api/models/$FROZEN/activate" "$ADMIN"
check "activate the frozen model" is 200
check "the log says it is live" grep -q "model $FROZEN (frozen, 12 topics) is live" "$LOG"
api POST /api/classify "$SERVICE" '{"text":"I have lost my card, please block it"}'
check "classify answers once a model is active" is 200
TOPICS=$(jq -sc '[.[].name]' "$TMP/topics.jsonl")
jqc "... with one of the 12 topics" ".topic as \$t | $TOPICS | index(\$t) != null"
api GET "/api/models/$FROZEN" "$ADMIN"
jqc "the model is active and keeps its metrics after activation" '.active == true and .metrics.n_eval == 12'

# --- before the active model's map is computed, GET /api/map answers the base map, now labelled
api GET /api/map "$ANNOTATOR"
jqc "with an active model but no map of it: the base map" ".base == true and .model_id == null and (.points | length == $N_IMPORTED)"
jqc "base map labels: the latest annotations, no predictions" \
    "[.points[] | .label] == $(jq -R . <"$TMP/labels.txt" | jq -sc .) and all(.points[]; .prediction == null and .probability == null)"

# --- the map of the active model
api POST /api/map "$SERVICE" '{}'
check "a service token may not compute the map: 403" is 403
api POST /api/map "$ANNOTATOR" '{"model_id":999}'
check "map of an unknown model: 404" err_is 404 not_found
api POST /api/map "$ANNOTATOR" '{}'
check "POST /api/map: 202" is 202
MAP_JOB=$(jq -r .job <<<"$body")
t0=$(date +%s%N)
check "wait for the map job" wait_job "$MAP_JOB"
echo "# map of $N_MESSAGES messages: $((($(date +%s%N) - t0) / 1000000)) ms (polled every 0.5 s)"
jqc "the map job is done, for the active model" ".state == \"done\" and .kind == \"map\" and .model_id == $FROZEN"
api GET /api/map "$ANNOTATOR"
check "GET /api/map: 200" is 200
jqc "one point per message, for the active model (no longer the base map)" ".model_id == $FROZEN and .base == false and (.points | length == $N_MESSAGES) and ([.points[].id] | unique | length == $N_MESSAGES)"
jqc "coordinates are finite numbers" 'all(.points[]; (.x | type == "number") and (.y | type == "number") and (.x | isinfinite | not) and (.y | isinfinite | not))'
# k = clamp(round(sqrt(52 / 4)), 2, 40) = 4
jqc "clusters 0..3, all used" '[.points[].cluster] | unique == [0, 1, 2, 3]'
jqc "every point has the model's prediction (stored by the train job)" 'all(.points[]; (.prediction | type == "string") and .probability > 0 and .probability <= 1)'
jqc "labels: the latest annotation (message 3 relabelled), none on new messages" \
    "(.points[] | select(.id == 3) | .label) == \"$(sed -n 3p "$TMP/labels.txt")\" and ([.points[] | select(.label == null)] | length == 4)"
jqc "labels match the demo file" "[.points[] | select(.id <= 48) | .label] == $(jq -R . <"$TMP/labels.txt" | jq -sc .)"
# A point sits nearer its own cluster's centre than any other (k-means' fixed point).
jqc "each point is nearest its own cluster's centre" \
    '.points as $p | ([range(4) as $k | [$p[] | select(.cluster == $k)] | {x: (map(.x) | add / length), y: (map(.y) | add / length)}]) as $c | all($p[]; . as $q | ([range(4) as $k | (($q.x - $c[$k].x) * ($q.x - $c[$k].x) + ($q.y - $c[$k].y) * ($q.y - $c[$k].y))] | . as $d | index($d | min)) == $q.cluster)'
api POST /api/map "$ADMIN" "{\"model_id\":$TFIDF}"
check "map of the tfidf model (base encoder): 202" is 202
check "wait for it" wait_job "$(jq -r .job <<<"$body")"
jqc "done" '.state == "done"'
api GET "/api/map?model_id=$TFIDF" "$SERVICE"
jqc "the tfidf model's map has every message and its own predictions" ".model_id == $TFIDF and (.points | length == $N_MESSAGES) and all(.points[]; .prediction != null)"
api GET "/api/map?model_id=999" "$SERVICE"
check "no map for model 999: 404 map_not_computed" err_is 404 map_not_computed
api GET "/api/map?model_id=abc" "$SERVICE"
check "model_id=abc: 400" is 400
api GET "/api/map?model_id=base" "$SERVICE"
jqc "the base map stays as computed (48 points) beside the models' maps" \
    ".base == true and (.points | length == $N_IMPORTED) and ([.points[] | [.id, .x, .y]] == $BASE_XY)"
api POST /api/map "$ADMIN" '{"model_id":"base"}'
check "recompute the base map with a model active: 202" is 202
check "wait for it" wait_job "$(jq -r .job <<<"$body")"
jqc "done, for no model" '.state == "done" and .model_id == null'
api GET "/api/map?model_id=base" "$SERVICE"
jqc "the base map now has every message, still no predictions" \
    ".base == true and (.points | length == $N_MESSAGES) and all(.points[]; .prediction == null) and ([.points[] | select(.label == null)] | length == 4)"
api GET /api/map "$SERVICE"
jqc "GET /api/map still answers the active model's map" ".model_id == $FROZEN and .base == false"

# --- route every new message
api POST /api/route "$ADMIN" '{"status":"bogus"}'
check "route-all with an unknown status: 422" err_is 422 invalid
api POST /api/route "$ANNOTATOR" '{"status":"new"}'
check "an annotator may not route all: 403" is 403
api POST /api/route "$ADMIN" '{"status":"new"}'
check "POST /api/route: 202" is 202
check "wait for the route job" wait_job "$(jq -r .job <<<"$body")"
jqc "the route job is done with the active model" ".state == \"done\" and .kind == \"route\" and .model_id == $FROZEN"
statuses=""
for id in $(seq 1 $N_MESSAGES); do
    api GET "/api/messages/$id" "$SERVICE"
    statuses+="$(jq -r .status <<<"$body") "
done
check "no message is new any more" [ -z "$(tr ' ' '\n' <<<"$statuses" | grep -vx -e auto_answered -e queued -e '')" ]
check "some are answered automatically, some queued for a person" \
    [ "$(tr ' ' '\n' <<<"$statuses" | grep -cx auto_answered)" -ge 1 -a "$(tr ' ' '\n' <<<"$statuses" | grep -cx queued)" -ge 1 ]
# Routing one message again gives the decision the job recorded (same model, same policy).
same=1
for id in 1 5 13 20 49 52; do
    want=$(tr ' ' '\n' <<<"$statuses" | sed -n "${id}p")
    api POST "/api/messages/$id/route" "$ADMIN"
    got=$(jq -r .action <<<"$body")
    { [ "$want" = auto_answered ] && [ "$got" = auto_reply ]; } || { [ "$want" = queued ] && [ "$got" = human ]; } || same=0
done
check "route-all decided as POST /api/messages/{id}/route does" [ "$same" -eq 1 ]
api POST /api/route "$ADMIN" '{}'
check "route-all again (default status new): 202" is 202
check "... finishes" wait_job "$(jq -r .job <<<"$body")"
jqc "... with nothing left to route" '.state == "done"'
check "decisions are counted in /metrics" bash -c "curl -s -H 'Authorization: Bearer $ADMIN' $URL/metrics | grep -q 'decision'"

# --- jobs: errors, and a stop while a job runs
api GET /api/jobs/999 "$ADMIN"
check "unknown job: 404" err_is 404 not_found
api GET /api/jobs/abc "$ADMIN"
check "job id abc: 404" is 404
check "the log never shows message text" bash -c "! grep -q -e 'wallet' -e 'saldo' '$LOG'"
api POST /api/train "$ADMIN" '{"method":"frozen"}'
check "a train job starts before the stop" is 202
stop_kanava_server TERM
check "SIGTERM during a job: the server stops cleanly (exit 0)" [ "$rc" -eq 0 ]
finish
