#!/usr/bin/env bash
# End-to-end checks of the workspace commands: init, import, token, topic, and their errors.
# Usage: tests/workspace_test.sh BUILD_DIR
set -u
BIN="$(cd "$1" && pwd)/kanava"
[ -x "$BIN" ] || { echo "no binary at $1/kanava"; echo "workspace: 0 passed, 1 failed"; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# ok/bad/check/quiet and test_summary
. "$ROOT/tests/lib.sh"
not() { ! "$@"; }
# number of messages in the workspace database at $1
count_messages() {
    /usr/bin/python3 - "$1/kanava.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM messages").fetchone()[0])
PY
}
unset KANAVA_WORKSPACE
W="$TMP/ws"

# --- init: creates, then is idempotent and leaves the data alone
out=$("$BIN" init --workspace "$W" 2>"$TMP/err"); rc=$?
check "init exits 0" [ $rc -eq 0 ]
check "init creates the database" [ -f "$W/kanava.db" ]
check "init prints the workspace path" [ "$out" = "$(cd "$W" && pwd -P)" ]
"$BIN" topic add keep --workspace "$W" 2>/dev/null
out=$("$BIN" init --workspace "$W" 2>&1); rc=$?
check "init again exits 0" [ $rc -eq 0 ]
check "init again says the workspace exists" grep -q "already exists" <<<"$out"
check "init again keeps the data" grep -q "^keep " <<<"$("$BIN" topic list --workspace "$W" 2>/dev/null)"
"$BIN" topic remove keep --workspace "$W" 2>/dev/null
out=$(cd "$TMP" && KANAVA_WORKSPACE="$TMP/envws" "$BIN" init 2>/dev/null)
check "init honours \$KANAVA_WORKSPACE" [ -f "$TMP/envws/kanava.db" ]

# --- no workspace: a clear error naming the database and `kanava init`
for cmd in "import $TMP/x.csv" "token list" "topic list"; do
    touch "$TMP/x.csv"
    out=$("$BIN" $cmd --workspace "$TMP/nowhere" 2>&1); rc=$?
    check "$cmd without a workspace fails" [ $rc -ne 0 ]
    check "$cmd without a workspace names it" grep -qF "no workspace at $TMP/nowhere/kanava.db; run \`kanava init\`" <<<"$out"
done
check "no workspace is not created by other commands" [ ! -e "$TMP/nowhere" ]

# --- import CSV: invalid rows named by line, valid rows kept, re-import adds nothing
cat >"$TMP/m.csv" <<'CSV'
external_id,channel,language,text
c1,email,en,My card was charged twice SECRET_CSV_ONE
c2,email,en,
c3,chat,fi,"Kortti ei toimi, SECRET_CSV_TWO"
c4,chat,fi,too,many,fields SECRET_CSV_THREE
c5,email,en,Where is my refund SECRET_CSV_FOUR
CSV
out=$("$BIN" import "$TMP/m.csv" --workspace "$W" 2>&1); rc=$?
check "CSV import with invalid rows exits 0" [ $rc -eq 0 ]
check "CSV empty text is named by line" grep -q "m.csv:3: the text is empty" <<<"$out"
check "CSV bad field count is named by line" grep -q "m.csv:5: record has" <<<"$out"
check "CSV summary" grep -q "imported 5 rows: 3 added, 0 already there, 2 invalid" <<<"$out"
check "CSV valid rows are stored" [ "$(count_messages "$W")" = 3 ]
check "CSV import prints no message text" not grep -q "SECRET" <<<"$out"
out=$("$BIN" import "$TMP/m.csv" --workspace "$W" 2>&1); rc=$?
check "CSV re-import exits 0" [ $rc -eq 0 ]
check "CSV re-import adds 0" grep -q "imported 5 rows: 0 added, 3 already there, 2 invalid" <<<"$out"
check "CSV re-import stores nothing new" [ "$(count_messages "$W")" = 3 ]
out=$("$BIN" import "$TMP/m.csv" --workspace "$W" 2>/dev/null)
check "import writes nothing on stdout" [ -z "$out" ]

