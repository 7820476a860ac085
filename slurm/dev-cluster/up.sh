#!/usr/bin/env bash
# Bring up a real single-node Slurm on loopback for tests and laptops (Debian 12 / Slurm 22.05, as root):
#   munged -> mariadbd (private datadir) -> slurmdbd (so sacct reports job states) -> slurmctld -> slurmd,
# with NGPU fake GPUs declared as GRES so `--gpus-per-task=1` jobs schedule.
# Everything (configs, logs, state, database, job folders) lives under $SLURM_ROOT; nothing listens beyond
# what Slurm 22.05 cannot bind to 127.0.0.1. Re-running it restarts whatever is down on the existing state.
#
#   sudo bash slurm/dev-cluster/up.sh && export SLURM_CONF=/tmp/sertack-slurm/etc/slurm.conf
#
# Knobs (environment): SLURM_ROOT (/tmp/sertack-slurm), NGPU (2), NODE_CPUS (max(nproc, 4)),
# NODE_MEM_MB (90 % of RAM), EXTRA_USERS (space-separated non-root submitters to give an association).
set -euo pipefail
# Daemons and runuser live in the sbin folders, which a minimal (CI or sudo) PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ROOT=${SLURM_ROOT:-/tmp/sertack-slurm}
NGPU=${NGPU:-2}
HOST=$(hostname -s)
# Tests run several cheap jobs at once; the node may declare more CPUs than the machine has (config_overrides).
NODE_CPUS=${NODE_CPUS:-$(( $(nproc) > 4 ? $(nproc) : 4 ))}
NODE_MEM_MB=${NODE_MEM_MB:-$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)}
DB_PORT=${DB_PORT:-3306}
export SLURM_CONF=$ROOT/etc/slurm.conf
START=$EPOCHREALTIME

