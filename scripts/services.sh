#!/usr/bin/env bash
# Local services for EchoStream development and tests, without Docker:
#   - Apache Kafka (KRaft, single node: broker+controller) from Maven Central jars, 127.0.0.1:9092
#   - Redis (Debian's redis-server, run as our own daemon, not the system service), 127.0.0.1:6379
#   - MongoDB: $MONGODB_URI if set (nothing started), else `mongod` if on PATH,
#     else FerretDB (MongoDB wire protocol on SQLite) built from the Go module proxy, 127.0.0.1:27017,
#     patched twice so that an `_id` equality is served from the `_id` index whatever else a filter
#     holds (see ferretdb_build)
#   - PostgreSQL (Debian's `postgresql` package, installed when missing) as the project's own cluster
#     in $ECHOSTREAM_HOME/postgres, 127.0.0.1:5432, superuser `echostream`, database `echostream`;
#     as root it runs as the `postgres` system user (PostgreSQL refuses to run as root)
#
# Usage:
#   scripts/services.sh up [--record FILE]     install what is missing, start what is not answering,
#                                              wait until all answer; --record appends the names of
#                                              the services THIS call started to FILE
#   scripts/services.sh down [--only-from FILE] stop the services this script started (pid files);
#                                              with --only-from, only those named in FILE, then rm FILE
#   scripts/services.sh status                 one line per service; exit 0 if all are up, else 1
#   scripts/services.sh start|stop|restart SERVICE...   the same for some of kafka, redis, mongodb,
#                                              postgres (up/down take service names too)
#
# Everything (jars, binaries, data, logs, pid files) lives under $ECHOSTREAM_HOME
# (default: <repo>/.local/, git-ignored). A second, private set of services (the fault tests
# restart theirs) takes another ECHOSTREAM_HOME and other ports: ECHOSTREAM_KAFKA_PORT (9092),
# ECHOSTREAM_KAFKA_CONTROLLER_PORT (9093), ECHOSTREAM_REDIS_PORT (6379), ECHOSTREAM_MONGODB_PORT
# (27017), ECHOSTREAM_POSTGRES_PORT (5432); it reuses the Kafka jars and the FerretDB binary of
# ECHOSTREAM_TOOLS_HOME (default: <repo>/.local/), installing them there when missing. PostgreSQL's
# programs come from ECHOSTREAM_POSTGRES_BIN (default: initdb on PATH, else the newest
# /usr/lib/postgresql/*/bin). Run as root, every folder above ECHOSTREAM_HOME must let the
# `postgres` user through (o+x); pytest's private tmp folders (mode 0700) do not.
set -euo pipefail

# ----------------------------------------------------------------------------- settings
KAFKA_VERSION=4.1.1
FERRETDB_VERSION=v1.24.2
FERRETDB_MODULE=github.com/FerretDB/FerretDB

KAFKA_HOST=127.0.0.1
KAFKA_PORT=${ECHOSTREAM_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${ECHOSTREAM_KAFKA_CONTROLLER_PORT:-9093}
REDIS_HOST=127.0.0.1
REDIS_PORT=${ECHOSTREAM_REDIS_PORT:-6379}
MONGODB_HOST=127.0.0.1
MONGODB_PORT=${ECHOSTREAM_MONGODB_PORT:-27017}
POSTGRES_HOST=127.0.0.1
POSTGRES_PORT=${ECHOSTREAM_POSTGRES_PORT:-5432}
POSTGRES_SUPERUSER=echostream
POSTGRES_DATABASE=echostream

KAFKA_HEAP_OPTS=${ECHOSTREAM_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
START_TIMEOUT_KAFKA=${ECHOSTREAM_KAFKA_START_TIMEOUT:-180}
START_TIMEOUT_REDIS=${ECHOSTREAM_REDIS_START_TIMEOUT:-30}
START_TIMEOUT_MONGODB=${ECHOSTREAM_MONGODB_START_TIMEOUT:-60}
START_TIMEOUT_POSTGRES=${ECHOSTREAM_POSTGRES_START_TIMEOUT:-60}
STOP_TIMEOUT_KAFKA=60
STOP_TIMEOUT_OTHER=20

SERVICES=(kafka redis mongodb postgres)

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
DEFAULT_HOME="$REPO_ROOT/.local"
ECHOSTREAM_HOME=${ECHOSTREAM_HOME:-$DEFAULT_HOME}
mkdir -p "$ECHOSTREAM_HOME"
ECHOSTREAM_HOME=$(cd "$ECHOSTREAM_HOME" && pwd)
# Where the installed tools (Kafka jars, the FerretDB binary) live: a second, private set of
# services (another ECHOSTREAM_HOME, other ports) reuses those of the default home instead of
# fetching and building its own.
ECHOSTREAM_TOOLS_HOME=${ECHOSTREAM_TOOLS_HOME:-$DEFAULT_HOME}
mkdir -p "$ECHOSTREAM_TOOLS_HOME"
ECHOSTREAM_TOOLS_HOME=$(cd "$ECHOSTREAM_TOOLS_HOME" && pwd)

RUN_DIR="$ECHOSTREAM_HOME/run"
BIN_DIR="$ECHOSTREAM_TOOLS_HOME/bin"
KAFKA_LIBS_DIR="$ECHOSTREAM_TOOLS_HOME/kafka/libs"
KAFKA_HOME_DIR="$ECHOSTREAM_HOME/kafka"
REDIS_HOME_DIR="$ECHOSTREAM_HOME/redis"
FERRETDB_HOME_DIR="$ECHOSTREAM_HOME/ferretdb"
MONGOD_HOME_DIR="$ECHOSTREAM_HOME/mongod"
POSTGRES_HOME_DIR="$ECHOSTREAM_HOME/postgres"
POSTGRES_DATA_DIR="$POSTGRES_HOME_DIR/data"
POSTGRES_LOG="$POSTGRES_HOME_DIR/postgres.log"
# The suffix names the patches (ferretdb_build): a binary built without them is not reused.
FERRETDB_BIN="$BIN_DIR/ferretdb-$FERRETDB_VERSION-id-pushdown"

# ----------------------------------------------------------------------------- helpers
say() { printf '[services] %s\n' "$*"; }
warn() { printf '[services] warning: %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

# tail_log FILE: the end of a log file, indented, for error messages.
tail_log() {
    [[ -f "$1" ]] || return 0
    printf '[services] --- last lines of %s ---\n' "$1" >&2
    tail -n 25 "$1" | sed 's/^/    /' >&2 || true
}

port_open() { # host port
    # shellcheck disable=SC2016 # $1/$2 expand in the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

# A process counts as alive if it exists and is not a zombie (an un-reaped zombie would
# answer kill -0 forever when PID 1 of a container does not reap).
pid_alive() {
    local pid=$1 state
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo "?")
    [[ "$state" != Z ]]
}

pid_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

# What a service's command line must contain, so a recycled pid is never killed.
signature() {
    case "$1" in
        kafka) echo 'kafka\.Kafka' ;;
        redis) echo 'redis-server' ;;
        mongodb) echo 'ferretdb|mongod' ;;
        # the postmaster keeps its command line (only its children retitle themselves)
        postgres) echo '(^|/)postgres .*-D ' ;;
    esac
}

