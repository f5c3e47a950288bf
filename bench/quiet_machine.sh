# quiet_machine.sh - sourced by the speed benchmarks: wait_for_quiet_machine MACHINE_FILE
# waits (up to KANAVA_BENCH_WAIT seconds, default 1200) for a 1-minute load below 1.0, then
# writes the machine, its load and the wait to MACHINE_FILE (and stderr); says how long it
# waited, or that it gave up, so that figures from a busy machine are marked as such.
wait_for_quiet_machine() {
    local wait_s=${KANAVA_BENCH_WAIT:-1200} waited=0
    while awk '{exit !($1 >= 1.0)}' /proc/loadavg && [ "$waited" -lt "$wait_s" ]; do
        [ "$waited" -eq 0 ] && echo "waiting for a quiet machine (load $(cut -d' ' -f1 /proc/loadavg))..." >&2
        sleep 30
        waited=$((waited + 30))
    done
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before the run:" \
         "$(cut -d' ' -f1-3 /proc/loadavg) after waiting ${waited}s" | tee "$1" >&2
}
