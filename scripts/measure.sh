#!/usr/bin/env bash
# Re-runs every measurement the issues ask for, each against its peer in the same run,
# and writes the raw outputs plus a summary to OUT (default target/measure).
#
#   scripts/measure.sh [OUT] [--quick] [--standard-only] [--runtimes] [--peers]
#
# Needs fio, a release build (it builds one), ~3 GiB free on the filesystem of OUT, and a
# quiet machine: each step first waits for Dirty in /proc/meminfo to drain (see
# NVMe-NOTES.md "Dirty pages"). The standard device jobs are compared with fio
# unpinned (neither tool pinned, as fio runs a job without cpus_allowed: issue 18), and
# again with both pinned to CPU $CPU (default: the last CPU). --standard-only runs just
# the unpinned standard-job comparison (step 2); --runtimes runs just the four standard
# jobs through boreal's io_uring, tokio-uring and glommio side by side (NVMe-NOTES
# "glommio and tokio-uring on this VM"). The runtime comparison (step 1) pins
# both to $CPU. The CPU-bound engine jobs with no peer (journal records/s, recovery,
# restart) run where boreal_placement=quiet puts them: on a CPU that takes none of the
# device's interrupts (bench/src/placement.rs; NVMe-NOTES.md "CPU placement"), or on
# $JCPU if set.
#
# --peers runs just the commit peers (also the last step of a full run): the boreal
# cluster (64 clients x 4 x 128-byte records per transaction, six durable copies; the
# same with one node slowed by 5 ms; GetPage@LSN at depth 32) beside PostgreSQL
# (pgbench, 64 clients, one-row INSERT per transaction, synchronous_commit=on) and etcd
# (3 members on loopback, 64 clients, 256-byte puts), each on a throwaway data directory
# under OUT (the same disk), with fio's 4 KiB write+fdatasync at depth 1 and 4 KiB
# random read at depth 32 as the device references. Each reports commits/s, commit
# p50/p99 and device flushes per commit (the disk's flush counter, /sys/block/DEV/stat
# field 16, over the measured window: the whole disk, so run it on a quiet machine).
# PostgreSQL and etcd come from Debian packages (installed here with apt-get when
# missing; needs root, as PostgreSQL then runs as the `postgres` user). Results go to
# OUT/summary.txt and OUT/peers.json, which `boreal report` shows beside the cluster's
# JSONs (`boreal report OUT/cluster-commit.json OUT/cluster-getpage.json OUT/peers.json`).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/measure
QUICK=
STANDARD_ONLY=
RUNTIMES=
PEERS_ONLY=
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=--quick ;;
    --standard-only) STANDARD_ONLY=1 ;;
    --runtimes) RUNTIMES=1 ;;
    --peers) PEERS_ONLY=1 ;;
    -*) echo "unknown flag $arg (flags: --quick --standard-only --runtimes --peers)" >&2; exit 2 ;;
    *) OUT=$arg ;;
  esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CPU=${CPU:-$(( $(nproc) - 1 ))}
ROUNDS=${ROUNDS:-3}
RUNTIME=${RUNTIME:-5}
[ "$QUICK" = "--quick" ] && { ROUNDS=1; RUNTIME=2; }
command -v fio >/dev/null || { echo "fio is not installed: apt-get install -y fio" >&2; exit 2; }

cargo build --release -q -p boreal-bench -p boreal-tools
cargo build --release -q -p boreal-netlog --bin boreal-node
cargo build --release -q -p boreal-engine --examples
cargo build --release -q -p boreal-bench --example etcd_put_load
BIN=${CARGO_TARGET_DIR:-target}/release
BENCH="$BIN/boreal-bench"

quiet() {
  sync
  for _ in $(seq 120); do
    d=$(awk '/^Dirty:/{print $2}' /proc/meminfo)
    [ "$d" -lt 20000 ] && return
    sleep 1
  done
  echo "warning: Dirty still ${d} kB after 120 s" >&2
}

