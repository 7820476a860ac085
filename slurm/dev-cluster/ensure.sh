#!/usr/bin/env bash
# Make sure a Slurm controller answers before the test suite runs (called by `make test`).
#  - a controller already answers (ours under $SLURM_ROOT, or the site's): nothing to do;
#  - root with apt-get: bring the dev cluster up with up.sh;
#  - otherwise: one line saying the Slurm tests will be skipped, exit 0.
# With CI=true, failing to bring the cluster up fails the build (exit 1) with the reason.
# SERTACK_SKIP_SLURM=1 skips all of this (the Slurm tests then skip themselves).
set -uo pipefail
# Daemons and runuser live in the sbin folders, which a minimal (CI or sudo) PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ROOT=${SLURM_ROOT:-/tmp/sertack-slurm}
HERE=$(cd "$(dirname "$0")" && pwd)
in_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }
skip() {
  if in_ci; then echo "ensure.sh: error: CI=true but the Slurm dev cluster cannot be started: $*" >&2; exit 1; fi
  echo "ensure.sh: $*; Slurm tests will be skipped"
  exit 0
}
answers() { command -v scontrol >/dev/null && timeout 10 scontrol ping >/dev/null 2>&1; }

if [ "${SERTACK_SKIP_SLURM:-0}" = 1 ]; then echo "ensure.sh: SERTACK_SKIP_SLURM=1; Slurm tests will be skipped"; exit 0; fi
if [ -f "$ROOT/etc/slurm.conf" ] && SLURM_CONF=$ROOT/etc/slurm.conf answers; then
  echo "ensure.sh: dev cluster already up (SLURM_CONF=$ROOT/etc/slurm.conf)"; exit 0
fi
if [ ! -f "$ROOT/etc/slurm.conf" ] && answers; then echo "ensure.sh: a Slurm controller already answers"; exit 0; fi
[ "$(id -u)" = 0 ] || skip "not root, so the dev cluster cannot be started (sudo make slurm-up)"
command -v apt-get >/dev/null || command -v slurmctld >/dev/null || skip "no apt-get and no Slurm installed"
echo "ensure.sh: starting the Slurm dev cluster under $ROOT (log: $ROOT.up.log)"
if ! bash "$HERE/up.sh" >"$ROOT.up.log" 2>&1; then
  tail -15 "$ROOT.up.log" >&2
  skip "slurm/dev-cluster/up.sh failed (full log: $ROOT.up.log)"
fi
tail -1 "$ROOT.up.log" | grep -q . && grep '^\[up' "$ROOT.up.log" | tail -1
exit 0
