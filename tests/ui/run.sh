#!/usr/bin/env bash
# tests/ui/run.sh [BUILD_DIR]: the web UI's browser test. Installs its npm packages (npm ci),
# sets up a fresh workspace (the demo topics from data/demo/topics.csv, an admin token, no
# messages), starts `kanava serve` on a free port with the USE-lite model as the base
# encoder, runs ui_test.mjs in Debian's headless Chromium, and stops the server.
# Screenshots go to BUILD_DIR/ui-artifacts/. Exit status 0 only when every check passed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
BIN="$BUILD/kanava"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$BIN" ] || { echo "ui: $BIN is missing: build it first (make)"; exit 1; }
[ -x "$CHROMIUM" ] || { echo "ui: no Chromium at $CHROMIUM: apt-get install chromium (scripts/install-deps.sh)"; exit 1; }
(cd "$ROOT/tests/ui" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || { echo "ui: npm ci failed in tests/ui"; exit 1; }
"$BIN" model fetch use-lite >"$BUILD/ui-model-fetch.log" 2>&1 || { echo "ui: kanava model fetch use-lite failed:"; cat "$BUILD/ui-model-fetch.log"; exit 1; }

# $TMP and $PID cleaned at exit, start_kanava_server
. "$ROOT/tests/lib.sh"
test_tmp_dir
WS="$TMP/ws"
"$BIN" init --workspace "$WS" >/dev/null 2>&1 || { echo "ui: kanava init failed"; exit 1; }

# The demo topics with the CLI (name,description,automatable,threshold,reply_en,reply_fi);
# any python3 reads the CSV's quoting.
python3 -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")):
    sys.stdout.write("\0".join([r["name"], r["description"], r["automatable"], r["threshold"], r["reply_en"], r["reply_fi"]]) + "\0")
' "$ROOT/data/demo/topics.csv" >"$TMP/topics" || { echo "ui: cannot read data/demo/topics.csv"; exit 1; }
while IFS= read -r -d '' name && IFS= read -r -d '' desc && IFS= read -r -d '' auto && IFS= read -r -d '' thr &&
      IFS= read -r -d '' en && IFS= read -r -d '' fi_; do
    if [ "$auto" = 1 ]; then flag=--automate; else flag=--never-automate; fi
    { "$BIN" topic add "$name" --description "$desc" --threshold "$thr" "$flag" --workspace "$WS" &&
      "$BIN" topic reply "$name" en "$en" --workspace "$WS" &&
      "$BIN" topic reply "$name" fi "$fi_" --workspace "$WS"; } >"$TMP/topic.log" 2>&1 ||
        { echo "ui: kanava topic add $name failed:"; cat "$TMP/topic.log"; exit 1; }
done <"$TMP/topics"
TOKEN=$("$BIN" token create --role admin --name ui-admin --workspace "$WS" 2>/dev/null) || { echo "ui: kanava token create failed"; exit 1; }

LOG="$TMP/server.log"
start_kanava_server "$LOG" --workspace "$WS" --threads 4 ||
    { echo "ui: the server does not start:"; cat "$LOG"; exit 1; }

mkdir -p "$BUILD/ui-artifacts"
rm -f "$BUILD/ui-artifacts"/*.png
rc=0
KANAVA_URL="$URL" KANAVA_TOKEN="$TOKEN" KANAVA_ROOT="$ROOT" ARTIFACTS="$BUILD/ui-artifacts" \
    CHROMIUM="$CHROMIUM" timeout 200 node "$ROOT/tests/ui/ui_test.mjs" || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "ui: the server's log (last 30 lines):"
    tail -n 30 "$LOG"
fi
exit "$rc"
