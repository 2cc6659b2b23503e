#!/usr/bin/env bash
# Re-measures the device facts in NVMe-NOTES.md with fio, on a scratch directory.
#   scripts/nvme-notes.sh [DIR]    (default DIR: ./target/nvme-notes; needs ~3 GiB)
# Each job runs 10 s after `sync` and after Dirty in /proc/meminfo drains below 20 MB:
# dirty page-cache writeback makes durable writes far slower and the numbers meaningless.
set -euo pipefail
D=${1:-target/nvme-notes}
mkdir -p "$D"
command -v fio >/dev/null || { echo "fio is not installed: apt-get install -y fio" >&2; exit 2; }

quiet() {
  sync
  for _ in $(seq 120); do
    d=$(awk '/^Dirty:/{print $2}' /proc/meminfo)
    [ "$d" -lt 20000 ] && return
    sleep 1
  done
  echo "warning: Dirty still ${d} kB after 120 s" >&2
}

rm -f "$D/pre" "$D/fresh" "$D/sparse"
fio --name=prep --filename="$D/pre" --size=1g --bs=1m --rw=write --direct=1 \
    --ioengine=libaio --iodepth=8 --end_fsync=1 --output=/dev/null
common="--ioengine=io_uring --direct=1 --runtime=10 --time_based --output-format=json --size=1g"
run() { local name=$1 file=$2; shift 2; quiet; fio $common --name="$name" --filename="$D/$file" "$@" --output="$D/$name.json"; }

run w4k_fdsync_pre    pre    --bs=4k   --rw=write     --iodepth=1 --fdatasync=1
fallocate -l 1g "$D/fresh"
run w4k_fdsync_falloc fresh  --bs=4k   --rw=write     --iodepth=1 --fdatasync=1
truncate -s 1g "$D/sparse"
run w4k_fdsync_sparse sparse --bs=4k   --rw=write     --iodepth=1 --fdatasync=1
run w4k_dsync_pre     pre    --bs=4k   --rw=write     --iodepth=1 --sync=dsync
run w512_fdsync_pre   pre    --bs=512  --rw=write     --iodepth=1 --fdatasync=1
run w64k_fdsync_pre   pre    --bs=64k  --rw=write     --iodepth=1 --fdatasync=1
run w4k_nosync_qd1    pre    --bs=4k   --rw=write     --iodepth=1
run w4k_qd32          pre    --bs=4k   --rw=randwrite --iodepth=32
run r4k_qd1           pre    --bs=4k   --rw=randread  --iodepth=1
run r4k_qd32          pre    --bs=4k   --rw=randread  --iodepth=32
run w128k_qd32        pre    --bs=128k --rw=write     --iodepth=32

echo "== misaligned O_DIRECT (256-byte block):"
fio --ioengine=psync --direct=1 --name=mis256 --filename="$D/pre" --size=1m --bs=256 \
    --rw=write --output=/dev/null 2>&1 | grep -m1 error || true
echo "== IOPOLL (hipri) read:"
fio --ioengine=io_uring --hipri=1 --direct=1 --name=iopoll --filename="$D/pre" --size=16m \
    --bs=4k --rw=randread --runtime=2 --time_based --output=/dev/null 2>&1 | grep -m1 error || true

python3 - "$D" <<'PY'
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    j = json.loads(f.read_text())["jobs"][0]
    cols = [f.stem.ljust(18)]
    for d in ("read", "write"):
        x = j[d]
        if x["total_ios"]:
            p = x["clat_ns"]["percentile"]
            cols.append(f"{d} {x['iops']:8.0f} IOPS {x['bw_bytes']/1e6:7.1f} MB/s "
                        f"clat p50 {p['50.000000']/1e3:6.1f} p99 {p['99.000000']/1e3:7.1f} us")
    s = j.get("sync", {}).get("lat_ns", {})
    if s.get("N"):
        p = s["percentile"]
        cols.append(f"fdatasync p50 {p['50.000000']/1e3:6.1f} p99 {p['99.000000']/1e3:6.1f} us")
    print(" | ".join(cols))
PY
