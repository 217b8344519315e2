#!/usr/bin/env bash
# Scaling benchmark (docs/SCALING.md): the same cohort of the default scenario simulated
#   - in one process on 1 and on 2 threads,
#   - as 2 shards run side by side (1 thread each), then `vpgen merge`,
#   - under mpirun at 2 ranks (1 thread each; skipped without an MPI build and Open MPI),
# and, in the same run, the raw limit of one SQLite writer (vpgen_bench: a plain insert of the same
# rows). Prints one JSON object on stdout; progress on stderr. Each configuration checks that its
# file holds the one-process content (sqlite3 dump of the data tables compared).
#   tools/scaling_bench.sh [--patients N] [--events on|off] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

patients=200000
events=off
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --patients) patients="$2"; shift 2;;
    --events) events="$2"; shift 2;;
    --build) build="$2"; shift 2;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "scaling_bench: unknown argument $1 (see --help)" >&2; exit 2;;
  esac
done
case "$events" in on|off) ;; *) echo "scaling_bench: --events on|off" >&2; exit 2;; esac
vpgen="$build/tools/vpgen"
[ -x "$vpgen" ] || { echo "scaling_bench: $vpgen not built (./tools/setup.sh build)" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "scaling_bench: needs the sqlite3 shell" >&2; exit 2; }

work="$(mktemp -d /tmp/vpgen-scaling.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The default scenario with absolute model paths and the events setting asked for.
scenario="$work/scenario.toml"
sed -e "s|\"model/|\"$PWD/configs/model/|" -e "s|^store_events = .*|store_events = $([ "$events" = on ] && echo true || echo false)|" \
  configs/default.toml > "$scenario"
common=(--patients "$patients" --seed 7 --quiet)

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }
elapsed() { calc "$2 - $1"; }
content() {  # the stored values, not the timings: equal for every way of running
  sqlite3 "$1" "SELECT * FROM patients; SELECT * FROM outcomes; SELECT * FROM events;
    SELECT * FROM subgroup_counts; SELECT * FROM survival_time_counts; SELECT * FROM arms;
    SELECT scenario_hash, seed, patients_requested, patients_stored, candidates_screened,
    status FROM runs;" | md5sum | cut -d' ' -f1
}
log() { echo "scaling_bench: $*" >&2; }

log "one process, 1 thread"
t0=$(now); "$vpgen" simulate "$scenario" "${common[@]}" --threads 1 --db "$work/one1.db" >/dev/null; t1=$(now)
one1=$(elapsed "$t0" "$t1")
reference=$(content "$work/one1.db")
bytes=$(stat -c %s "$work/one1.db")

log "one process, 2 threads"
t0=$(now); "$vpgen" simulate "$scenario" "${common[@]}" --threads 2 --db "$work/one2.db" >/dev/null; t1=$(now)
one2=$(elapsed "$t0" "$t1")
[ "$(content "$work/one2.db")" = "$reference" ] || { log "2 threads: content differs"; exit 1; }

log "2 shards side by side, then merge"
t0=$(now)
"$vpgen" simulate "$scenario" "${common[@]}" --threads 1 --shard 0/2 --db "$work/s0.db" >/dev/null &
"$vpgen" simulate "$scenario" "${common[@]}" --threads 1 --shard 1/2 --db "$work/s1.db" >/dev/null
wait
t1=$(now)
merge_json=$("$vpgen" merge --into "$work/merged.db" "$work/s1.db" "$work/s0.db" --format json --quiet)
t2=$(now)
shards=$(elapsed "$t0" "$t1")
merge=$(elapsed "$t1" "$t2")
[ "$(content "$work/merged.db")" = "$reference" ] || { log "merged shards: content differs"; exit 1; }
merge_rows=$(echo "$merge_json" | sed -n 's/.*"rows_copied": \([0-9]*\).*/\1/p')

mpi=null
mpirun_cmd="$(command -v mpirun || true)"
if [ -n "$mpirun_cmd" ] && "$vpgen" simulate --help | grep -q -- "--mpi" && \
   "$mpirun_cmd" --version 2>/dev/null | grep -q -E "Open MPI|OpenRTE"; then
  log "mpirun -n 2, 1 thread each"
  t0=$(now)
  if OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$mpirun_cmd" --oversubscribe -n 2 \
       "$vpgen" simulate "$scenario" "${common[@]}" --threads 1 --db "$work/mpi.db" >/dev/null 2>"$work/mpi.err"; then
    t1=$(now)
    mpi=$(elapsed "$t0" "$t1")
    [ "$(content "$work/mpi.db")" = "$reference" ] || { log "MPI: content differs"; exit 1; }
  else
    log "mpirun failed: $(head -c 300 "$work/mpi.err")"
  fi
fi

log "raw limit: vpgen_bench (plain SQLite insert of the same rows)"
raw_json=$("$build/tools/vpgen_bench" --scenario "$scenario" --patients "$patients" --threads 2 --repeat 1 --dir "$work" --format json 2>/dev/null || true)

rate() { calc "$patients / $1"; }
cat <<EOF
{
  "patients": $patients,
  "events": "$events",
  "arms": 3,
  "content_identical": true,
  "bytes_per_patient": $(calc "$bytes / $patients"),
  "one_process_1_thread": {"seconds": $one1, "patients_per_second": $(rate "$one1")},
  "one_process_2_threads": {"seconds": $one2, "patients_per_second": $(rate "$one2")},
  "two_shards_1_thread_each": {"seconds": $shards, "patients_per_second": $(rate "$shards")},
  "merge_two_shards": {"seconds": $merge, "rows": $merge_rows, "rows_per_second": $(calc "$merge_rows / $merge")},
  "shards_plus_merge": {"seconds": $(calc "$shards + $merge"), "patients_per_second": $(rate "$(calc "$shards + $merge")")},
  "mpirun_2_ranks_1_thread_each_seconds": $mpi,
  "vpgen_bench": ${raw_json:-null}
}
EOF