log() { awk -v t0="$START" -v t1="$EPOCHREALTIME" -v msg="$*" 'BEGIN { printf "[up %5.1fs] %s\n", t1 - t0, msg }'; }
die() { echo "up.sh: error: $*" >&2; exit 1; }
# poll <seconds> <command...>: retry every 0.2 s until the command succeeds.
poll() {
  local deadline=$(( SECONDS + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { echo "up.sh: gave up waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons); try: sudo bash $0"

install_packages() {
  local need=()
  for bin in munged mariadbd slurmdbd slurmctld slurmd sbatch; do command -v "$bin" >/dev/null || need+=("$bin"); done
  [ ${#need[@]} = 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get: install slurm-wlm, slurmdbd, munge, mariadb-server"
  log "apt-get install (missing: ${need[*]})"
  # Debian postinst scripts would start the daemons with their system configs: forbid that while installing.
  local guard=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard"
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    munge mariadb-server slurmdbd slurmctld slurmd slurm-client >"$ROOT/apt.log" 2>&1 \
    || { tail -20 "$ROOT/apt.log" >&2; die "apt-get install failed (log: $ROOT/apt.log)"; }
  rm -f "$guard"; trap - EXIT
}

make_dirs() {
  log "directories under $ROOT"
  mkdir -p "$ROOT"/{etc,log,run,state,spool,dev,db/data,jobs}
  chown slurm:slurm "$ROOT"/{log,run,state}   # slurmctld and slurmdbd drop to SlurmUser=slurm
  chown -R mysql:mysql "$ROOT/db"
  chmod 1777 "$ROOT/jobs"                      # the "shared file system" for job folders
  # A GRES File= must be a character device or Slurm sets no CUDA_VISIBLE_DEVICES: /dev/null is one.
  for ((i = 0; i < NGPU; i++)); do ln -sfn /dev/null "$ROOT/dev/gpu$i"; done
}

start_munge() {
  log "munged"
  mkdir -p /run/munge
  # munged refuses files left owned by root by an earlier 'munged --force'.
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
  chmod 400 /etc/munge/munge.key
  (munge -n </dev/null | unmunge) >/dev/null 2>&1 && return 0
  runuser -u munge -- /usr/sbin/munged
  poll 10 sh -c 'munge -n </dev/null | unmunge'
}

start_mariadb() {
  local cnf=$ROOT/etc/my.cnf
  cat >"$cnf" <<EOF
[mysqld]
user=mysql
datadir=$ROOT/db/data
socket=$ROOT/db/mysqld.sock
pid-file=$ROOT/db/mysqld.pid
log-error=$ROOT/log/mariadb.log
bind-address=127.0.0.1
port=$DB_PORT
skip-name-resolve
innodb_buffer_pool_size=64M
innodb_lock_wait_timeout=900
# a test cluster: durability of the accounting DB across power loss does not matter, speed does
innodb_flush_log_at_trx_commit=0
[client]
socket=$ROOT/db/mysqld.sock
EOF
  if [ ! -d "$ROOT/db/data/mysql" ]; then
    log "mariadb-install-db"
    mariadb-install-db --defaults-file="$cnf" --auth-root-authentication-method=socket >"$ROOT/log/mariadb-install.log" 2>&1 \
      || die "mariadb-install-db failed (see $ROOT/log/mariadb-install.log)"
  fi
  if ! alive "$ROOT/db/mysqld.pid"; then
    log "mariadbd"
    setsid mariadbd --defaults-file="$cnf" </dev/null >/dev/null 2>&1 &
  fi
  poll 60 mariadb --defaults-file="$cnf" -e 'select 1' || die "mariadbd did not answer (see $ROOT/log/mariadb.log)"
  # slurmdbd talks TCP to 127.0.0.1: "localhost" would mean the compiled-in socket path, not ours.
  mariadb --defaults-file="$cnf" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmdb';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

write_slurm_configs() {
  log "slurm.conf, gres.conf, slurmdbd.conf (node $HOST: $NODE_CPUS CPUs, ${NODE_MEM_MB} MB, $NGPU GPUs)"
  cat >"$ROOT/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$ROOT/log/slurmdbd.log
PidFile=$ROOT/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmdb
StorageLoc=slurm_acct_db
EOF
  # slurmdbd exits at once unless its config is owned by SlurmUser and private.
  chown slurm:slurm "$ROOT/etc/slurmdbd.conf"
  chmod 600 "$ROOT/etc/slurmdbd.conf"

  cat >"$ROOT/etc/slurm.conf" <<EOF
# sertack dev cluster (generated by slurm/dev-cluster/up.sh)
ClusterName=sertack
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CommunicationParameters=NoInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/run/slurmctld.pid
SlurmdPidFile=$ROOT/run/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
MailProg=/bin/true
# no systemd or writable cgroupfs here: track processes by parentage, no task confinement
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MaxArraySize=1001
MaxJobCount=20000
MinJobAge=600
KillWait=5
InactiveLimit=0
OverTimeLimit=0
# a requeued job is held for cred_expire+1 s (default 120 s): keep requeue tests short
AuthInfo=cred_expire=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:$NGPU State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$ROOT/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=$HOST Name=gpu File=$ROOT/dev/gpu[0-$((NGPU - 1))]
EOF
  chmod 644 "$ROOT/etc/slurm.conf" "$ROOT/etc/gres.conf"
}

start_slurmdbd() {
  if ! alive "$ROOT/run/slurmdbd.pid"; then
    log "slurmdbd (creates the accounting schema on first start)"
    slurmdbd || die "slurmdbd failed to start (see $ROOT/log/slurmdbd.log)"
  fi
  poll 60 sacctmgr -i show cluster || die "slurmdbd did not answer (see $ROOT/log/slurmdbd.log)"
  # slurmctld registers the cluster and root itself; non-root submitters need an association.
  if [ -n "${EXTRA_USERS:-}" ]; then
    log "associations for: $EXTRA_USERS"
    sacctmgr -i add cluster sertack >/dev/null 2>&1 || true
    sacctmgr -i add account sertack Description=dev Organization=dev >/dev/null 2>&1 || true
    for user in $EXTRA_USERS; do sacctmgr -i add user "$user" Account=sertack >/dev/null 2>&1 || true; done
  fi
}

start_slurm() {
  if ! alive "$ROOT/run/slurmctld.pid"; then
    log "slurmctld"
    slurmctld || die "slurmctld failed to start (see $ROOT/log/slurmctld.log)"
  fi
  poll 30 scontrol ping || die "slurmctld did not answer (see $ROOT/log/slurmctld.log)"
  if ! alive "$ROOT/run/slurmd.pid"; then
    log "slurmd"
    slurmd || die "slurmd failed to start (see $ROOT/log/slurmd.log)"
  fi
  poll 30 sh -c "sinfo -h -n $HOST -o %t | grep -qE '^(idle|mix|alloc)'" \
    || die "node $HOST did not become idle: $(sinfo -h -N -o '%t %E' 2>&1) (see $ROOT/log/slurmd.log)"
}

mkdir -p "$ROOT"
install_packages
make_dirs
start_munge
start_mariadb
write_slurm_configs
start_slurmdbd
start_slurm
log "up: export SLURM_CONF=$SLURM_CONF"
sinfo -o '%P %a %D %t %c %m %G'