echo "machine: $(nproc) CPUs, $(uname -r), $(findmnt -no FSTYPE -T "$OUT") on $(findmnt -no SOURCE -T "$OUT"); comparisons on cpu$CPU; $(date -u +%FT%TZ)" | tee "$OUT/summary.txt"

# The disk under OUT and its flush counter (/sys/block/DEV/stat field 16: flush
# requests completed, kernel 5.5 and later); a partition counts on its disk.
DEV=$(findmnt -no SOURCE -T "$OUT")
DEV=${DEV#/dev/}
PARENT=$(lsblk -no PKNAME "/dev/$DEV" 2>/dev/null | head -1 || true)
[ -n "$PARENT" ] && DEV=$PARENT
flushes() { awk '{print ($16 == "" ? "nan" : $16)}' "/sys/class/block/$DEV/stat" 2>/dev/null || echo nan; }

# Installs the peers from Debian's packages when they are missing.
install_peers() {
  local missing=()
  ls -d /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "measure.sh --peers needs ${missing[*]} (Debian packages): run as root or install them" >&2; exit 2; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# PostgreSQL: a throwaway cluster in OUT/pg (unix socket only), pgbench with 64
# clients, each transaction one INSERT of a 512-byte row (the payload of one boreal
# transaction: 4 records of 128 bytes), synchronous_commit=on, fsync=on.
peer_postgresql() {
  local pgbin dir=$OUT/pg
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  [ "$(id -u)" = 0 ] || { echo "the PostgreSQL peer runs its server as the postgres user: run measure.sh as root" >&2; exit 2; }
  rm -rf "$dir"; mkdir -p "$dir/log"; chown -R postgres: "$dir"
  runuser -u postgres -- test -w "$dir" || { echo "the postgres user cannot write $dir (every folder above it needs o+x)" >&2; exit 2; }
  runuser -u postgres -- "$pgbin/initdb" -D "$dir/data" -A trust -U postgres --no-sync > "$dir/initdb.txt"
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c synchronous_commit=on -c fsync=on -c max_connections=100" \
      start > /dev/null
  psql -q -h "$dir" -U postgres -d postgres -c "CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)"
  echo "INSERT INTO t (v) VALUES (repeat('x', 512));" > "$dir/insert.sql"
  quiet
  local f0 f1
  f0=$(flushes)
  pgbench -h "$dir" -U postgres -n -c 64 -j 2 -T "$RUNTIME" -M prepared -f "$dir/insert.sql" \
      -l --log-prefix="$dir/log/tx" postgres > "$OUT/peer-postgresql.txt" 2>&1
  f1=$(flushes)
  echo "device_flushes=$((f1 - f0)) version=$("$pgbin/postgres" --version)" >> "$OUT/peer-postgresql.txt"
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null
  # Per-transaction latencies (pgbench -l: the third field, µs).
  cat "$dir"/log/tx.* | awk '{print $3}' > "$OUT/peer-postgresql-latencies-us.txt"
  rm -rf "$dir"
}

# etcd: 3 members on loopback (ports $ETCD_PORT+1..3 for clients, +11..13 for peers),
# data in OUT/etcd; 64 clients put 256-byte values (bench/examples/etcd_put_load).
peer_etcd() {
  local dir=$OUT/etcd port=${ETCD_PORT:-23790} cluster="" endpoints="" pids=() m
  rm -rf "$dir"; mkdir -p "$dir"
  for m in 1 2 3; do
    cluster="$cluster${cluster:+,}m$m=http://127.0.0.1:$((port + 10 + m))"
    endpoints="$endpoints${endpoints:+,}127.0.0.1:$((port + m))"
  done
  for m in 1 2 3; do
    etcd --name "m$m" --data-dir "$dir/m$m" \
        --listen-client-urls "http://127.0.0.1:$((port + m))" --advertise-client-urls "http://127.0.0.1:$((port + m))" \
        --listen-peer-urls "http://127.0.0.1:$((port + 10 + m))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 10 + m))" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token measure \
        --logger zap --log-outputs "$dir/m$m.log" > /dev/null 2>&1 &
    pids+=($!)
  done
  local ok=
  for _ in $(seq 200); do
    if etcdctl --endpoints="$endpoints" endpoint health > /dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true
    echo "etcd did not become healthy in 20 s; its logs: $dir/m*.log" >&2; exit 1
  fi
  quiet
  local f0 f1 rc=0
  f0=$(flushes)
  "$BIN/examples/etcd_put_load" --endpoints "$endpoints" --clients 64 --seconds "$RUNTIME" \
      --value-size 256 > "$OUT/peer-etcd.txt" 2> "$OUT/peer-etcd.err" || rc=$?
  f1=$(flushes)
  echo "device_flushes=$((f1 - f0)) version=$(etcd --version | head -1)" >> "$OUT/peer-etcd.txt"
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  [ "$rc" = 0 ] || { echo "the etcd load failed:"; cat "$OUT/peer-etcd.err"; } >&2
  rm -rf "$dir"
}

# The commit peers side by side (see the header).
peers_step() {
  install_peers
  # Device references, on the same disk.
  quiet
  local f0 f1
  f0=$(flushes)
  fio --name=write-4k-fdatasync-qd1 --filename="$OUT/peer-ref.data" --size=256m --bs=4k --rw=write \
      --fdatasync=1 --direct=1 --ioengine=io_uring --iodepth=1 --runtime="$RUNTIME" --time_based \
      --output-format=json --output="$OUT/peer-fio-write-4k-fdatasync-qd1.json"
  f1=$(flushes)
  echo "$((f1 - f0))" > "$OUT/peer-fio-write-4k-fdatasync-qd1.flushes"
  quiet
  fio --name=randread-4k-qd32 --filename="$OUT/peer-ref.data" --size=256m --bs=4k --rw=randread \
      --direct=1 --ioengine=io_uring --iodepth=32 --runtime="$RUNTIME" --time_based \
      --output-format=json --output="$OUT/peer-fio-randread-4k-qd32.json"
  rm -f "$OUT/peer-ref.data"
  # The boreal cluster: six boreal-node processes in the job's directory, started
  # and stopped by the job (bench/jobs/README.md, ioengine=boreal-cluster).
  for job in cluster-commit cluster-getpage; do
    quiet
    rm -rf "${OUT:?}/$job"
    "$BENCH" "bench/jobs/$job.fio" --runtime="$RUNTIME" --ramp_time=1 --directory="$OUT/$job" \
        --output-format=json+ --output="$OUT/$job.json"
    rm -rf "${OUT:?}/$job"
  done
  peer_postgresql
  peer_etcd
  python3 - "$OUT" "$DEV" <<'PY' | tee -a "$OUT/summary.txt"
import json, re, sys
out, dev = sys.argv[1], sys.argv[2]
rows, jobs = [], []
def pct(vals, q):
    s = sorted(vals); return s[min(len(s) - 1, int(q / 100 * len(s)))] if s else float("nan")
def add(name, what, ops, secs, p50_us, p99_us, flushes, engine, depth, peer=True):
    rate = ops / secs if secs else float("nan")
    fpc = flushes / ops if ops and flushes == flushes else float("nan")
    rows.append((name, what, rate, p50_us, p99_us, fpc))
    if not peer:
        return  # boreal's own rows are in its JSON already
    stats = {"layer": what, "commits_per_sec": rate}
    if fpc == fpc:
        stats["device_flushes_per_commit"] = fpc
    jobs.append({"jobname": name, "job options": {"ioengine": engine, "rw": "write", "iodepth": str(depth)},
                 "write": {"total_ios": ops, "iops": rate, "runtime": secs * 1000,
                           "clat_ns": {"N": ops, "percentile": {"50.000000": p50_us * 1e3, "99.000000": p99_us * 1e3}}},
                 "read": {"total_ios": 0},
                 "boreal": {"engine": engine, "engine_stats": stats}})
try:
    j = json.load(open(f"{out}/peer-fio-write-4k-fdatasync-qd1.json"))["jobs"][0]
    w, s = j["write"], j["sync"]["lat_ns"]["percentile"]
    p = w["clat_ns"]["percentile"]
    fl = float(open(f"{out}/peer-fio-write-4k-fdatasync-qd1.flushes").read())
    add("fio write-4k-fdatasync-qd1", "device: 4 KiB write + fdatasync, depth 1", w["total_ios"], j["job_runtime"] / 1000,
        (p["50.000000"] + s["50.000000"]) / 1e3, (p["99.000000"] + s["99.000000"]) / 1e3, fl, "fio", 1)
except Exception as e:
    print("fio reference missing:", e)
cluster = {}
try:
    for j in json.load(open(f"{out}/cluster-commit.json"))["jobs"]:
        es = j["boreal"].get("engine_stats", {})
        p = j["write"]["clat_ns"]["percentile"]
        secs = j["job_runtime"] / 1000
        cluster[j["jobname"]] = es
        add(f"boreal {j['jobname']}", es.get("layer", "boreal cluster"), j["write"]["total_ios"], secs,
            p["50.000000"] / 1e3, p["99.000000"] / 1e3, es.get("device_flushes", float("nan")), "boreal-cluster",
            64, peer=False)
except Exception as e:
    print("boreal cluster run missing:", e)
try:
    t = open(f"{out}/peer-postgresql.txt").read()
    n = int(re.search(r"number of transactions actually processed: (\d+)", t).group(1))
    d = float(re.search(r"duration: ([\d.]+) s", t).group(1))
    fl = float(re.search(r"device_flushes=(\S+)", t).group(1))
    ver = re.search(r"version=(.*)", t).group(1).strip()
    lat = [float(x) for x in open(f"{out}/peer-postgresql-latencies-us.txt").read().split()]
    add("postgresql pgbench insert c64", f"peer: {ver}, 64 clients, one-row INSERT per transaction, synchronous_commit=on",
        n, d, pct(lat, 50), pct(lat, 99), fl, "postgresql", 64)
except Exception as e:
    print("PostgreSQL run missing:", e)
try:
    t = open(f"{out}/peer-etcd.txt").read()
    kv = dict(x.split("=", 1) for x in t.split("\n")[0].split())
    fl = float(re.search(r"device_flushes=(\S+)", t).group(1))
    ver = re.search(r"version=(.*)", t).group(1).strip()
    add("etcd put 256B c64", f"peer: {ver}, 3 members on loopback, 64 clients, 256-byte puts",
        int(kv["puts"]), float(kv["seconds"]), float(kv["p50_us"]), float(kv["p99_us"]), fl, "etcd", 64)
except Exception as e:
    print("etcd run missing:", e)
print(f"\n== commits: the cluster against its peers, same disk ({dev}), same run")
w = max([34] + [len(r[0]) for r in rows])
print(f"{'':{w}} {'commits/s':>10} {'p50 us':>9} {'p99 us':>9} {'flushes/commit':>15}")
for name, what, rate, p50, p99, fpc in rows:
    print(f"{name:{w}} {rate:10,.0f} {p50:9.1f} {p99:9.1f} {fpc:15.3f}   {what}")
for name, es in cluster.items():
    print(f"  {name}: shim sends/commit {es.get('shim_sends_per_commit', float('nan')):.3f}, "
          f"AppendBatch frames/commit {es.get('append_frames_per_commit', float('nan')):.3f}, "
          f"device flushes/commit per node {es.get('node_device_flushes_per_commit', float('nan')):.3f}, "
          f"wire bytes/redo byte {es.get('shim_wire_bytes_per_redo_byte', float('nan')):.2f}")
    lat = es.get("node_append_latency_us") or {}
    if lat.get("appends"):
        print(f"    the nodes' own append latency (arrival to durable ack, their histograms): "
              f"p50 {lat.get('p50')} us, p90 {lat.get('p90')} us, p99 {lat.get('p99')} us")
base = [r for r in rows if r[0].startswith("fio ")]
if base and cluster:
    for r in rows:
        if r[0].startswith("boreal "):
            print(f"  {r[0]}: {r[2] / base[0][2]:.2f}x fio's write+fdatasync IOPS")
slow = [r for r in rows if r[0].startswith("boreal ") and "slow-node" in r[0]]
fast = [r for r in rows if r[0].startswith("boreal ") and "slow-node" not in r[0]]
if slow and fast and fast[0][4] > 0:
    print(f"  commit p99 with one node slowed / without: {slow[0][4] / fast[0][4]:.2f}")
print("\n== reads: GetPage@LSN at depth 32 against fio's 4 KiB random read at depth 32")
try:
    j = json.load(open(f"{out}/peer-fio-randread-4k-qd32.json"))["jobs"][0]["read"]
    p = j["clat_ns"]["percentile"]
    print(f"{'fio randread-4k-qd32':{w}} {j['iops']:10,.0f} {p['50.000000']/1e3:9.1f} {p['99.000000']/1e3:9.1f}")
    jobs.append({"jobname": "fio randread-4k-qd32", "job options": {"ioengine": "fio", "rw": "randread", "iodepth": "32"},
                 "read": {"total_ios": j["total_ios"], "iops": j["iops"], "clat_ns": p and {"N": j["total_ios"], "percentile": p}},
                 "write": {"total_ios": 0},
                 "boreal": {"engine": "fio", "engine_stats": {"layer": "device: 4 KiB random read, depth 32"}}})
    for g in json.load(open(f"{out}/cluster-getpage.json"))["jobs"]:
        r = g["read"]; p = r["clat_ns"]["percentile"]
        print(f"{'boreal ' + g['jobname']:{w}} {r['iops']:10,.0f} {p['50.000000']/1e3:9.1f} {p['99.000000']/1e3:9.1f}"
              f"   ({r['iops'] / j['iops']:.2f}x fio)")
except Exception as e:
    print("reads missing:", e)
json.dump({"boreal-measure version": "scripts/measure.sh --peers", "jobs": jobs}, open(f"{out}/peers.json", "w"), indent=1)
print(f"\nfor the report: cargo run -p boreal-tools -- report {out}/cluster-commit.json {out}/cluster-getpage.json {out}/peers.json -o {out}/peers.html")
PY
}

if [ -n "$PEERS_ONLY" ]; then
  peers_step
  exit 0
fi

if [ -n "$RUNTIMES" ]; then
  # The four standard jobs through each runtime, unpinned, engines alternating per round.
  cargo build --release -q -p boreal-bench --features tokio-uring,glommio
  for r in $(seq "$ROUNDS"); do
    for job in write-4k-fdatasync-qd1 randread-4k-qd32 write-4k-qd32 write-128k-qd32; do
      for engine in io_uring tokio-uring glommio; do
        quiet
        "$BENCH" "bench/jobs/$job.fio" --ioengine=$engine --runtime="$RUNTIME" --ramp_time=1 \
            --size=1g --directory="$OUT" --output-format=json \
            --output="$OUT/runtimes-$job-$engine-$r.json"
      done
    done
  done
  rm -f "$OUT/boreal-bench.data"
  python3 - "$OUT" <<'PY' | tee -a "$OUT/summary.txt"
import glob, json, statistics, sys
out = sys.argv[1]
print("\n== runtimes side by side (unpinned; medians of rounds): IOPS / clat p99 us (+ sync p99 for fdatasync)")
for job in ("write-4k-fdatasync-qd1", "randread-4k-qd32", "write-4k-qd32", "write-128k-qd32"):
    cells = []
    for engine in ("io_uring", "tokio-uring", "glommio"):
        iops, p99 = [], []
        for f in glob.glob(f"{out}/runtimes-{job}-{engine}-*.json"):
            j = json.load(open(f))["jobs"][0]
            d = j["read"] if j["read"]["total_ios"] else j["write"]
            lat = d["clat_ns"]["percentile"]["99.000000"] / 1e3
            if j["sync"]["total_ios"]:
                lat += j["sync"]["lat_ns"]["percentile"]["99.000000"] / 1e3
            iops.append(d["iops"]); p99.append(lat)
        cells.append(f"{engine} {statistics.median(iops):9.0f} / {statistics.median(p99):7.1f}" if iops else f"{engine} -")
    print(f"{job:24} " + " | ".join(cells))
PY
  exit 0
fi

# 2 (first, and alone with --standard-only). boreal-bench against fio on the four shipped
# device checks, unpinned: each tool's job runs where the scheduler puts it.
for job in write-4k-fdatasync-qd1 randread-4k-qd32 write-4k-qd32 write-128k-qd32; do
  quiet
  "$BENCH" --compare-fio "bench/jobs/$job.fio" --rounds="$ROUNDS" --runtime="$RUNTIME" \
      --ramp_time=1 --size=1g --directory="$OUT" --compare-dir="$OUT/compare-$job-unpinned" \
      > "$OUT/compare-$job-unpinned.txt"
done
if [ -n "$STANDARD_ONLY" ]; then
  for job in write-4k-fdatasync-qd1 randread-4k-qd32 write-4k-qd32 write-128k-qd32; do
    echo "-- $job (unpinned)"; cat "$OUT/compare-$job-unpinned.txt"
  done | tee -a "$OUT/summary.txt"
  rm -f "$OUT/boreal-bench.data"
  exit 0
fi

# 1. The runtime itself (engine/examples/uring_bench) against fio's io_uring engine.
F="$OUT/runtime.data"
for mode in write-fdatasync randread; do
  if [ $mode = write-fdatasync ]; then depth=1; fiorw="--rw=write --fdatasync=1"; else depth=32; fiorw="--rw=randread"; fi
  for r in $(seq "$ROUNDS"); do
    quiet
    fio --name=peer --filename="$F" --size=256m --bs=4k --direct=1 --ioengine=io_uring \
        --iodepth=$depth $fiorw --runtime="$RUNTIME" --time_based --cpus_allowed="$CPU" \
        --output-format=json --output="$OUT/runtime-$mode-fio-$r.json"
    quiet
    "$BIN/examples/uring_bench" --file "$F" --mode $mode --bs 4096 --depth $depth \
        --seconds "$RUNTIME" --size $((256 << 20)) --cpu "$CPU" > "$OUT/runtime-$mode-boreal-$r.txt"
    if [ $mode = write-fdatasync ]; then
      # boreal's runtime polls up to 50 us before it sleeps; fio sleeps at once. The same
      # without polling (NVMe-NOTES "Polling before sleeping").
      quiet
      "$BIN/examples/uring_bench" --file "$F" --mode $mode --bs 4096 --depth $depth \
          --seconds "$RUNTIME" --size $((256 << 20)) --cpu "$CPU" --park-spin-us 0 \
          > "$OUT/runtime-$mode-nopoll-$r.txt"
    fi
  done
done

# 2b. The same, both tools pinned to $CPU.
for job in write-4k-fdatasync-qd1 randread-4k-qd32 write-4k-qd32 write-128k-qd32; do
  quiet
  "$BENCH" --compare-fio "bench/jobs/$job.fio" --rounds="$ROUNDS" --runtime="$RUNTIME" \
      --ramp_time=1 --size=1g --directory="$OUT" --compare-dir="$OUT/compare-$job" \
      --compare-cpu="$CPU" > "$OUT/compare-$job.txt"
done

# 3. The journal through the engine. Its peer is the device's rate of durable writes
# of one batch (fio: 24 KiB O_DSYNC writes, on $JCPU or cpu0, just before it) at depths
# 1, 2 and 3. The journal keeps up to three batches in flight: W appenders form about
# four groups (three batches in flight, one forming), so a batch holds about W/4
# records and the journal's batch rate follows the device's depth-3 rate when the CPU
# keeps up (NVMe-NOTES "Three batch writes in flight").
for job in journal-128b-qd256 journal-128b-qd64; do
  rm -rf "$OUT/$job"
  for qd in 1 2 3; do
    quiet
    fio --name=dsync --filename="$OUT/dsync24k.data" --size=256m --bs=24k --rw=write \
        --direct=1 --sync=dsync --ioengine=io_uring --iodepth=$qd --runtime="$RUNTIME" \
        --time_based --cpus_allowed="${JCPU:-0}" --output-format=json \
        --output="$OUT/$job-dsync-qd$qd-fio.json"
  done
  quiet
  "$BENCH" "bench/jobs/$job.fio" --runtime=$((RUNTIME * 2)) --ramp_time=2 \
      --directory="$OUT/$job" ${JCPU:+--cpus_allowed="$JCPU"} --boreal_placement=quiet \
      --output-format=json \
      --output="$OUT/$job.json"
done
rm -f "$OUT/dsync24k.data"
quiet
rm -rf "$OUT/journal-4k-qd1"
"$BENCH" --compare-fio bench/jobs/journal-4k-qd1.fio --rounds="$ROUNDS" --runtime="$RUNTIME" \
    --ramp_time=1 --directory="$OUT/journal-4k-qd1" --compare-dir="$OUT/compare-journal-4k-qd1" \
    --compare-cpu="$CPU" > "$OUT/compare-journal-4k-qd1.txt"
# The same without polling before sleeping, as fio runs (NVMe-NOTES "Polling before
# sleeping").
for job in journal-4k-qd1 write-4k-fdatasync-qd1; do
  quiet
  rm -rf "$OUT/$job-nopoll"
  mkdir -p "$OUT/$job-nopoll"
  "$BENCH" --compare-fio "bench/jobs/$job.fio" --rounds="$ROUNDS" --runtime="$RUNTIME" \
      --ramp_time=1 --size=1g --directory="$OUT/$job-nopoll" --boreal_park_spin=0 \
      --compare-dir="$OUT/compare-$job-nopoll" --compare-cpu="$CPU" \
      > "$OUT/compare-$job-nopoll.txt"
  rm -rf "$OUT/$job-nopoll"
done
quiet
# The examples run where boreal-bench put the journal jobs.
JCPU=${JCPU:-$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(j["boreal"]["cpus"][0])' "$OUT/journal-128b-qd256.json")}
echo "engine-only jobs on cpu$JCPU" | tee -a "$OUT/summary.txt"
taskset -c "$JCPU" "$BIN/examples/recovery_time" "$OUT/recovery" --mib 1024 > "$OUT/recovery.txt"
rm -rf "$OUT/recovery"
quiet
# The whole engine restart: a 1 GiB journal written through, the backlog at its bound.
mkdir -p "$OUT/restart"
taskset -c "$JCPU" "$BIN/examples/restart_time" "$OUT/restart" --mib 1024 > "$OUT/restart.txt"
rm -rf "$OUT/restart"
quiet
"$BIN/examples/journal_modes" "$OUT/modes" --secs 2 > "$OUT/journal-modes.txt"

python3 - "$OUT" <<'PY' | tee -a "$OUT/summary.txt"
import glob, json, os, re, statistics, sys
out = sys.argv[1]
def med(xs): return statistics.median(xs) if xs else float("nan")
print("\n== runtime (uring_bench) vs fio io_uring, medians of rounds")
for mode in ("write-fdatasync", "randread"):
    fio_iops, fio_p50, fio_p99, b_ops, b_p50, b_p99 = [], [], [], [], [], []
    for f in sorted(glob.glob(f"{out}/runtime-{mode}-fio-*.json")):
        j = json.load(open(f))["jobs"][0]
        d = j["write"] if mode.startswith("write") else j["read"]
        p = d["clat_ns"]["percentile"]
        lat50, lat99 = p["50.000000"] / 1e3, p["99.000000"] / 1e3
        if mode.startswith("write"):
            s = j["sync"]["lat_ns"]["percentile"]
            lat50 += s["50.000000"] / 1e3; lat99 += s["99.000000"] / 1e3
        fio_iops.append(d["iops"]); fio_p50.append(lat50); fio_p99.append(lat99)
    for f in sorted(glob.glob(f"{out}/runtime-{mode}-boreal-*.txt")):
        t = open(f).read()
        m = re.search(r"ops_per_s=([\d.]+) p50_us=([\d.]+) p99_us=([\d.]+)", t)
        if m:
            b_ops.append(float(m.group(1))); b_p50.append(float(m.group(2))); b_p99.append(float(m.group(3)))
    print(f"{mode:16} fio {med(fio_iops):9.0f} ops/s p50 {med(fio_p50):7.1f} p99 {med(fio_p99):7.1f} us | "
          f"boreal {med(b_ops):9.0f} ops/s p50 {med(b_p50):7.1f} p99 {med(b_p99):7.1f} us | "
          f"ops ratio {med(b_ops)/med(fio_iops):.3f}")
    n_ops, n_p50, n_p99 = [], [], []
    for f in sorted(glob.glob(f"{out}/runtime-{mode}-nopoll-*.txt")):
        m = re.search(r"ops_per_s=([\d.]+) p50_us=([\d.]+) p99_us=([\d.]+)", open(f).read())
        if m:
            n_ops.append(float(m.group(1))); n_p50.append(float(m.group(2))); n_p99.append(float(m.group(3)))
    if n_ops:
        print(f"{'  (no polling)':16} {'':30} | boreal {med(n_ops):9.0f} ops/s p50 {med(n_p50):7.1f} "
              f"p99 {med(n_p99):7.1f} us | ops ratio {med(n_ops)/med(fio_iops):.3f}")
print("\n== boreal-bench --compare-fio (tables as printed)")
for f in sorted(glob.glob(f"{out}/compare-*.txt")):
    print(f"-- {os.path.basename(f)}")
    print(open(f).read().rstrip())
print("\n== journal through the engine")
for name in ("journal-128b-qd256", "journal-128b-qd64"):
    try:
        j = json.load(open(f"{out}/{name}.json"))["jobs"][0]
    except Exception as e:
        print(name, "missing:", e); continue
    es = j.get("boreal", {}).get("engine_stats", {})
    p = j["write"]["clat_ns"]["percentile"]
    print(f"{name:20} records/s {es.get('records_per_sec', float('nan')):>12,.0f}  commit p50 {p['50.000000']/1e3:8.1f} us  p99 {p['99.000000']/1e3:8.1f} us  "
          f"device bytes/redo byte {es.get('device_bytes_per_redo_byte', float('nan')):.2f}  records/batch {es.get('records_per_batch', float('nan')):.1f}")
    try:
        rate = {qd: json.load(open(f"{out}/{name}-dsync-qd{qd}-fio.json"))["jobs"][0]["write"]["iops"] for qd in (1, 2, 3)}
        depth = j["boreal"]["iodepth_effective"]
        batches = es["journal_batches"] / (j["job_runtime"] / 1000)
        model = depth / 4 * rate[3]
        print(f"{'':20} peer: fio 24 KiB O_DSYNC {rate[1]:,.0f}/s at depth 1, {rate[2]:,.0f}/s at depth 2, "
              f"{rate[3]:,.0f}/s at depth 3; "
              f"boreal batches/s {batches:,.0f} ({batches / rate[3]:.2f} of depth 3); "
              f"{depth}/4 x {rate[3]:,.0f} = {model:,.0f} records/s; reached {es['records_per_sec'] / model:.2f} of it")
    except Exception as e:
        print(f"{'':20} peer missing: {e}")
print("\n== recovery"); print(open(f"{out}/recovery.txt").read().rstrip())
print("\n== whole engine restart"); print(open(f"{out}/restart.txt").read().rstrip())
print("\n== journal durability modes"); print(open(f"{out}/journal-modes.txt").read().rstrip())
PY

peers_step