# --- import JSONL, small batches
cat >"$TMP/m.jsonl" <<'JSONL'
{"external_id": 1, "text": "Lost my phone SECRET_JSON_ONE", "language": "en"}
{"external_id": 2, "text": SECRET_JSON_BARE}
{"external_id": 3, "text": "unterminated SECRET_JSON_CUT

{"external_id": 4, "text": 17}
{"external_id": 5, "text": "Ok then SECRET_JSON_TWO", "received_at": "2026-01-02T03:04:05Z"}
{"external_id": "6", "text": "Third SECRET_JSON_THREE", "received_at": "2026-01-02T03:04:05"}
{"external_id": 7, "text": "Fourth SECRET_JSON_FOUR", "channel": "chat"}
JSONL
out=$("$BIN" import "$TMP/m.jsonl" --batch 1 --workspace "$W" 2>&1); rc=$?
check "JSONL import with invalid rows exits 0" [ $rc -eq 0 ]
check "JSONL malformed line 2 is named" grep -q "m.jsonl:2: malformed JSON" <<<"$out"
check "JSONL malformed line 3 is named" grep -q "m.jsonl:3: malformed JSON" <<<"$out"
check "JSONL non-string text (line 5) is named" grep -q "m.jsonl:5: \"text\" must be a string" <<<"$out"
check "JSONL time without a zone (line 7) is named" grep -q "m.jsonl:7: received_at" <<<"$out"
check "JSONL summary" grep -q "imported 7 rows: 3 added, 0 already there, 4 invalid" <<<"$out"
check "JSONL valid rows are stored" [ "$(count_messages "$W")" = 6 ]
check "JSONL import prints no message text (not even in JSON errors)" not grep -q "SECRET" <<<"$out"
out=$("$BIN" import "$TMP/m.jsonl" --workspace "$W" 2>&1); rc=$?
check "JSONL re-import adds 0" grep -q "imported 7 rows: 0 added, 3 already there, 4 invalid" <<<"$out"
check "JSONL re-import stores nothing new" [ "$(count_messages "$W")" = 6 ]

# --- import: files that cannot be read, bad options
out=$("$BIN" import "$TMP/missing.csv" --workspace "$W" 2>&1); rc=$?
check "missing file exits 2" [ $rc -eq 2 ]
check "missing file is named" grep -q "missing.csv: cannot open" <<<"$out"
printf 'a,b\n1,2\n' >"$TMP/notext.csv"
out=$("$BIN" import "$TMP/notext.csv" --workspace "$W" 2>&1); rc=$?
check "CSV without a text column exits 2" [ $rc -eq 2 ]
check "CSV without a text column says so" grep -q "no \`text\` column" <<<"$out"
"$BIN" import "$TMP/m.csv" --batch 0 --workspace "$W" >/dev/null 2>&1
check "--batch 0 is refused" [ $? -eq 2 ]
check "nothing stored by refused imports" [ "$(count_messages "$W")" = 6 ]

# --- tokens
out=$("$BIN" token create --role admin --workspace "$W" 2>"$TMP/err"); rc=$?
check "token create exits 0" [ $rc -eq 0 ]
check "token create prints only 64 hex digits on stdout" grep -qxE '[0-9a-f]{64}' <<<"$out"
check "token create prints one line" [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]
check "token create notes it is not shown again" grep -q "only this once" "$TMP/err"
check "token create keeps the token off stderr" not grep -qF "$out" "$TMP/err"
TOKEN1="$out"
out=$("$BIN" token create --role service --name ci-bot --workspace "$W" 2>/dev/null)
check "named token create prints a token" grep -qxE '[0-9a-f]{64}' <<<"$out"
check "two tokens differ" [ "$out" != "$TOKEN1" ]
hash=$(printf '%s' "$TOKEN1" | sha256sum | cut -c1-64)
list=$("$BIN" token list --workspace "$W" 2>&1)
check "token list shows the default name" grep -qE "^admin-1 +admin " <<<"$list"
check "token list shows the given name" grep -qE "^ci-bot +service " <<<"$list"
check "token list shows no hash" not grep -qF "$hash" <<<"$list"
check "token list shows no token" not grep -qF "$TOKEN1" <<<"$list"
check "token list shows nothing like a hash" not grep -qE '[0-9a-f]{32}' <<<"$list"
check "the database keeps only the hash" /usr/bin/python3 - "$W/kanava.db" "$hash" "$TOKEN1" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT hash FROM tokens WHERE name = 'admin-1'").fetchall()
assert rows == [(sys.argv[2],)], rows
dump = open(sys.argv[1], "rb").read()
assert sys.argv[3].encode() not in dump
PY
out=$("$BIN" token create --role admin --name ci-bot --workspace "$W" 2>&1); rc=$?
check "duplicate token name is refused" [ $rc -ne 0 ]
check "duplicate token name is named" grep -q 'a token named "ci-bot" already exists' <<<"$out"
out=$("$BIN" token revoke ci-bot --workspace "$W" 2>&1); rc=$?
check "token revoke exits 0" [ $rc -eq 0 ]
list=$("$BIN" token list --workspace "$W" 2>&1)
check "token list shows the revocation" grep -qE "^ci-bot +service +[0-9-]+ [0-9:]+Z +[0-9-]+ [0-9:]+Z" <<<"$list"
check "token list still shows the active token unrevoked" grep -qE "^admin-1 +admin +.*Z +-$" <<<"$list"
out=$("$BIN" token revoke ci-bot --workspace "$W" 2>&1); rc=$?
check "revoking again fails with 2" [ $rc -eq 2 ]
check "revoking an unknown name says so" grep -q 'no active token named "ci-bot"' <<<"$out"
out=$("$BIN" token revoke nobody --workspace "$W" 2>&1); rc=$?
check "unknown token name exits 2" [ $rc -eq 2 ]
check "unknown token name is named" grep -q 'no active token named "nobody"' <<<"$out"
out=$("$BIN" token create --role boss --workspace "$W" 2>&1 >"$TMP/out"); rc=$?
check "bad role exits 2" [ $rc -eq 2 ]
check "bad role is named" grep -q "unknown role 'boss'" <<<"$out"
check "bad role prints no token" [ ! -s "$TMP/out" ]
"$BIN" token create --workspace "$W" >/dev/null 2>&1
check "token create without --role exits 2" [ $? -eq 2 ]
"$BIN" token frobnicate --workspace "$W" >/dev/null 2>&1
check "unknown token subcommand exits 2" [ $? -eq 2 ]

# --- topics
"$BIN" topic add card_lost --description "The card is lost or stolen" --workspace "$W" 2>/dev/null
check "topic add exits 0" [ $? -eq 0 ]
"$BIN" topic add fraud --threshold 0.97 --never-automate --workspace "$W" 2>/dev/null
check "topic add with options exits 0" [ $? -eq 0 ]
"$BIN" topic reply card_lost fi "Kortin voi sulkea sovelluksessa." --workspace "$W" 2>/dev/null
check "topic reply exits 0" [ $? -eq 0 ]
"$BIN" topic reply card_lost en "You can block the card in the app." --workspace "$W" 2>/dev/null
list=$("$BIN" topic list --workspace "$W" 2>&1)
check "topic list: defaults and reply languages" grep -qE "^card_lost +yes +0\.9 +en,fi$" <<<"$list"
check "topic list: never-automate and threshold" grep -qE "^fraud +no +0\.97 +-$" <<<"$list"
show=$("$BIN" topic show card_lost --workspace "$W" 2>&1); rc=$?
check "topic show exits 0" [ $rc -eq 0 ]
check "topic show has the description" grep -q "description: The card is lost or stolen" <<<"$show"
check "topic show has the Finnish reply" grep -qF "[fi] Kortin voi sulkea sovelluksessa." <<<"$show"
check "topic show has the English reply" grep -qF "[en] You can block the card in the app." <<<"$show"
"$BIN" topic reply card_lost fi "Uusi vastaus." --workspace "$W" 2>/dev/null
check "topic reply replaces the template" grep -qF "[fi] Uusi vastaus." <<<"$("$BIN" topic show card_lost --workspace "$W" 2>&1)"
"$BIN" topic add card_lost --threshold 0.8 --workspace "$W" 2>/dev/null
show=$("$BIN" topic show card_lost --workspace "$W" 2>&1)
check "topic add on an existing topic changes only what is given" \
    grep -q "threshold:   0.8" <<<"$show"
check "... and keeps the description" grep -q "description: The card is lost or stolen" <<<"$show"
"$BIN" topic add precise --threshold 0.9999 --workspace "$W" 2>/dev/null
check "topic list shows a threshold unrounded" grep -qE "^precise +yes +0\.9999 +-$" <<<"$("$BIN" topic list --workspace "$W" 2>&1)"
"$BIN" topic remove precise --workspace "$W" 2>/dev/null
out=$("$BIN" topic add x --threshold 1.5 --workspace "$W" 2>&1); rc=$?
check "threshold above 1 exits 2" [ $rc -eq 2 ]
check "bad threshold is named" grep -q "threshold must be a number from 0 to 1, not '1.5'" <<<"$out"
"$BIN" topic add x --threshold abc --workspace "$W" >/dev/null 2>&1
check "non-numeric threshold exits 2" [ $? -eq 2 ]
check "no topic created by a bad threshold" not grep -q "^x " <<<"$("$BIN" topic list --workspace "$W" 2>&1)"
for sub in "show nope" "remove nope" "reply nope en Hello"; do
    out=$("$BIN" topic $sub --workspace "$W" 2>&1); rc=$?
    check "topic $sub: unknown topic exits 2" [ $rc -eq 2 ]
    check "topic $sub: unknown topic is named" grep -q 'no topic named "nope"' <<<"$out"
done
"$BIN" topic remove fraud --workspace "$W" 2>/dev/null
check "topic remove exits 0" [ $? -eq 0 ]
list=$("$BIN" topic list --workspace "$W" 2>&1)
check "removed topic is gone from the list" not grep -q "^fraud " <<<"$list"
check "other topics stay" grep -q "^card_lost " <<<"$list"
"$BIN" topic --workspace "$W" >/dev/null 2>&1
check "topic without a subcommand exits 2" [ $? -eq 2 ]
"$BIN" topic list extra --workspace "$W" >/dev/null 2>&1
check "topic list with extra arguments exits 2" [ $? -eq 2 ]

# --- \$KANAVA_WORKSPACE is used when --workspace is absent
check "\$KANAVA_WORKSPACE selects the workspace" grep -q "^card_lost " <<<"$(KANAVA_WORKSPACE="$W" "$BIN" topic list 2>&1)"

test_summary workspace
