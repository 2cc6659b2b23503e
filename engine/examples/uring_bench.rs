//! `uring_bench`: measures UringIo on one pinned core, for comparison with fio's
//! io_uring engine on the same file.
//!
//! ```text
//! uring_bench --file PATH --mode write-fdatasync|randread [--bs 4096] [--depth 1]
//!             [--ops N | --seconds S] [--size BYTES] [--cpu N] [--linked] [--no-prewrite]
//!             [--park-spin-us N]
//! ```
//!
//! It first writes the whole file (`--size`, default 64 MiB) with O_DIRECT and
//! fdatasyncs it, so no measured write lands on a fresh or sparse block. Then `--depth`
//! tasks each loop one operation at a time: `write-fdatasync` writes `--bs` bytes
//! sequentially (each task its own stripe) and fdatasyncs (two ring operations, as fio
//! with `fdatasync=1`; `--linked` chains them with IOSQE_IO_LINK instead),
//! `randread` reads `--bs` bytes at a random aligned offset. Latency per operation goes
//! to an HdrHistogram; the tool prints one line: ops/s, p50/p99/max in µs, the number
//! of io_uring_enter calls per operation, and the ring flags. `--park-spin-us` sets the
//! runtime's `park_spin` (default 50 µs; 0 sleeps at once, as fio does).
//!
//! Must never: allocate per operation (each task reuses one buffer); run without a
//! bound (`--ops` or `--seconds`, default 10,000 ops).

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use boreal_engine::io::{Clock, DmaBuf, Instant, Io, OpenOptions, WriteFlags};
use boreal_engine::rt::{self, Runtime, RuntimeConfig, SplitMix64};
use boreal_engine::uring::{UringFile, UringIo};
use hdrhistogram::Histogram;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    WriteFdatasync,
    RandRead,
}

#[derive(Debug)]
struct Args {
    file: PathBuf,
    mode: Mode,
    bs: usize,
    depth: usize,
    ops: Option<u64>,
    seconds: Option<f64>,
    size: u64,
    cpu: usize,
    linked: bool,
    prewrite: bool,
    /// The runtime's `park_spin`.
    park_spin: std::time::Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: uring_bench --file PATH --mode write-fdatasync|randread [--bs 4096] [--depth 1] \
         [--ops N | --seconds S] [--size BYTES] [--cpu N] [--linked] [--no-prewrite]\n\
         [--park-spin-us N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        file: PathBuf::new(),
        mode: Mode::RandRead,
        bs: 4096,
        depth: 1,
        ops: None,
        seconds: None,
        size: 64 << 20,
        cpu: 0,
        linked: false,
        prewrite: true,
        park_spin: RuntimeConfig::default().park_spin,
    };
    let mut file = None;
    let mut mode = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--file" => file = Some(PathBuf::from(val())),
            "--mode" => {
                mode = Some(match val().as_str() {
                    "write-fdatasync" => Mode::WriteFdatasync,
                    "randread" => Mode::RandRead,
                    _ => usage(),
                })
            }
            "--bs" => a.bs = val().parse().unwrap_or_else(|_| usage()),
            "--depth" => a.depth = val().parse().unwrap_or_else(|_| usage()),
            "--ops" => a.ops = Some(val().parse().unwrap_or_else(|_| usage())),
            "--seconds" => a.seconds = Some(val().parse().unwrap_or_else(|_| usage())),
            "--size" => a.size = val().parse().unwrap_or_else(|_| usage()),
            "--cpu" => a.cpu = val().parse().unwrap_or_else(|_| usage()),
            "--linked" => a.linked = true,
            "--no-prewrite" => a.prewrite = false,
            "--park-spin-us" => {
                a.park_spin =
                    std::time::Duration::from_micros(val().parse().unwrap_or_else(|_| usage()))
            }
            _ => usage(),
        }
    }
    a.file = file.unwrap_or_else(|| usage());
    a.mode = mode.unwrap_or_else(|| usage());
    if a.bs == 0 || !a.bs.is_multiple_of(512) || a.depth == 0 || a.size < (a.bs * a.depth) as u64 {
        usage();
    }
    if a.ops.is_none() && a.seconds.is_none() {
        a.ops = Some(10_000);
    }
    a
}

/// Shared stop condition: an op budget or a deadline.
struct Budget {
    ops_left: Cell<u64>,
    deadline: Option<Instant>,
}

impl Budget {
    fn take(&self, now: Instant) -> bool {
        if self.deadline.is_some_and(|d| now >= d) {
            return false;
        }
        let left = self.ops_left.get();
        if left == 0 {
            return false;
        }
        self.ops_left.set(left - 1);
        true
    }
}

