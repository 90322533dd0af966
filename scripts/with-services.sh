#!/usr/bin/env bash
# with-services.sh CMD...: runs CMD with a private redis-server, memcached and
# PostgreSQL on free loopback ports, installing them from Debian's packages
# when they are missing, and stops them afterwards. CMD sees their addresses
# in CACHEKIT_REDIS_ADDR, CACHEKIT_MEMCACHED_ADDR and CACHEKIT_POSTGRES_DSN;
# three more memcached (a sharded pool) in CACHEKIT_MEMCACHED_ADDRS and a
# three-master Redis Cluster in CACHEKIT_REDIS_CLUSTER_ADDRS (comma-separated).
# Under CI=true a service that cannot be installed or started is an error;
# elsewhere its tests skip.
set -euo pipefail

log() { echo "with-services: $*" >&2; }

need() { # need BINARY PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	if command -v apt-get >/dev/null 2>&1; then
		log "installing $2 from Debian's packages"
		if [ -z "${CACHEKIT_APT_UPDATED:-}" ]; then
			$sudo apt-get update -qq >/dev/null 2>&1 || true
			export CACHEKIT_APT_UPDATED=1
		fi
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null 2>&1 || true
	fi
	command -v "$1" >/dev/null 2>&1
}

# Ports come from below the kernel's ephemeral range, where outgoing
# connections (the tests make many) cannot already hold them; a cluster
# node's bus port (port+10000) too.
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph_lo=32768
[ "$eph_lo" -gt 22000 ] || eph_lo=32768
used_ports=" "
free_port() { # sets PORT to a TCP port nobody listens on, on 127.0.0.1, not handed out before
	local p
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (eph_lo - 20000)))
		# A cluster node also listens on port+10000 (its bus).
		case "$used_ports" in *" $p "* | *" $((p + 10000)) "* | *" $((p - 10000)) "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 10000))") 2>/dev/null; then
			used_ports="$used_ports$p "
			PORT=$p
			return 0
		fi
	done
	return 1
}

wait_port() { # wait_port PORT: up to 5 s for something to listen
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

dir=$(mktemp -d)
pids=()
pgdir=""
as_pg=() # how to run PostgreSQL's programs: it refuses to run as root
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "$pgdir" ]; then
		"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

fail_or_skip() {
	if [ "${CI:-}" = "true" ]; then
		log "ERROR: $1 (CI=true: its tests must run)"
		exit 1
	fi
	log "$1; its tests will skip"
}

if [ -z "${CACHEKIT_REDIS_ADDR:-}" ]; then
	if need redis-server redis-server; then
		free_port && port=$PORT
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--dir "$dir" --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
		pids+=($!)
		if wait_port "$port"; then
			export CACHEKIT_REDIS_ADDR="127.0.0.1:$port"
			export CACHEKIT_REDIS_SERVER="$(command -v redis-server)"
			log "redis-server on $CACHEKIT_REDIS_ADDR"
		else
			cat "$dir/redis.log" >&2
			fail_or_skip "redis-server did not start"
		fi
	else
		fail_or_skip "redis-server is missing and could not be installed"
	fi
fi

if [ -z "${CACHEKIT_MEMCACHED_ADDR:-}" ]; then
	if need memcached memcached; then
		free_port && port=$PORT
		memcached -l 127.0.0.1 -p "$port" -U 0 -m 64 -u "$(id -un)" >"$dir/memcached.log" 2>&1 &
		pids+=($!)
		if wait_port "$port"; then
			export CACHEKIT_MEMCACHED_ADDR="127.0.0.1:$port"
			export CACHEKIT_MEMCACHED_SERVER="$(command -v memcached)"
			log "memcached on $CACHEKIT_MEMCACHED_ADDR"
		else
			cat "$dir/memcached.log" >&2
			fail_or_skip "memcached did not start"
		fi
	else
		fail_or_skip "memcached is missing and could not be installed"
	fi
fi

