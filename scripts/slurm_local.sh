#!/usr/bin/env bash
# A real single-node SLURM cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd) for testing sweeps on one machine.
#
#   scripts/slurm_local.sh start    install the packages if missing, start the daemons, wait for an idle node
#   scripts/slurm_local.sh stop     stop the daemons this script started (by their recorded PIDs), keep the state
#   scripts/slurm_local.sh status   which daemons run, and sinfo
#
# Why accounting: submitit learns that a job ended from its result file, or failing that from `sacct`. A job killed
# from outside writes no result file, so without slurmdbd `job.result()` would wait forever.
# Why no cgroups: containers rarely allow them; proctrack/linuxproc + task/none track jobs by process tree instead.
#
# All state (configs, spool, logs, PID files, the MariaDB data dir) lives in $SLURM_LOCAL_DIR (default
# /tmp/slurm-local). Client commands find the cluster through /etc/slurm/slurm.conf, a symlink this script makes
# when that path is free, or through `export SLURM_CONF=$SLURM_LOCAL_DIR/etc/slurm.conf`.
# Debian/Ubuntu, run as root (apt-get, and daemons that switch users).
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
ETC=$DIR/etc
PIDS=$DIR/pids
LOGS=$DIR/log
MYSQL_PORT=${SLURM_LOCAL_MYSQL_PORT:-3307}    # MariaDB on 127.0.0.1 only; not 3306 so a system MariaDB can coexist
READY_TIMEOUT_S=${SLURM_LOCAL_TIMEOUT_S:-90}  # give up waiting for a daemon after this long
PACKAGES=(slurm-wlm munge mariadb-server slurmdbd)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; stop runs it backwards
export SLURM_CONF=$ETC/slurm.conf

log() { echo "[slurm_local] $*"; }
die() { echo "[slurm_local] error: $*" >&2; exit 1; }

# A daemon runs if its recorded PID is alive and still that program (a PID can be reused after a crash).
running() {
    local name=$1 pid
    [[ -f $PIDS/$name.pid ]] || return 1
    pid=$(<"$PIDS/$name.pid")
    [[ -r /proc/$pid/cmdline ]] || return 1
    local argv0; argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
    [[ $(basename "$argv0") == "$name" ]]
}

# Wait until a command succeeds; on timeout show the daemon's log so the cause is on screen.
wait_for() {
    local what=$1 logfile=$2; shift 2
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            tail -n 30 "$logfile" >&2 || true
            die "$what not ready after ${READY_TIMEOUT_S}s (log: $logfile)"
        fi
        sleep 0.3
    done
}

# Start a foreground daemon in its own session and record its PID; stdout/stderr go to its log.
spawn() {
    local name=$1; shift
    setsid "$@" >>"$LOGS/$name.out" 2>&1 </dev/null &
    echo $! >"$PIDS/$name.pid"
}