# managed_pid NAME: print the pid of the live process this script started for NAME,
# or return 1 (and drop a stale pid file).
managed_pid() {
    local name=$1 f pid
    f=$(pid_file "$name")
    [[ -f "$f" ]] || return 1
    pid=$(tr -dc '0-9' <"$f" || true)
    if [[ -n "$pid" ]] && pid_alive "$pid" && pid_cmdline "$pid" | grep -Eq "$(signature "$name")"; then
        echo "$pid"
        return 0
    fi
    rm -f "$f"
    return 1
}

# close_fds: in a subshell about to exec a service, close every fd above 2, so the service
# does not hold our lock file (fd 9) or a caller's pipe open for its whole life.
close_fds() {
    local f fd
    for f in "/proc/$BASHPID/fd/"*; do
        fd=${f##*/}
        [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
    done
    return 0
}

# start_detached PIDFILE LOGFILE CMD...: start CMD in its own session (it survives the caller's
# process group being killed), stdout+stderr appended to LOGFILE, and write its pid.
start_detached() {
    local pidfile=$1 logfile=$2
    shift 2
    printf '==== %s services.sh: starting %s\n' "$(date '+%F %T')" "$*" >>"$logfile"
    # Without job control the subshell is not a process-group leader, so setsid(1) does not
    # fork and $! is the service's own pid (the subshell execs setsid, which execs CMD).
    (close_fds; exec setsid "$@") >>"$logfile" 2>&1 </dev/null &
    local pid=$!
    sleep 0.2
    if [[ "$(pid_cmdline "$pid")" == setsid* ]]; then # setsid forked after all: take its child
        pid=$(pgrep -P "$pid" | head -n 1 || echo "$pid")
    fi
    echo "$pid" >"$pidfile"
}

find_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        echo "$PYTHON"
    elif [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
        echo "$REPO_ROOT/.venv/bin/python"
    elif command -v python3 >/dev/null 2>&1; then
        echo python3
    else
        echo ""
    fi
}
PY=$(find_python)
declare -A PY_HAS=()
py_has() { # module: importable with $PY? (cached)
    if [[ -z "${PY_HAS[$1]:-}" ]]; then
        if [[ -n "$PY" ]] && "$PY" -c "import $1" >/dev/null 2>&1; then PY_HAS[$1]=1; else PY_HAS[$1]=0; fi
    fi
    [[ "${PY_HAS[$1]}" == 1 ]]
}

need_java() {
    local java=${JAVA_HOME:+$JAVA_HOME/bin/}java ver major
    command -v "$java" >/dev/null 2>&1 ||
        die "java not found: Kafka $KAFKA_VERSION needs Java 17 or newer (Debian: apt-get install -y openjdk-17-jre-headless), or set JAVA_HOME"
    ver=$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
    major=${ver%%.*}
    [[ "$major" == 1 ]] && major=$(echo "$ver" | cut -d. -f2)
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major < 17)); then
        die "java $ver is too old: Kafka $KAFKA_VERSION needs Java 17 or newer (Debian: apt-get install -y openjdk-17-jre-headless)"
    fi
    JAVA=$java
}

need_mvn() {
    command -v mvn >/dev/null 2>&1 ||
        die "mvn not found: it is needed once to fetch the Kafka jars from Maven Central (Debian: apt-get install -y maven)"
}

need_go() {
    command -v go >/dev/null 2>&1 ||
        die "go not found: it is needed once to build FerretDB $FERRETDB_VERSION (install Go >= 1.24 from https://go.dev/dl/), or install mongod, or set MONGODB_URI"
}

# apt-get that waits for the dpkg / apt lists locks (another apt may be running) instead of failing.
apt_get() {
    local sudo="" deadline out rc
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install the package yourself (apt-get $*)"
        sudo=sudo
    fi
    deadline=$((SECONDS + 1200))
    while :; do
        rc=0
        out=$($sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1) || rc=$?
        printf '%s\n' "$out" >>"$ECHOSTREAM_HOME/apt.log"
        if ((rc == 0)); then return 0; fi
        if grep -Eqi 'could not get lock|unable to acquire|is another process using it' <<<"$out" && ((SECONDS < deadline)); then
            say "apt is busy (another apt/dpkg is running); waiting..."
            sleep 5
            continue
        fi
        tail_log "$ECHOSTREAM_HOME/apt.log"
        die "apt-get $* failed (see $ECHOSTREAM_HOME/apt.log)"
    done
}

