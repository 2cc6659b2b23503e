//! `etcd_put_load`: the etcd peer of `scripts/measure.sh` — `clients` closed-loop
//! clients, each putting `value_size`-byte values one at a time for `seconds`, and one
//! line of results (puts/s, latency p50/p99) on stdout.
//!
//! Why it exists: Debian ships etcd (`etcd-server`, `etcd-client`) but not etcd's own
//! `benchmark` tool, which is built from etcd's source tree with Go. This client speaks
//! etcd's JSON gateway (`POST /v3/kv/put`, keys and values base64), which etcd serves
//! on its client port beside gRPC, over one kept-alive HTTP/1.1 connection per client;
//! only `std` and `hdrhistogram`. What that costs etcd: the gateway decodes the JSON
//! and calls its own gRPC server in-process before the put goes through Raft, so each
//! put carries a little more CPU than a gRPC client's would; the durability path (the
//! leader's WAL fsync, the followers' WAL fsyncs, a majority of acknowledgements) is
//! the same.
//!
//! A put counts once etcd answered `200` with a revision (the put is committed by a
//! majority and applied); anything else is counted as an error and printed once, and a
//! run with errors exits 1. Clients are spread over the endpoints round-robin, as
//! etcd's `benchmark` does; keys are `key-<client>-<n mod keys>`.
//!
//!     etcd_put_load --endpoints 127.0.0.1:23791,127.0.0.1:23792 --clients 64 \
//!         --seconds 10 --value-size 256
//!
//! Output: `puts=N seconds=S puts_per_s=R p50_us=A p99_us=B max_us=C errors=E`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Largest response head or body read, bytes: an answer bigger than this is not a put's.
const RESPONSE_BYTES_MAX: usize = 64 << 10;

struct Args {
    endpoints: Vec<SocketAddr>,
    clients: usize,
    seconds: f64,
    value_size: usize,
    keys: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: etcd_put_load --endpoints HOST:PORT[,HOST:PORT...] [--clients 64] [--seconds 10] [--value-size 256] [--keys 100000]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        endpoints: Vec::new(),
        clients: 64,
        seconds: 10.0,
        value_size: 256,
        keys: 100_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let bad = |what: &str| -> ! {
            eprintln!("etcd_put_load: {flag} {value}: {what}");
            std::process::exit(2)
        };
        match flag.as_str() {
            "--endpoints" => {
                for e in value.split(',') {
                    match e.parse() {
                        Ok(addr) => a.endpoints.push(addr),
                        Err(_) => bad("expected IP:PORT[,IP:PORT...]"),
                    }
                }
            }
            "--clients" => {
                a.clients = value
                    .parse()
                    .ok()
                    .filter(|&n| (1..=4096).contains(&n))
                    .unwrap_or_else(|| bad("expected 1..=4096"))
            }
            "--seconds" => {
                a.seconds = value
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s <= 3600.0)
                    .unwrap_or_else(|| bad("expected 0 < seconds <= 3600"))
            }
            "--value-size" => {
                a.value_size = value
                    .parse()
                    .ok()
                    .filter(|&n| (1..=1 << 20).contains(&n))
                    .unwrap_or_else(|| bad("expected 1..=1048576"))
            }
            "--keys" => {
                a.keys = value
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .unwrap_or_else(|| bad("expected at least 1"))
            }
            _ => usage(),
        }
    }
    if a.endpoints.is_empty() {
        usage();
    }
    a
}