async fn prewrite(io: &UringIo, file: &UringFile, size: u64) {
    const CHUNK: usize = 1 << 20;
    let mut buf = DmaBuf::zeroed(CHUNK);
    buf.as_full_mut()
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i % 251) as u8);
    let mut off = 0u64;
    while off < size {
        let len = CHUNK.min((size - off) as usize);
        buf.set_len(len);
        let (r, b) = io.write_at(file, buf, off, WriteFlags::NONE).await;
        assert_eq!(r.expect("prewrite"), len, "short prewrite");
        buf = b;
        off += len as u64;
    }
    io.fdatasync(file).await.expect("prewrite fdatasync");
}

async fn worker(
    io: UringIo,
    file: Rc<UringFile>,
    args: Rc<Args>,
    task: usize,
    budget: Rc<Budget>,
) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut buf = DmaBuf::zeroed(args.bs);
    buf.as_full_mut().fill(0xA5);
    let blocks = args.size / args.bs as u64;
    let stripe = blocks / args.depth as u64;
    let mut rng = SplitMix64::new(0xB0EA_1000 + task as u64);
    let mut seq = 0u64;
    loop {
        let start = io.now();
        if !budget.take(start) {
            break;
        }
        match args.mode {
            Mode::RandRead => {
                let off = rng.below(blocks) * args.bs as u64;
                let (r, b) = io.read_at(&file, buf, args.bs, off).await;
                assert_eq!(r.expect("read"), args.bs, "short read");
                buf = b;
            }
            Mode::WriteFdatasync => {
                let off = (task as u64 * stripe + seq % stripe) * args.bs as u64;
                seq += 1;
                buf.set_len(args.bs);
                if args.linked {
                    let (r, b) = io.write_then_fdatasync(&file, buf, off).await;
                    r.expect("write+fdatasync");
                    buf = b;
                } else {
                    let (r, b) = io.write_at(&file, buf, off, WriteFlags::NONE).await;
                    assert_eq!(r.expect("write"), args.bs, "short write");
                    buf = b;
                    io.fdatasync(&file).await.expect("fdatasync");
                }
            }
        }
        let ns = io.now().saturating_duration_since(start).as_nanos() as u64;
        hist.saturating_record(ns.max(1));
    }
    hist
}

fn main() {
    let args = Rc::new(parse_args());
    let rt = Runtime::new(RuntimeConfig {
        cpu: Some(args.cpu),
        park_spin: args.park_spin,
        ..RuntimeConfig::default()
    })
    .unwrap_or_else(|e| {
        eprintln!("uring_bench: runtime: {e}");
        std::process::exit(1)
    });
    let io = rt.io().clone();
    let line = rt.block_on(async move {
        let opts = OpenOptions { read: true, write: true, create: true, direct: true, ..OpenOptions::default() };
        let file = io.open(&args.file, opts).await.unwrap_or_else(|e| {
            eprintln!("uring_bench: open {}: {e}", args.file.display());
            std::process::exit(1)
        });
        if args.prewrite {
            prewrite(&io, &file, args.size).await;
        }
        let file = Rc::new(file);
        let start = io.now();
        let budget = Rc::new(Budget {
            ops_left: Cell::new(args.ops.unwrap_or(u64::MAX)),
            deadline: args.seconds.map(|s| start.saturating_add(Duration::from_secs_f64(s))),
        });
        let enters_before = io.stats().enters;
        let handles: Vec<_> = (0..args.depth)
            .map(|t| rt::spawn(worker(io.clone(), file.clone(), args.clone(), t, budget.clone())))
            .collect();
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
        for h in handles {
            hist.add(h.await.expect("worker")).expect("histogram merge");
        }
        let secs = io.now().saturating_duration_since(start).as_secs_f64();
        let ops = hist.len();
        let enters = io.stats().enters - enters_before;
        format!(
            "mode={} bs={} depth={} linked={} ops={} secs={:.3} ops_per_s={:.0} p50_us={:.1} p99_us={:.1} max_us={:.1} enters_per_op={:.2} ring={}",
            match args.mode {
                Mode::WriteFdatasync => "write-fdatasync",
                Mode::RandRead => "randread",
            },
            args.bs,
            args.depth,
            args.linked,
            ops,
            secs,
            ops as f64 / secs,
            hist.value_at_quantile(0.50) as f64 / 1000.0,
            hist.value_at_quantile(0.99) as f64 / 1000.0,
            hist.max() as f64 / 1000.0,
            enters as f64 / ops.max(1) as f64,
            io.ring_info().setup_flags(),
        )
    });
    println!("{line}");
}
