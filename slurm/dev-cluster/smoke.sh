#!/usr/bin/env bash
# Check the dev cluster end to end with plain sbatch: sacct states (COMPLETED, FAILED), a GPU array whose
# tasks get CUDA_VISIBLE_DEVICES from the fake GRES, and the MaxArraySize cap.
# WITH_TIMEOUT=1 also waits for a --time=1 job to reach TIMEOUT (Slurm's minimum limit: ~80-90 s).
#   bash slurm/dev-cluster/smoke.sh
set -euo pipefail
# Daemons and runuser live in the sbin folders, which a minimal (CI or sudo) PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ROOT=${SLURM_ROOT:-/tmp/sertack-slurm}
export SLURM_CONF=${SLURM_CONF:-$ROOT/etc/slurm.conf}
DIR=$ROOT/jobs/smoke-$$
mkdir -p "$DIR" && cd "$DIR"
START=$EPOCHREALTIME
elapsed() { awk -v t0="$START" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t1 - t0 }'; }
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }

# expect <job id> <state prefix> <timeout s>: poll sacct (it lags a few seconds behind the scheduler).
expect() {
  local state=""
  for ((i = 0; i < $3; i++)); do
    state=$(sacct -n -X -P -j "$1" -o State 2>/dev/null | head -1)
    [[ $state == "$2"* ]] && { echo "ok   job $1 -> $state ($(elapsed) s)"; return 0; }
    sleep 1
  done
  fail "job $1: expected $2 within $3 s, sacct says '${state:-nothing}'"
}

scontrol ping >/dev/null || fail "no controller answers scontrol ping (SLURM_CONF=$SLURM_CONF)"
[ "${WITH_TIMEOUT:-0}" = 1 ] && slow=$(sbatch --parsable --time=1 -o timeout.out --wrap 'sleep 600')
good=$(sbatch --parsable -o good.out --wrap 'echo hello')
bad=$(sbatch --parsable -o bad.out --wrap 'exit 3')
gpus=$(sbatch --parsable --array=0-3 -n 1 --gpus-per-task=1 -o 'gpu_%a.out' \
  --wrap 'echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"; sleep 1')

expect "$good" COMPLETED 60
expect "$bad" FAILED 60
for task in 0 1 2 3; do expect "${gpus}_$task" COMPLETED 90; done
for task in 0 1 2 3; do
  grep -qE '^CUDA_VISIBLE_DEVICES=[01]$' "gpu_$task.out" || fail "array task $task saw no fake GPU: $(cat "gpu_$task.out")"
done
echo "ok   4 GPU array tasks each saw one fake GPU: $(cat gpu_*.out | sort | uniq -c | tr -s ' ' | paste -sd, -)"
if sbatch --array=0-1001 --wrap true >/dev/null 2>&1; then fail "--array=0-1001 accepted: MaxArraySize=1001 not enforced"; fi
echo "ok   --array=0-1001 rejected (MaxArraySize=$(scontrol show config | awk '/^MaxArraySize/ {print $3}'))"
[ -n "${slow:-}" ] && expect "$slow" TIMEOUT 180
rm -rf "$DIR"
echo "smoke passed in $(elapsed) s"
