#!/usr/bin/env bash
# Re-runs every measurement the issues ask for, each against its peer in the same run,
# and writes the raw outputs plus a summary to OUT (default target/measure).
#
#   scripts/measure.sh [OUT] [--quick] [--standard-only] [--runtimes]
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
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/measure
QUICK=
STANDARD_ONLY=
RUNTIMES=
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=--quick ;;
    --standard-only) STANDARD_ONLY=1 ;;
    --runtimes) RUNTIMES=1 ;;
    -*) echo "unknown flag $arg (flags: --quick --standard-only --runtimes)" >&2; exit 2 ;;
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
cargo build --release -q -p boreal-engine --examples
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