# apt_install_no_start PACKAGE: apt-get install it, keeping the package's postinst from starting its
# system service (ours run as our own daemons, on our ports, with our data): policy-rc.d answers
# 101 ("action forbidden") to invoke-rc.d while the install runs.
POLICY_RC_D_MADE=""
apt_install_no_start() {
    local package=$1 policy=/usr/sbin/policy-rc.d
    if ! apt-cache policy "$package" 2>/dev/null | grep -Eq 'Candidate: +[^( ]'; then
        apt_get update
    fi
    if [[ $EUID -eq 0 && ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && POLICY_RC_D_MADE=$policy
        # apt_get exits the script when it fails: the policy must not outlive it either way.
        trap '[[ -n "$POLICY_RC_D_MADE" ]] && rm -f "$POLICY_RC_D_MADE"' EXIT
    fi
    apt_get install -y --no-install-recommends "$package"
    if [[ -n "$POLICY_RC_D_MADE" ]]; then
        rm -f "$POLICY_RC_D_MADE"
        POLICY_RC_D_MADE=""
    fi
}

ensure_gitignore() {
    # Only when the data lives in the repo's default place; the folder also ignores itself.
    printf '*\n' >"$ECHOSTREAM_HOME/.gitignore"
    if [[ "$ECHOSTREAM_HOME" == "$DEFAULT_HOME" ]]; then
        local gi="$REPO_ROOT/.gitignore"
        if ! { [[ -f "$gi" ]] && grep -Eqx '/?\.local/?' "$gi"; }; then
            if [[ -s "$gi" && -n "$(tail -c 1 "$gi")" ]]; then printf '\n' >>"$gi"; fi
            printf '.local/\n' >>"$gi"
        fi
    fi
}

take_lock() {
    exec 9>"$ECHOSTREAM_HOME/.services.lock"
    if ! flock -n 9; then
        say "another services.sh is running; waiting for it..."
        flock -w 1800 9 || die "timed out waiting for $ECHOSTREAM_HOME/.services.lock"
    fi
}

# wait_ready NAME TIMEOUT CHECK_FN WHAT LOGFILE...: poll CHECK_FN until it succeeds; fail early if
# the process this script started has died, or after TIMEOUT seconds, showing the log(s).
wait_ready() {
    local name=$1 timeout=$2 check=$3 what=$4 deadline pid f
    shift 4
    deadline=$((SECONDS + timeout))
    until "$check"; do
        pid=""
        if [[ -f "$(pid_file "$name")" ]]; then
            pid=$(managed_pid "$name" || true)
            if [[ -z "$pid" ]]; then
                for f in "$@"; do tail_log "$f"; done
                die "$name exited during startup; see $*"
            fi
        fi
        if ((SECONDS >= deadline)); then
            for f in "$@"; do tail_log "$f"; done
            die "$name did not become ready ($what) within ${timeout}s; see $*"
        fi
        sleep 0.5
    done
}

# preflight: before starting anything, check the tools the services still missing will need.
preflight() {
    if ! port_open "$KAFKA_HOST" "$KAFKA_PORT" && ! managed_pid kafka >/dev/null; then
        need_java
        [[ -f "$KAFKA_LIBS_DIR/.echostream-kafka-$KAFKA_VERSION" ]] || need_mvn
    fi
    if [[ -z "${MONGODB_URI:-}" ]] && ! command -v mongod >/dev/null 2>&1 && [[ ! -x "$FERRETDB_BIN" ]] &&
        ! port_open "$MONGODB_HOST" "$MONGODB_PORT"; then
        need_go
    fi
    return 0
}

# already_up NAME HOST PORT: whether NAME already answers on HOST:PORT, or is starting under this
# script (and says which); then it is not started again.
already_up() {
    local name=$1 host=$2 port=$3 pid
    if port_open "$host" "$port"; then
        say "$name: already answering on $host:$port, not starting"
        return 0
    fi
    if pid=$(managed_pid "$name"); then
        say "$name: already starting (pid $pid)"
        return 0
    fi
    return 1
}

# ----------------------------------------------------------------------------- kafka
kafka_ready() {
    port_open "$KAFKA_HOST" "$KAFKA_PORT" || return 1
    if py_has confluent_kafka; then
        "$PY" - "$KAFKA_HOST:$KAFKA_PORT" >/dev/null 2>&1 <<'EOF'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=5)
sys.exit(0 if md.brokers else 1)
EOF
    fi
}

kafka_fetch_jars() {
    local libs="$KAFKA_LIBS_DIR" marker tmp log
    marker="$libs/.echostream-kafka-$KAFKA_VERSION"
    [[ -f "$marker" ]] && return 0
    need_mvn
    say "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central (mvn, once)..."
    mkdir -p "$(dirname "$libs")"
    tmp="$libs.tmp.$$"
    log="$(dirname "$libs")/mvn.log"
    rm -rf "$tmp"
    if ! mvn -q -B -f "$SCRIPT_DIR/kafka/pom.xml" dependency:copy-dependencies \
        -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$tmp" \
        >"$log" 2>&1; then
        tail_log "$log"
        die "kafka: mvn could not fetch the Kafka jars; see $log"
    fi
    ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "kafka: kafka_2.13-$KAFKA_VERSION.jar missing after mvn; see $log"
    touch "$tmp/.echostream-kafka-$KAFKA_VERSION"
    rm -rf "$libs"
    mv "$tmp" "$libs"
}

kafka_write_config() {
    cat >"$KAFKA_HOME_DIR/server.properties" <<EOF
# Generated by scripts/services.sh (overwritten on each start) - Kafka $KAFKA_VERSION, KRaft single node.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
num.network.threads=2
num.io.threads=4
log.dirs=$KAFKA_HOME_DIR/data
num.partitions=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.retention.hours=168
log.segment.bytes=104857600
# The log cleaner (only __consumer_offsets is compacted here) keeps a map of this size on the
# heap: the default 128 MiB was a quarter of it, room every room topic's partition needs.
log.cleaner.dedupe.buffer.size=16777216
# An idle fetch waits in the broker's purgatory, watched under every partition it names: with a
# topic per room, one from a bridge names every room. Answered ones leave those watch lists only at
# a purge, after this many; at the default 1,000, about 3,000 rooms filled the heap with them.
fetch.purgatory.purge.interval.requests=100
# A record's time is the broker's, set as it appends it, for topics that do not say (echostream
# creates its own with it): how late a consumer takes records (chat/backpressure.py) must not be
# what a record's writer says.
log.message.timestamp.type=LogAppendTime
EOF
}

# JVM options for every Kafka java process (set by need_java; heap kept modest).
kafka_jvm_args() {
    # shellcheck disable=SC2206 # word-splitting of the heap options is intended
    KAFKA_JVM=("$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true
        -Dkafka.logs.dir="$KAFKA_HOME_DIR/logs"
        -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.yaml"
        -cp "$KAFKA_LIBS_DIR/*")
}

kafka_java() { "${KAFKA_JVM[@]}" "$@"; }

kafka_format_storage() {
    [[ -f "$KAFKA_HOME_DIR/data/meta.properties" ]] && return 0
    local id
    say "kafka: formatting the KRaft storage (once)..."
    id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_HOME_DIR/format.log" | tail -n 1)
    [[ -n "$id" ]] || { tail_log "$KAFKA_HOME_DIR/format.log"; die "kafka: could not generate a cluster id; see $KAFKA_HOME_DIR/format.log"; }
    if ! kafka_java kafka.tools.StorageTool format -t "$id" -c "$KAFKA_HOME_DIR/server.properties" --standalone \
        >>"$KAFKA_HOME_DIR/format.log" 2>&1; then
        tail_log "$KAFKA_HOME_DIR/format.log"
        die "kafka: storage format failed; see $KAFKA_HOME_DIR/format.log"
    fi
    echo "$id" >"$KAFKA_HOME_DIR/cluster-id"
}

up_kafka() {
    already_up kafka "$KAFKA_HOST" "$KAFKA_PORT" && return 0
    if port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT"; then
        die "kafka: port $KAFKA_CONTROLLER_PORT (controller) is taken by another process but $KAFKA_PORT is not answering"
    fi
    need_java
    kafka_jvm_args
    mkdir -p "$KAFKA_HOME_DIR/logs" "$KAFKA_HOME_DIR/data"
    kafka_fetch_jars
    kafka_write_config
    kafka_format_storage
    say "kafka: starting Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (log: $KAFKA_HOME_DIR/logs/server.log)"
    start_detached "$(pid_file kafka)" "$KAFKA_HOME_DIR/logs/kafka.out" \
        "${KAFKA_JVM[@]}" kafka.Kafka "$KAFKA_HOME_DIR/server.properties"
    STARTED+=(kafka)
}

# ----------------------------------------------------------------------------- redis
redis_ready() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
    else
        port_open "$REDIS_HOST" "$REDIS_PORT"
    fi
}