# Three memcached: a sharded pool, as Django's MEMCACHED LOCATION list.
if [ -z "${CACHEKIT_MEMCACHED_ADDRS:-}" ] && command -v memcached >/dev/null 2>&1; then
	addrs=""
	for i in 1 2 3; do
		free_port && port=$PORT
		memcached -l 127.0.0.1 -p "$port" -U 0 -m 32 -u "$(id -un)" >"$dir/memcached$i.log" 2>&1 &
		pids+=($!)
		if wait_port "$port"; then
			addrs="${addrs:+$addrs,}127.0.0.1:$port"
		else
			cat "$dir/memcached$i.log" >&2
			addrs=""
			break
		fi
	done
	if [ -n "$addrs" ]; then
		export CACHEKIT_MEMCACHED_ADDRS="$addrs"
		log "memcached pool on $CACHEKIT_MEMCACHED_ADDRS"
	else
		fail_or_skip "the memcached pool did not start"
	fi
fi

# A Redis Cluster of three masters on loopback, no replicas.
# cluster-require-full-coverage no: with a master down, the others keep
# answering for their own slots (the default stops the whole cluster).
if [ -z "${CACHEKIT_REDIS_CLUSTER_ADDRS:-}" ] && command -v redis-server >/dev/null 2>&1; then
	if need redis-cli redis-tools; then
		addrs=""
		nodes=()
		for i in 1 2 3; do
			free_port && port=$PORT
			mkdir -p "$dir/cluster$i"
			redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
				--cluster-enabled yes --cluster-config-file "$dir/cluster$i/nodes.conf" \
				--cluster-node-timeout 2000 --cluster-require-full-coverage no \
				--dir "$dir/cluster$i" --daemonize no --loglevel warning >"$dir/cluster$i.log" 2>&1 &
			pids+=($!)
			wait_port "$port" || break
			nodes+=("127.0.0.1:$port")
		done
		if [ "${#nodes[@]}" -eq 3 ] &&
			redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/cluster-create.log" 2>&1; then
			for _ in $(seq 1 100); do # until every node agrees the cluster is ok
				ok=0
				for n in "${nodes[@]}"; do
					redis-cli -h 127.0.0.1 -p "${n##*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && ok=$((ok + 1))
				done
				[ "$ok" -eq 3 ] && break
				sleep 0.1
			done
			export CACHEKIT_REDIS_CLUSTER_ADDRS="$(IFS=,; echo "${nodes[*]}")"
			log "redis cluster on $CACHEKIT_REDIS_CLUSTER_ADDRS"
		else
			cat "$dir"/cluster*.log "$dir/cluster-create.log" >&2 2>/dev/null || true
			fail_or_skip "the Redis Cluster did not start"
		fi
	else
		fail_or_skip "redis-cli is missing and could not be installed"
	fi
fi

# PostgreSQL: a private cluster in a temporary directory, trust auth on
# 127.0.0.1 only, no fsync; pg_ctl starts and stops it.
pg_bin() { # the newest installed server's bin directory
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}
if [ -z "${CACHEKIT_POSTGRES_DSN:-}" ]; then
	pgbin=$(pg_bin || true)
	if [ -z "$pgbin" ] && need pg_ctlcluster postgresql; then
		pgbin=$(pg_bin || true)
	fi
	if [ -n "$pgbin" ]; then
		pgdir=$(mktemp -d /tmp/cachekit-pg.XXXXXX)
		if [ "$(id -u)" -eq 0 ]; then
			id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
			chown postgres "$pgdir"
			as_pg=(runuser -u postgres --)
		fi
		free_port && port=$PORT
		if "${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >"$pgdir/initdb.log" 2>&1 &&
			"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 30 \
				-o "-h 127.0.0.1 -p $port -k $pgdir -F -c fsync=off -c full_page_writes=off" start >/dev/null 2>&1; then
			export CACHEKIT_POSTGRES_DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=disable"
			log "postgres on 127.0.0.1:$port"
		else
			cat "$pgdir/initdb.log" "$pgdir/server.log" >&2 2>/dev/null || true
			fail_or_skip "PostgreSQL did not start"
		fi
	else
		fail_or_skip "PostgreSQL is missing and could not be installed"
	fi
fi

# wrk for make bench, and under CI=true Chromium for the browser test.
if [ "${1:-}" = "true" ]; then
	need wrk wrk || log "wrk could not be installed"
fi
if [ "${CI:-}" = "true" ] && ! command -v chromium >/dev/null 2>&1; then
	need chromium chromium || { log "ERROR: chromium could not be installed (CI=true: the browser test must run)"; exit 1; }
fi

"$@"
