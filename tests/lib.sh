# tests/lib.sh: what the shell tests share. Sourced (`. "$ROOT/tests/lib.sh"`), never run.
# Provides the ok/bad/check/quiet counters and test_summary, a temporary directory cleaned
# up at exit (with the server in $PID), building tests/server_fixture.c, starting and
# stopping `$BIN serve` on a random free port, and the HTTP helpers api/jqc/is/err_is.
# shellcheck shell=bash disable=SC2034 # the variables set here are for the sourcing script

KANAVA_TEST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- counters: every check prints "ok - NAME" or "FAIL - NAME"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
quiet() { "$@" >/dev/null 2>&1; }
# test_summary NAME: the last line tests/run.sh greps; succeeds only when nothing failed
test_summary() { echo "$1: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; }

# --- test_tmp_dir: sets $TMP (a new directory) and an empty $PID, and removes both at exit.
# A script with more processes to stop sets its own EXIT trap that ends with test_cleanup.
test_tmp_dir() {
    TMP=$(mktemp -d)
    PID=
    trap test_cleanup EXIT
}
test_cleanup() {
    if [ -n "${PID:-}" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    rm -rf "$TMP"
}

# --- is_sanitizer_build BUILD: whether BUILD/libkanava.a was built with ASan (SAN=1)
is_sanitizer_build() { nm "$1/libkanava.a" 2>/dev/null | grep -q __asan; }

# --- build_fixture BUILD OUT: compiles tests/server_fixture.c against BUILD/libkanava.a
# with the Makefile's LDLIBS (and ASan+UBSan when the library was built with them).
build_fixture() {
    local build="$1" out="$2" ldlibs sanflags=
    # shellcheck disable=SC2016 # $(LDLIBS) is for make to expand
    ldlibs=$(make -s --no-print-directory -C "$KANAVA_TEST_ROOT" BUILD="$build" \
        --eval 'kn-print-ldlibs: ; @echo $(LDLIBS)' kn-print-ldlibs) || return 1
    if is_sanitizer_build "$build"; then sanflags=-fsanitize=address,undefined; fi
    # shellcheck disable=SC2086 # LDLIBS and the sanitizer flag are lists of words
    cc -std=c11 -D_GNU_SOURCE $sanflags -I"$KANAVA_TEST_ROOT/src" -o "$out" \
        "$KANAVA_TEST_ROOT/tests/server_fixture.c" "$build/libkanava.a" $ldlibs
}

# --- wait_healthz URL PID: polls URL/healthz for up to 30 s; fails early when PID exits.
# (A sanitizer build loading a model can take several seconds to listen.)
wait_healthz() {
    local _
    for _ in $(seq 1 300); do
        curl -sf "$1/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- start_kanava_server LOG ARGS...: runs `$BIN serve ARGS... --port P` with stderr in LOG
# (truncated on each try) on a random port, retried up to 8 times in case the port is taken.
# Sets PORT, URL and PID; on failure PID is empty and the status is 1.
start_kanava_server() {
    local log="$1" _; shift
    for _ in 1 2 3 4 5 6 7 8; do
        PORT=$((20000 + RANDOM % 20000))
        URL="http://127.0.0.1:$PORT"
        "$BIN" serve "$@" --port "$PORT" 2>"$log" &
        PID=$!
        wait_healthz "$URL" "$PID" && return 0
        kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
    done
    return 1
}

# --- stop_kanava_server SIGNAL: sends it to $PID and waits (up to 30 s, then SIGKILL);
# sets $rc to the server's exit status and empties $PID.
stop_kanava_server() {
    local _
    kill -"$1" "$PID"
    for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null
    wait "$PID"; rc=$?
    PID=
}

# --- HTTP against $URL (curl, jq)
# api METHOD PATH TOKEN [BODY [CURL ARGS...]]: sets $status and $body. A body is sent as
# $CONTENT_TYPE (default application/json: `CONTENT_TYPE=text/csv api ...` for one call);
# every call gives up after $API_MAX_TIME seconds (default 60).
api() {
    local method="$1" path="$2" token="$3"; shift 3
    local args=(-s -o "$TMP/body" -w '%{http_code}' -X "$method" --max-time "${API_MAX_TIME:-60}")
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    if [ $# -gt 0 ]; then args+=(-H "Content-Type: ${CONTENT_TYPE:-application/json}" --data-binary "$1"); shift; fi
    status=$(curl "${args[@]}" "$@" "$URL$path")
    body=$(cat "$TMP/body")
}
# jqc NAME FILTER: the last body satisfies the jq filter.
jqc() { check "$1" jq_body "$2"; }
jq_body() { jq -e "$1" <<<"$body" >/dev/null; }
is() { [ "$status" = "$1" ]; }
# err_is STATUS CODE: that status and a JSON error with that code and a message
# wait_job ID [TOKEN]: polls GET /api/jobs/ID (as TOKEN, default $ADMIN) until the job is no
# longer running (up to 600 s); $body is its last view.
wait_job() {
    local _ token=${2:-$ADMIN}
    for _ in $(seq 1 1200); do
        api GET "/api/jobs/$1" "$token"
        jq -e '.state != "running"' <<<"$body" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}
err_is() { is "$1" && jq -e --arg c "$2" '.error.code == $c and (.error.message | length > 0)' <<<"$body" >/dev/null; }
