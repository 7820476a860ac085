#!/usr/bin/env bash
# Stop the dev cluster started by up.sh: each daemon by its pid file, in reverse start order.
# WIPE=1 also deletes $SLURM_ROOT (configs, accounting database, job folders). Installed packages stay.
#   bash slurm/dev-cluster/down.sh
ROOT=${SLURM_ROOT:-/tmp/sertack-slurm}

stop() { # stop <name> <pid file>
  local pid
  pid=$(cat "$2" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || { echo "stopped $1 (pid $pid)"; return 0; }
    sleep 0.2
  done
  echo "$1 (pid $pid) ignored SIGTERM for 10 s: sending SIGKILL"
  kill -9 "$pid" 2>/dev/null
}

stop slurmd "$ROOT/run/slurmd.pid"
stop slurmctld "$ROOT/run/slurmctld.pid"
stop slurmdbd "$ROOT/run/slurmdbd.pid"
stop mariadbd "$ROOT/db/mysqld.pid"
# munged is a host-wide service (/run/munge): stop it only when up.sh would have started it for us.
[ "${KEEP_MUNGE:-0}" = 1 ] || stop munged /run/munge/munged.pid
if [ "${WIPE:-0}" = 1 ]; then rm -rf "$ROOT" && echo "wiped $ROOT"; fi
exit 0