/// Standard base64 with padding (RFC 4648), as etcd's gateway expects bytes fields.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One kept-alive HTTP/1.1 connection to one etcd member.
struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn {
            addr,
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one put and reads its answer; `Err` holds why it did not succeed.
    fn put(&mut self, body: &str) -> Result<(), String> {
        let request = format!(
            "POST /v3/kv/put HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.writer
            .write_all(request.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let (status, answer) = self.read_response()?;
        if status != 200 || !answer.contains("\"revision\"") {
            return Err(format!("HTTP {status}: {}", answer.trim()));
        }
        Ok(())
    }

    /// The status and body of one response (`Content-Length` or chunked).
    fn read_response(&mut self) -> Result<(u16, String), String> {
        let mut line = String::new();
        let read_line = |line: &mut String, r: &mut BufReader<TcpStream>| {
            line.clear();
            match r.read_line(line) {
                Ok(0) => Err("the member closed the connection".to_string()),
                Ok(n) if n > RESPONSE_BYTES_MAX => Err("an oversized header line".to_string()),
                Ok(_) => Ok(()),
                Err(e) => Err(format!("receive: {e}")),
            }
        };
        read_line(&mut line, &mut self.reader)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            read_line(&mut line, &mut self.reader)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                read_line(&mut line, &mut self.reader)?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    read_line(&mut line, &mut self.reader)?;
                    break;
                }
                if body.len() + size > RESPONSE_BYTES_MAX {
                    return Err("an oversized answer".to_string());
                }
                let start = body.len();
                body.resize(start + size + 2, 0);
                self.reader
                    .read_exact(&mut body[start..])
                    .map_err(|e| format!("receive: {e}"))?;
                body.truncate(start + size);
            }
        } else {
            let n = length.ok_or("an answer with neither Content-Length nor chunks")?;
            if n > RESPONSE_BYTES_MAX {
                return Err("an oversized answer".to_string());
            }
            body.resize(n, 0);
            self.reader
                .read_exact(&mut body)
                .map_err(|e| format!("receive: {e}"))?;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// What one client measured.
struct ClientResult {
    hist: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

fn client(
    index: usize,
    args: &Args,
    start: &Barrier,
    stop: &AtomicBool,
) -> Result<ClientResult, String> {
    let addr = args.endpoints[index % args.endpoints.len()];
    let opened = Conn::open(addr);
    // Every client reaches the barrier, connected or not, so nobody waits forever.
    start.wait();
    let mut conn = opened.map_err(|e| format!("client {index}: connect {addr}: {e}"))?;
    let value = base64(&vec![b'v'; args.value_size]);
    // 1 µs to 60 s, three significant digits.
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut errors = 0;
    let mut first_error = None;
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = base64(format!("key-{index}-{}", n % args.keys).as_bytes());
        let body = format!("{{\"key\":\"{key}\",\"value\":\"{value}\"}}");
        let t = Instant::now();
        match conn.put(&body) {
            Ok(()) => {
                let us = t.elapsed().as_micros() as u64;
                hist.saturating_record(us.max(1));
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(format!("client {index} ({addr}): {e}"));
                // A broken connection is opened again; a refused put just counts.
                if let Ok(c) = Conn::open(addr) {
                    conn = c;
                }
            }
        }
        n += 1;
    }
    Ok(ClientResult {
        hist,
        errors,
        first_error,
    })
}

fn main() -> ExitCode {
    let args = Arc::new(parse_args());
    let start = Arc::new(Barrier::new(args.clients + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::with_capacity(args.clients);
    for index in 0..args.clients {
        let (args, start, stop) = (args.clone(), start.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("put-{index}"))
            .stack_size(256 << 10)
            .spawn(move || client(index, &args, &start, &stop));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                eprintln!("etcd_put_load: cannot start client {index}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let began = Instant::now();
    start.wait();
    let setup = began.elapsed();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut errors = 0;
    let mut first_error = None;
    for t in threads {
        match t.join() {
            Ok(Ok(r)) => {
                total.add(&r.hist).expect("same bounds");
                errors += r.errors;
                if first_error.is_none() {
                    first_error = r.first_error;
                }
            }
            Ok(Err(e)) => {
                eprintln!("etcd_put_load: {e}");
                return ExitCode::from(1);
            }
            Err(_) => {
                eprintln!("etcd_put_load: a client panicked");
                return ExitCode::from(1);
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let puts = total.len();
    println!(
        "puts={puts} seconds={secs:.3} puts_per_s={:.1} p50_us={} p99_us={} max_us={} errors={errors} clients={} value_size={} setup_ms={}",
        puts as f64 / secs,
        total.value_at_quantile(0.50),
        total.value_at_quantile(0.99),
        total.max(),
        args.clients,
        args.value_size,
        setup.as_millis()
    );
    if let Some(e) = first_error {
        eprintln!("etcd_put_load: {errors} puts failed; the first: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