redis_install() {
    command -v apt-get >/dev/null 2>&1 || die "redis-server not found: install Redis (e.g. apt-get install -y redis-server)"
    say "redis: installing Debian's redis-server (apt-get)..."
    # The system service would take our port.
    apt_install_no_start redis-server
    command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after apt-get install"
}

up_redis() {
    local pid
    if redis_ready || port_open "$REDIS_HOST" "$REDIS_PORT"; then
        say "redis: already answering on $REDIS_HOST:$REDIS_PORT, not starting"
        return 0
    fi
    if pid=$(managed_pid redis); then
        say "redis: already starting (pid $pid)"
        return 0
    fi
    command -v redis-server >/dev/null 2>&1 || redis_install
    mkdir -p "$REDIS_HOME_DIR"
    say "redis: starting redis-server on $REDIS_HOST:$REDIS_PORT (log: $REDIS_HOME_DIR/redis.log)"
    rm -f "$(pid_file redis)"
    # The append-only file keeps what Redis holds for delivery (shown marks, acknowledged sends,
    # the rooms' prev_seq chains) across a restart; without it a restarted Redis can show a
    # retried message twice (docs/reliability.md).
    # shellcheck disable=SC2094 # redis appends to its log itself once daemonized
    if ! (close_fds; exec redis-server --port "$REDIS_PORT" --bind "$REDIS_HOST" --dir "$REDIS_HOME_DIR" \
        --daemonize yes --pidfile "$(pid_file redis)" --logfile "$REDIS_HOME_DIR/redis.log" \
        --save '' --appendonly yes --appendfsync everysec) >>"$REDIS_HOME_DIR/redis.log" 2>&1 </dev/null; then
        tail_log "$REDIS_HOME_DIR/redis.log"
        die "redis: redis-server failed to start; see $REDIS_HOME_DIR/redis.log"
    fi
    # the daemon writes its pid file itself, right after forking
    local _
    for _ in $(seq 1 50); do [[ -s "$(pid_file redis)" ]] && break; sleep 0.1; done
    STARTED+=(redis)
}

# ----------------------------------------------------------------------------- mongodb
mongodb_ping() { # uri
    "$PY" - "$1" >/dev/null 2>&1 <<'EOF'
import sys
from pymongo import MongoClient
c = MongoClient(sys.argv[1], serverSelectionTimeoutMS=3000, connectTimeoutMS=3000)
c.admin.command("ping")
EOF
}

mongodb_ready() {
    port_open "$MONGODB_HOST" "$MONGODB_PORT" || return 1
    if py_has pymongo; then
        mongodb_ping "mongodb://$MONGODB_HOST:$MONGODB_PORT/"
    fi
}

mongodb_external_ready() {
    if py_has pymongo; then mongodb_ping "$MONGODB_URI"; else return 0; fi
}

