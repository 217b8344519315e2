#!/usr/bin/env bash
# A Slurm job array that simulates one cohort as N shards, one per array task, then merges them in a
# dependent job (docs/SCALING.md). Adapt the #SBATCH lines, the paths and the sizes, then:
#   sbatch tools/slurm_array.sh            # submits the array; it submits the merge itself
# A task that dies leaves its shard incomplete: resubmit that task alone
#   sbatch --array=17 tools/slurm_array.sh
# and it resumes the shard where its last committed block ended (merge names any missing range).
#SBATCH --job-name=vpgen-shards
#SBATCH --array=0-63
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=logs/vpgen-%A_%a.out
set -euo pipefail

VPGEN=${VPGEN:-$HOME/vpgen/build/tools/vpgen}
SCENARIO=${SCENARIO:-$HOME/vpgen/configs/default.toml}
PATIENTS=${PATIENTS:-100000000}
SEED=${SEED:-7}
SHARDS=${SHARDS:-64}                  # must equal the number of array tasks
OUT=${OUT:-$PWD/out}

if [ "${1:-}" = merge ]; then        # the dependent job: check every shard, then combine
  exec "$VPGEN" merge --into "$OUT/all.db" "$OUT"/shard-*.db
fi

k=${SLURM_ARRAY_TASK_ID:?run under sbatch --array}
db=$(printf '%s/shard-%02d.db' "$OUT" "$k")
mkdir -p "$OUT"
# An incomplete shard from an earlier attempt is resumed; a complete one is left alone.
run=$(sqlite3 "$db" "SELECT run_id || ' ' || status FROM runs" 2>/dev/null || true)
case "$run" in
  *" complete") echo "shard $k/$SHARDS already complete";;
  *" incomplete")
    "$VPGEN" simulate "$SCENARIO" --patients "$PATIENTS" --seed "$SEED" --shard "$k/$SHARDS" \
      --threads "$SLURM_CPUS_PER_TASK" --quiet --db "$db" --resume "${run%% *}";;
  *)
    rm -f "$db" "$db-wal" "$db-shm"
    "$VPGEN" simulate "$SCENARIO" --patients "$PATIENTS" --seed "$SEED" --shard "$k/$SHARDS" \
      --threads "$SLURM_CPUS_PER_TASK" --quiet --db "$db";;
esac

# The first task submits the merge, to run once every task of the array has ended successfully.
if [ "$k" = 0 ]; then
  sbatch --dependency=afterok:"$SLURM_ARRAY_JOB_ID" --job-name=vpgen-merge \
    --output=logs/vpgen-merge-%j.out "$0" merge
fi