install_packages() {
    local missing=()
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

write_configs() {
    mkdir -p "$ETC" "$PIDS" "$LOGS" "$DIR/spool/ctld" "$DIR/spool/slurmd" "$DIR/munge" "$DIR/mysql"
    chown slurm:slurm "$DIR/spool/ctld" "$LOGS"
    chown munge:munge "$DIR/munge" && chmod 0700 "$DIR/munge"
    chown mysql:mysql "$DIR/mysql"
    [[ -f $ETC/slurm.conf ]] && return 0
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [[ -n $mem ]] || die "could not read RealMemory from slurmd -C"
    (umask 077; head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$ETC/db_password")
    cat >"$ETC/slurm.conf" <<EOF
# Written by scripts/slurm_local.sh: one node, no cgroups, accounting through slurmdbd.
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$PIDS/slurmctld.daemon.pid
SlurmdPidFile=$PIDS/slurmd.daemon.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
JobRequeue=1
# seconds between SIGTERM and SIGKILL when a job is cancelled or requeued
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$ETC/slurmdbd.conf" <<EOF
# Written by scripts/slurm_local.sh: accounting in a private MariaDB on 127.0.0.1:$MYSQL_PORT.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$PIDS/slurmdbd.daemon.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MYSQL_PORT
StorageUser=slurm
StoragePass=$(<"$ETC/db_password")
StorageLoc=slurm_acct_db
EOF
    # slurmdbd refuses a config that others can read (it holds the DB password).
    chown slurm:slurm "$ETC/slurmdbd.conf" && chmod 0600 "$ETC/slurmdbd.conf"
}

link_system_conf() {
    local system_conf=/etc/slurm/slurm.conf
    mkdir -p /etc/slurm
    if [[ ! -e $system_conf || $(readlink "$system_conf") == "$ETC/slurm.conf" ]]; then
        ln -sfn "$ETC/slurm.conf" "$system_conf"
    else
        log "$system_conf belongs to another cluster; use: export SLURM_CONF=$ETC/slurm.conf"
    fi
}

mysql_client() { mariadb --no-defaults --protocol=socket --socket="$DIR/mysql/mysqld.sock" -uroot "$@"; }

start_munged() {
    running munged && return 0
    [[ -f /etc/munge/munge.key ]] || { mungekey --create >/dev/null && chown munge:munge /etc/munge/munge.key; }
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
    spawn munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
        --log-file="$DIR/munge/munged.log" --pid-file="$DIR/munge/munged.pid" --seed-file="$DIR/munge/munged.seed"
    wait_for munged "$LOGS/munged.out" bash -c 'munge -n | unmunge'
}

start_mariadbd() {
    running mariadbd && return 0
    local fresh=0
    if [[ ! -d $DIR/mysql/mysql ]]; then
        fresh=1
        mariadb-install-db --no-defaults --user=mysql --datadir="$DIR/mysql" >"$LOGS/mariadb-install.log" 2>&1 \
            || die "mariadb-install-db failed (log: $LOGS/mariadb-install.log)"
    fi
    spawn mariadbd /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DIR/mysql" \
        --socket="$DIR/mysql/mysqld.sock" --pid-file="$DIR/mysql/mariadbd.pid" \
        --bind-address=127.0.0.1 --port="$MYSQL_PORT" --log-error="$LOGS/mariadbd.log" \
        --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900
    wait_for mariadbd "$LOGS/mariadbd.log" mysql_client -e 'SELECT 1'
    if ((fresh)); then
        local pass; pass=$(<"$ETC/db_password")
        mysql_client -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
                         CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
                         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
                         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    fi
}

start_slurmdbd() {
    running slurmdbd && return 0
    spawn slurmdbd /usr/sbin/slurmdbd -D
    wait_for slurmdbd "$LOGS/slurmdbd.log" sacctmgr -n list cluster
}

start_slurmctld() {
    running slurmctld && return 0
    spawn slurmctld /usr/sbin/slurmctld -D -i
    wait_for slurmctld "$LOGS/slurmctld.log" scontrol ping
}

start_slurmd() {
    running slurmd && return 0
    spawn slurmd /usr/sbin/slurmd -D
    local node_idle='[[ $(sinfo -h -o %t | tr -d "*") == idle ]]'
    wait_for "node (slurmd)" "$LOGS/slurmd.log" bash -c "$node_idle"
}

cmd_start() {
    local all_running=1
    for d in "${DAEMONS[@]}"; do running "$d" || all_running=0; done
    if ((all_running)); then
        log "already running (state in $DIR)"
        return 0
    fi
    local t0=$SECONDS
    install_packages
    write_configs
    link_system_conf
    for d in "${DAEMONS[@]}"; do "start_$d"; done
    log "up in $((SECONDS - t0))s; state, configs and logs in $DIR"
    log "SLURM_CONF=$ETC/slurm.conf"
    sinfo
}

cmd_stop() {
    local d pid
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        d=${DAEMONS[i]}
        if running "$d"; then
            pid=$(<"$PIDS/$d.pid")
            kill -TERM "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
            log "stopped $d (pid $pid)"
        fi
        rm -f "$PIDS/$d.pid"
    done
    log "stopped; state kept in $DIR (rm -rf it for a clean start)"
}

cmd_status() {
    local d down=0
    for d in "${DAEMONS[@]}"; do
        if running "$d"; then log "$d running (pid $(<"$PIDS/$d.pid"))"; else log "$d not running"; down=1; fi
    done
    log "state in $DIR; SLURM_CONF=$ETC/slurm.conf"
    ((down)) && return 1
    sinfo
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