ferretdb_build() {
    [[ -x "$FERRETDB_BIN" ]] && return 0
    need_go
    local log="$FERRETDB_HOME_DIR/build.log" src dir tmpd
    src="$ECHOSTREAM_HOME/build/ferretdb-$FERRETDB_VERSION"
    mkdir -p "$BIN_DIR" "$ECHOSTREAM_HOME/build" "$FERRETDB_HOME_DIR"
    : >"$log"
    say "mongodb: building FerretDB $FERRETDB_VERSION from the Go module proxy (once, a few minutes)..."
    # Download the module (outside any go.mod), copy it somewhere writable, add the
    # build/version/version.txt that `go install ...@version` lacks (FerretDB issue 2982:
    # the binary panics at start without it), then build.
    tmpd=$(mktemp -d)
    dir=$(cd "$tmpd" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" 2>>"$log" |
        sed -n 's/^[[:space:]]*"Dir": *"\([^"]*\)".*/\1/p') || true
    rmdir "$tmpd" 2>/dev/null || true
    if [[ -z "$dir" || ! -d "$dir" ]]; then
        tail_log "$log"
        die "mongodb: could not download $FERRETDB_MODULE@$FERRETDB_VERSION from the Go module proxy; see $log"
    fi
    rm -rf "$src"
    cp -R "$dir" "$src"
    chmod -R u+w "$src"
    printf '%s\n' "$FERRETDB_VERSION" >"$src/build/version/version.txt"
    printf 'echostream-local\n' >"$src/build/version/package.txt"
    # FerretDB 1.24 on SQLite looks `_id` up as `_ferretdb_sjson->'$._id'` but indexes it as
    # `_ferretdb_sjson->"_id"`: the same value, another expression, so SQLite scans the whole
    # table for every `_id` look-up, update and delete. Written as the index is, SQLite
    # searches the index; chat.repository reads every message by `_id` (docs/decisions.md).
    local metadata="$src/internal/backends/sqlite/metadata/metadata.go"
    sed -i "s|IDColumn = DefaultColumn + \"->'\\\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" "$metadata"
    if ! grep -qF "IDColumn = DefaultColumn + \"->'_id'\"" "$metadata"; then
        die "mongodb: could not patch FerretDB's _id look-up in $metadata"
    fi
    # And it asks SQLite for that `_id` only when the filter holds nothing else, so a
    # conditional write (`{_id, version_seq: {$lt: ...}}`: an edit or delete stored) read every
    # document. The handler applies the whole filter again to what the backend returns (all
    # pushdown is only a narrowing), so the `_id` alone may go down whatever else the filter holds.
    local collection="$src/internal/backends/sqlite/collection.go"
    sed -i 's|if params.Filter.Len() == 1 {|if params.Filter.Len() >= 1 {|' "$collection"
    if [[ $(grep -cF 'if params.Filter.Len() >= 1 {' "$collection") != 2 ]]; then
        die "mongodb: could not patch FerretDB's _id pushdown in $collection"
    fi
    if ! (cd "$src" && GOWORK=off GOFLAGS='' go build -buildvcs=false -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb) >>"$log" 2>&1; then
        tail_log "$log"
        die "mongodb: go build of FerretDB failed; see $log"
    fi
    if ! "$FERRETDB_BIN.tmp" --version >>"$log" 2>&1; then
        tail_log "$log"
        die "mongodb: the built FerretDB does not run; see $log"
    fi
    mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
    rm -rf "$src"
    rmdir "$ECHOSTREAM_HOME/build" 2>/dev/null || true
}

up_mongodb() {
    if [[ -n "${MONGODB_URI:-}" ]]; then
        say "mongodb: MONGODB_URI is set; using it, not starting anything"
        return 0
    fi
    already_up mongodb "$MONGODB_HOST" "$MONGODB_PORT" && return 0
    if command -v mongod >/dev/null 2>&1; then
        mkdir -p "$MONGOD_HOME_DIR/db"
        MONGODB_LOG="$MONGOD_HOME_DIR/mongod.log"
        say "mongodb: starting mongod on $MONGODB_HOST:$MONGODB_PORT (log: $MONGODB_LOG)"
        start_detached "$(pid_file mongodb)" "$MONGOD_HOME_DIR/mongod.out" \
            mongod --dbpath "$MONGOD_HOME_DIR/db" --bind_ip "$MONGODB_HOST" --port "$MONGODB_PORT" \
            --logpath "$MONGODB_LOG" --logappend
    else
        ferretdb_build
        mkdir -p "$FERRETDB_HOME_DIR/data" "$FERRETDB_HOME_DIR/state"
        MONGODB_LOG="$FERRETDB_HOME_DIR/ferretdb.log"
        say "mongodb: starting FerretDB $FERRETDB_VERSION (SQLite) on $MONGODB_HOST:$MONGODB_PORT (log: $MONGODB_LOG)"
        start_detached "$(pid_file mongodb)" "$MONGODB_LOG" \
            "$FERRETDB_BIN" --handler=sqlite --sqlite-url="file:$FERRETDB_HOME_DIR/data/" \
            --listen-addr="$MONGODB_HOST:$MONGODB_PORT" --state-dir="$FERRETDB_HOME_DIR/state" \
            --debug-addr=- --telemetry=disable --log-level=warn
    fi
    STARTED+=(mongodb)
}

mongodb_log_file() {
    if [[ -f "$MONGOD_HOME_DIR/mongod.log" ]] && command -v mongod >/dev/null 2>&1; then
        echo "$MONGOD_HOME_DIR/mongod.log"
    else
        echo "$FERRETDB_HOME_DIR/ferretdb.log"
    fi
}

# ----------------------------------------------------------------------------- postgres
# postgres_bindir: print the folder of PostgreSQL's server programs, or return 1. A cluster's data
# folder opens only with the programs of the major version that made it, so an existing cluster
# picks them by its PG_VERSION; a new one gets initdb on PATH, else Debian's newest.
postgres_bindir() {
    local made="" d newest=""
    if [[ -n "${ECHOSTREAM_POSTGRES_BIN:-}" ]]; then
        [[ -x "$ECHOSTREAM_POSTGRES_BIN/postgres" && -x "$ECHOSTREAM_POSTGRES_BIN/initdb" ]] || return 1
        echo "$ECHOSTREAM_POSTGRES_BIN"
        return 0
    fi
    [[ -f "$POSTGRES_DATA_DIR/PG_VERSION" ]] && made=$(tr -dc '0-9' <"$POSTGRES_DATA_DIR/PG_VERSION")
    if [[ -n "$made" && -x "/usr/lib/postgresql/$made/bin/postgres" ]]; then
        echo "/usr/lib/postgresql/$made/bin"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
        # Through any symlink on PATH to the folder that also holds psql and pg_isready.
        dirname "$(readlink -f "$(command -v postgres)")"
        return 0
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
        [[ -x "$d/initdb" && -x "$d/postgres" ]] && newest=$d
    done
    [[ -n "$newest" ]] || return 1
    echo "$newest"
}

# postgres_major BINDIR: the major version of those programs (15 for "postgres (PostgreSQL) 15.14").
postgres_major() {
    "$1/postgres" --version 2>/dev/null | sed -n 's/.*PostgreSQL) \([0-9]*\).*/\1/p'
}

postgres_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "postgres: PostgreSQL's programs (initdb, postgres) not found: install PostgreSQL (Debian: apt-get install -y postgresql) or set ECHOSTREAM_POSTGRES_BIN to the folder that holds them"
    say "postgres: installing Debian's postgresql (apt-get)..."
    # The package also makes its own "main" cluster on 5432 (not started, thanks to the policy);
    # ours is a separate one under $ECHOSTREAM_HOME.
    apt_install_no_start postgresql
    postgres_bindir >/dev/null || die "postgres: initdb and postgres still not found after apt-get install postgresql"
}

# postgres_find: PG_BIN, installing PostgreSQL when it is missing; checks it can open the cluster.
postgres_find() {
    local made major
    if [[ -n "${ECHOSTREAM_POSTGRES_BIN:-}" ]] && ! postgres_bindir >/dev/null; then
        die "postgres: ECHOSTREAM_POSTGRES_BIN=$ECHOSTREAM_POSTGRES_BIN holds no initdb and postgres: point it at PostgreSQL's bin folder (Debian: /usr/lib/postgresql/<version>/bin) or unset it"
    fi
    PG_BIN=$(postgres_bindir) || { postgres_install; PG_BIN=$(postgres_bindir); }
    [[ -f "$POSTGRES_DATA_DIR/PG_VERSION" ]] || return 0
    made=$(tr -dc '0-9' <"$POSTGRES_DATA_DIR/PG_VERSION")
    major=$(postgres_major "$PG_BIN")
    if [[ "$made" != "$major" ]]; then
        die "postgres: the cluster in $POSTGRES_DATA_DIR was made by PostgreSQL $made but only PostgreSQL $major's programs were found ($PG_BIN): install postgresql-$made, or set ECHOSTREAM_POSTGRES_BIN to its bin folder, or keep a dump (pg_dump) and remove $POSTGRES_HOME_DIR to start afresh"
    fi
}

# postgres_owner: PG_AS, the prefix that runs a PostgreSQL server program as the cluster's owner.
# PostgreSQL refuses to run as root, so root hands the cluster to the `postgres` system user.
postgres_owner() {
    PG_AS=()
    [[ $EUID -eq 0 ]] || return 0
    id -u postgres >/dev/null 2>&1 ||
        die "postgres: PostgreSQL refuses to run as root and there is no 'postgres' system user: create one (useradd --system --home-dir /var/lib/postgresql postgres), or run services.sh as another user"
    command -v setpriv >/dev/null 2>&1 || die "postgres: setpriv not found (Debian: apt-get install -y util-linux)"
    # setpriv execs (runuser and su fork and wait), so the pid that start_detached records is the
    # postmaster's own and a signal reaches it directly.
    PG_AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
}

postgres_prepare_dirs() {
    mkdir -p "$POSTGRES_HOME_DIR"
    [[ $EUID -eq 0 ]] || return 0
    if [[ "$(stat -c %U "$POSTGRES_HOME_DIR")" != postgres ]] ||
        { [[ -d "$POSTGRES_DATA_DIR" ]] && [[ "$(stat -c %U "$POSTGRES_DATA_DIR")" != postgres ]]; }; then
        chown -R postgres:postgres "$POSTGRES_HOME_DIR"
    fi
    if ! "${PG_AS[@]}" test -w "$POSTGRES_HOME_DIR" -a -x "$POSTGRES_HOME_DIR"; then
        die "postgres: the 'postgres' user (PostgreSQL refuses to run as root) cannot reach $POSTGRES_HOME_DIR: a folder above it lets no one else through (pytest's tmp folders are mode 0700). Choose an ECHOSTREAM_HOME whose parent folders others may enter (chmod o+x), or run services.sh as another user"
    fi
}

postgres_initdb() {
    [[ -f "$POSTGRES_DATA_DIR/PG_VERSION" ]] && return 0
    local log="$POSTGRES_HOME_DIR/initdb.log" tmp="$POSTGRES_DATA_DIR.new" locale=(--no-locale)
    # C.UTF-8 sorts by code point as C does, but knows upper and lower case beyond ASCII
    # (case-insensitive username lookups).
    if locale -a 2>/dev/null | grep -Eqix 'c\.utf-?8'; then locale=(--locale=C.UTF-8); fi
    rm -rf "$tmp"
    say "postgres: creating the cluster in $POSTGRES_DATA_DIR (initdb, once; log: $log)"
    # trust, with no password: initdb's pg_hba.conf lets in only the local socket (in a folder of
    # ours) and 127.0.0.1/::1, and the server listens on 127.0.0.1 alone, so only users of this
    # machine reach it, as they reach the Redis beside it. A deployment's DATABASE_URL names a
    # server with real credentials instead.
    if ! (cd "$POSTGRES_HOME_DIR" && exec "${PG_AS[@]}" "$PG_BIN/initdb" -D "$tmp" -U "$POSTGRES_SUPERUSER" \
        --auth=trust --encoding=UTF8 "${locale[@]}") >"$log" 2>&1; then
        rm -rf "$tmp"
        tail_log "$log"
        die "postgres: initdb failed; see $log"
    fi
    # Renamed only once complete: a half-made cluster is never taken for one.
    mv "$tmp" "$POSTGRES_DATA_DIR"
}

postgres_ready() {
    if [[ -n "${PG_BIN:-}" && -x "$PG_BIN/pg_isready" ]]; then
        # As our superuser, to the maintenance database: the server logs no unknown role at each poll.
        "$PG_BIN/pg_isready" -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" -U "$POSTGRES_SUPERUSER" -d postgres -t 3 \
            >/dev/null 2>&1
    else
        port_open "$POSTGRES_HOST" "$POSTGRES_PORT"
    fi
}

# postgres_sql SQL: run one statement as our superuser in the maintenance database; prints the
# rows (unaligned), or fails with the server's error on stderr.
postgres_sql() {
    if [[ -n "${PG_BIN:-}" && -x "$PG_BIN/psql" ]]; then
        "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" \
            -U "$POSTGRES_SUPERUSER" -d postgres -c "$1"
    elif py_has psycopg; then
        "$PY" - "$POSTGRES_HOST" "$POSTGRES_PORT" "$POSTGRES_SUPERUSER" "$1" <<'EOF'
import sys
import psycopg
host, port, user, sql = sys.argv[1:]
with psycopg.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=5, autocommit=True) as c:
    cursor = c.execute(sql)
    for row in cursor.fetchall() if cursor.description else []:
        print("|".join(str(v) for v in row))
EOF
    else
        echo "neither psql nor the psycopg module (in $PY) is available" >&2
        return 1
    fi
}

# postgres_ensure_database STARTED: create the database the settings name, when missing. On a
# server this call did not start (someone else's, perhaps) a failure is only reported.
postgres_ensure_database() {
    local started=$1 found err
    if ! found=$(postgres_sql "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DATABASE'" 2>&1); then
        err=$(tail -n 1 <<<"$found")
        if ((started)); then
            tail_log "$POSTGRES_LOG"
            die "postgres: the cluster answers but refuses our superuser '$POSTGRES_SUPERUSER' ($err); see $POSTGRES_LOG"
        fi
        warn "postgres: $POSTGRES_HOST:$POSTGRES_PORT answers but is not this project's cluster ($err): stop that server, or point DATABASE_URL at a database on it, or run ours on another port (ECHOSTREAM_POSTGRES_PORT, and DATABASE_URL to match)"
        return 0
    fi
    [[ "$found" == 1 ]] && return 0
    say "postgres: creating database $POSTGRES_DATABASE"
    # Another services.sh (another home, same server) may create it at the same moment.
    postgres_sql "CREATE DATABASE $POSTGRES_DATABASE" >/dev/null 2>&1 ||
        [[ "$(postgres_sql "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DATABASE'" 2>/dev/null)" == 1 ]] ||
        die "postgres: could not create database $POSTGRES_DATABASE; see $POSTGRES_LOG"
}

up_postgres() {
    local socket_dir
    already_up postgres "$POSTGRES_HOST" "$POSTGRES_PORT" && return 0
    postgres_find
    postgres_owner
    postgres_prepare_dirs
    postgres_initdb
    # Its socket lives with the cluster, not in /var/run/postgresql (the system cluster's, root's
    # to create). A socket path has at most 107 bytes: a deeper home goes without one (TCP only).
    socket_dir=$POSTGRES_HOME_DIR
    if ((${#socket_dir} + ${#POSTGRES_PORT} + 12 > 107)); then
        warn "postgres: $socket_dir is too deep for a unix socket; TCP only"
        socket_dir=""
    fi
    say "postgres: starting PostgreSQL $(postgres_major "$PG_BIN") on $POSTGRES_HOST:$POSTGRES_PORT (log: $POSTGRES_LOG)"
    # Modest memory on a development machine; max_connections leaves room for several stacks of
    # three roles (the tests run some at once) besides the tests' own connections.
    start_detached "$(pid_file postgres)" "$POSTGRES_LOG" \
        "${PG_AS[@]}" "$PG_BIN/postgres" -D "$POSTGRES_DATA_DIR" -h "$POSTGRES_HOST" -p "$POSTGRES_PORT" \
        -k "$socket_dir" -c shared_buffers=64MB -c max_connections=200 -c work_mem=4MB \
        -c maintenance_work_mem=32MB -c logging_collector=off
    STARTED+=(postgres)
}

# ----------------------------------------------------------------------------- commands
wait_service() {
    case "$1" in
        redis) wait_ready redis "$START_TIMEOUT_REDIS" redis_ready "PING on $REDIS_HOST:$REDIS_PORT" "$REDIS_HOME_DIR/redis.log" ;;
        mongodb)
            if [[ -n "${MONGODB_URI:-}" ]]; then
                if py_has pymongo; then
                    mongodb_external_ready || die "mongodb: MONGODB_URI is set but does not answer a ping"
                else
                    warn "mongodb: pymongo not importable; not checking MONGODB_URI"
                fi
            else
                wait_ready mongodb "$START_TIMEOUT_MONGODB" mongodb_ready "ping on $MONGODB_HOST:$MONGODB_PORT" "$(mongodb_log_file)"
            fi
            ;;
        kafka)
            wait_ready kafka "$START_TIMEOUT_KAFKA" kafka_ready "metadata from $KAFKA_HOST:$KAFKA_PORT" \
                "$KAFKA_HOME_DIR/logs/server.log" "$KAFKA_HOME_DIR/logs/kafka.out"
            ;;
        postgres)
            [[ -n "${PG_BIN:-}" ]] || PG_BIN=$(postgres_bindir || true)
            local started=0 deadline
            [[ " ${STARTED[*]-} " == *" postgres "* ]] && started=1
            if ((!started)) && ! managed_pid postgres >/dev/null; then
                # Not ours: whatever holds the port either answers as PostgreSQL now or never will.
                deadline=$((SECONDS + 10))
                until postgres_ready; do
                    ((SECONDS < deadline)) ||
                        die "postgres: something answers on $POSTGRES_HOST:$POSTGRES_PORT but not as PostgreSQL (pg_isready): stop it, or run ours on another port (ECHOSTREAM_POSTGRES_PORT, and DATABASE_URL to match)"
                    sleep 0.5
                done
            else
                wait_ready postgres "$START_TIMEOUT_POSTGRES" postgres_ready \
                    "pg_isready on $POSTGRES_HOST:$POSTGRES_PORT" "$POSTGRES_LOG"
            fi
            postgres_ensure_database "$started"
            ;;
    esac
}

# service_names ARG...: the services named (all when none), checked.
service_names() {
    local n
    NAMES=()
    (($#)) || { NAMES=("${SERVICES[@]}"); return 0; }
    for n in "$@"; do
        case "$n" in
            kafka | redis | mongodb | postgres) NAMES+=("$n") ;;
            *) die "unknown service '$n' (kafka, redis, mongodb or postgres)" ;;
        esac
    done
}

cmd_up() {
    local record="" args=() names
    while (($#)); do
        case "$1" in
            --record) [[ $# -ge 2 ]] || die "--record needs a FILE"; record=$2; shift 2 ;;
            --record=*) record=${1#*=}; shift ;;
            -*) die "up: unknown argument '$1' (usage: up [--record FILE] [SERVICE...])" ;;
            *) args+=("$1"); shift ;;
        esac
    done
    service_names "${args[@]}"
    names=("${NAMES[@]}")
    mkdir -p "$RUN_DIR"
    ensure_gitignore
    take_lock
    local t0=$SECONDS
    STARTED=()
    if [[ -n "$record" ]]; then
        mkdir -p "$(dirname "$record")"
        touch "$record"
    fi
    preflight
    # Start everything first (Kafka boots while FerretDB builds), then wait for each.
    local before svc
    for svc in "${names[@]}"; do
        before=${#STARTED[@]}
        "up_$svc"
        if [[ -n "$record" && ${#STARTED[@]} -gt $before ]]; then
            echo "$svc" >>"$record" # recorded at once, so a failed wait can still be cleaned up
        fi
    done
    for svc in redis mongodb postgres kafka; do
        [[ " ${names[*]} " == *" $svc "* ]] && wait_service "$svc"
    done
    py_has confluent_kafka || warn "kafka: confluent_kafka not importable with '$PY'; only checked that the port answers"
    py_has pymongo || [[ -n "${MONGODB_URI:-}" ]] || warn "mongodb: pymongo not importable with '$PY'; only checked that the port answers"
    if ((${#STARTED[@]})); then
        say "up: started ${STARTED[*]}; all services ready in $((SECONDS - t0))s"
    else
        say "up: nothing to start; all services ready"
    fi
}

stop_service() {
    local name=$1 pid timeout deadline signal
    if ! pid=$(managed_pid "$name"); then
        say "$name: not running under services.sh (no live pid file); nothing to stop"
        return 0
    fi
    timeout=$STOP_TIMEOUT_OTHER
    [[ "$name" == kafka ]] && timeout=$STOP_TIMEOUT_KAFKA
    signal=TERM
    # TERM is PostgreSQL's "smart" shutdown, which waits for every client to leave (a role's
    # pooled connection may never); INT is its "fast" one: clients are disconnected, their
    # transactions rolled back, and the cluster is shut down cleanly (no recovery at the next start).
    [[ "$name" == postgres ]] && signal=INT
    say "$name: stopping pid $pid ($signal, KILL after ${timeout}s)..."
    kill -"$signal" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if pid_alive "$pid"; then
        warn "$name: still running after ${timeout}s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
        pid_alive "$pid" && die "$name: pid $pid survived KILL"
    fi
    rm -f "$(pid_file "$name")"
    say "$name: stopped"
}

cmd_down() {
    local from="" names=() n
    while (($#)); do
        case "$1" in
            --only-from) [[ $# -ge 2 ]] || die "--only-from needs a FILE"; from=$2; shift 2 ;;
            --only-from=*) from=${1#*=}; shift ;;
            -*) die "down: unknown argument '$1' (usage: down [--only-from FILE] [SERVICE...])" ;;
            *) names+=("$1"); shift ;;
        esac
    done
    mkdir -p "$RUN_DIR"
    take_lock
    if [[ -n "$from" ]]; then
        if [[ ! -f "$from" ]]; then
            say "down: $from does not exist; nothing to stop"
            return 0
        fi
        while read -r n; do
            n=${n//[[:space:]]/}
            [[ -z "$n" ]] && continue
            case "$n" in
                kafka | redis | mongodb | postgres) [[ " ${names[*]-} " == *" $n "* ]] || names+=("$n") ;;
                *) warn "down: ignoring unknown service name '$n' in $from" ;;
            esac
        done <"$from"
    else
        service_names "${names[@]}"
        names=("${NAMES[@]}")
    fi
    # Stop Kafka first (its clients may be other services' users), then the stores.
    for n in kafka mongodb redis postgres; do
        [[ " ${names[*]-} " == *" $n "* ]] && stop_service "$n"
    done
    [[ -n "$from" ]] && rm -f "$from"
    return 0
}

cmd_status() {
    local all_up=0 svc pid state where extra
    for svc in "${SERVICES[@]}"; do
        extra=""
        pid=$(managed_pid "$svc" 2>/dev/null || true)
        [[ -n "$pid" ]] && extra=" (started by services.sh, pid $pid)"
        case "$svc" in
            kafka) where="$KAFKA_HOST:$KAFKA_PORT"; if kafka_ready; then state=up; else state=down; fi ;;
            postgres)
                where="$POSTGRES_HOST:$POSTGRES_PORT"
                PG_BIN=$(postgres_bindir || true)
                if postgres_ready; then state=up; else state=down; fi
                [[ -n "$PG_BIN" ]] || extra+=" (only the port checked: PostgreSQL's programs not found)"
                ;;
            redis) where="$REDIS_HOST:$REDIS_PORT"; if redis_ready; then state=up; else state=down; fi ;;
            mongodb)
                if [[ -n "${MONGODB_URI:-}" ]]; then
                    where="MONGODB_URI"
                    if mongodb_external_ready; then state=up; else state=down; fi
                    py_has pymongo || extra=" (not checked: pymongo not importable)"
                else
                    where="$MONGODB_HOST:$MONGODB_PORT"
                    if mongodb_ready; then state=up; else state=down; fi
                fi
                ;;
        esac
        [[ "$state" == up ]] || all_up=1
        printf '%-8s %-5s %s%s\n' "$svc" "$state" "$where" "$extra"
    done
    return "$all_up"
}

usage() {
    # the comment at the top, up to the first line of code
    sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        up | start) cmd_up "$@" ;;
        down | stop) cmd_down "$@" ;;
        restart)
            (($#)) || die "restart: name the service(s) (kafka, redis, mongodb, postgres)"
            cmd_down "$@"
            exec 9>&- # the lock is taken again by up
            cmd_up "$@"
            ;;
        status) cmd_status "$@" ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
