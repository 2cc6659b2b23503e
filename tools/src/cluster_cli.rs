//! `boreal cluster ...`: the command line of the local cluster (the `boreal` binary's
//! side: arguments, exit codes, printing). What each command does is in
//! `boreal_netlog::cluster` and `boreal_tools::cluster`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use boreal_netlog::cluster::{self, ClusterError, ClusterSpec};
use boreal_tools::cluster::{self as words, CmdError, load::LoadOptions};
use clap::Subcommand;

/// Exit code when the command failed (a node did not start or stop, a check failed).
const EXIT_FAILED: u8 = 1;
/// Exit code when there is no cluster, or the arguments make none.
const EXIT_NO_CLUSTER: u8 = 2;

/// `--slow-node ID:MS`: a node id and the milliseconds it holds acknowledgements back.
fn parse_slow_node(s: &str) -> Result<(u32, u64), String> {
    let (id, ms) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected ID:MS, as 6:5 (node 6, 5 ms)"))?;
    let id = id
        .parse()
        .map_err(|_| format!("{id:?}: a node id (a number from 1)"))?;
    let ms = ms
        .parse()
        .map_err(|_| format!("{ms:?}: milliseconds (a whole number)"))?;
    Ok((id, ms))
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a local cluster in DIR and return once every node answers.
    ///
    /// Writes each node's configuration (DIR/nodeN/node.toml), starts the nodes
    /// (boreal-node, found beside this program or in $PATH, or --node-bin), waits until
    /// each answers Hello (at most --start-timeout), then writes DIR/cluster.toml and
    /// prints the nodes. Ports: node k (from 0) takes --cores + 1 ports from
    /// base-port + k × (cores + 1), one per core, then its metrics port.
    ///
    /// A DIR whose nodes already run is refused. A node that does not start is
    /// reported with the reason and the last lines of its log, and every node already
    /// started is stopped: nothing is left running. An existing DIR is started again on
    /// its data (the nodes keep their ids, core counts and journal sizes).
    ///
    /// Exit codes: 0 the cluster is up; 1 a node did not start (nothing left running);
    /// 2 the arguments describe no cluster that can run, or DIR already runs one.
    #[command(verbatim_doc_comment)]
    Up {
        /// The cluster's directory (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Storage nodes (at least 6; node n is in AZ az((n-1) mod 3 + 1)).
        #[arg(long, default_value_t = 6)]
        nodes: u32,
        /// First port on 127.0.0.1; 0 finds a free range.
        #[arg(long, value_name = "PORT", default_value_t = 7400)]
        base_port: u16,
        /// Cores per node (each its own journal, port and thread).
        #[arg(long, default_value_t = 1)]
        cores: u16,
        /// The boreal-node binary.
        #[arg(long, value_name = "FILE")]
        node_bin: Option<PathBuf>,
        /// Microseconds a node core polls before it sleeps (0: never; keep 0 when the
        /// nodes share few CPUs).
        #[arg(long, value_name = "US", default_value_t = cluster::PARK_SPIN_US_DEFAULT)]
        park_spin_us: u64,
        /// Size of each of a node core's 4 journal files, MiB (written when a node is
        /// created).
        #[arg(long, value_name = "MIB", default_value_t = 16)]
        journal_file_mib: u64,
        /// Unmaterialized redo per node core before appends wait, MiB (at most a
        /// quarter of the journal).
        #[arg(long, value_name = "MIB", default_value_t = 16)]
        backlog_mib: u64,
        /// Page cache per node core, MiB (default: room for every page of the
        /// segments the core holds, 16 to 1,024 MiB: a coalescer pass that finds a
        /// page missing reads it back from disk).
        #[arg(long, value_name = "MIB")]
        page_cache_mib: Option<u64>,
        /// The volume's page size, bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 8192)]
        page_size: u32,
        /// The volume's pages per protection group.
        #[arg(long, value_name = "N", default_value_t = 256)]
        pages_per_pg: u64,
        /// The volume's protection groups.
        #[arg(long, value_name = "N", default_value_t = 6)]
        pgs: u32,
        /// The volume's LSN allocation limit.
        #[arg(long, value_name = "LSNS", default_value_t = 1_000_000)]
        lal: u64,
        /// Seconds to wait for every node to answer.
        #[arg(long, value_name = "S", default_value_t = 60)]
        start_timeout: u64,
        /// Make node ID slow on purpose: it holds each acknowledgement back MS
        /// milliseconds after the append is durable (its ack_delay_us), to see what one
        /// slow member costs a commit (boreal-bench's boreal-cluster jobs report it).
        #[arg(long, value_name = "ID:MS", value_parser = parse_slow_node)]
        slow_node: Option<(u32, u64)>,
    },
    /// Show each node of the cluster in DIR: running or not, answering, and per
    /// segment its epoch, SCL, materialized LSN, min read point, backlog and holes.
    ///
    /// Read-only; each request waits at most a second, so a stopped or unreachable
    /// node is reported, not waited for.
    ///
    /// Exit codes: 0 every node is up; 1 some node is down or not answering; 2 DIR
    /// holds no cluster.
    #[command(verbatim_doc_comment)]
    Status {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a shim on the cluster in DIR and commit mini-transactions from many clients.
    ///
    /// Opens the volume (volume recovery: a new epoch fences any older shim; the report
    /// and how long it took are printed), then each of --clients tasks commits
    /// mini-transactions one after another, each writing --records slots of its own
    /// (32 bytes each, in different PGs) with increasing sequence numbers; --readers
    /// tasks read slots back and check them against what was acknowledged. Prints a
    /// progress line every --interval-ms, then commits/s and latencies.
    ///
    /// With --acked FILE, every acknowledged commit (its CPL LSN, and each page, offset
    /// and bytes it wrote) is appended to FILE before it is counted, so after a crash
    /// `boreal cluster check --acked FILE` can verify them all. Each load appends a new
    /// run to FILE; one load at a time per FILE.
    ///
    /// Exit codes: 0 the load ran and nothing went wrong; 1 a client's write failed or a
    /// read showed what it must not; 2 no cluster, the volume could not be opened, or
    /// the workload does not fit the volume.
    #[command(verbatim_doc_comment)]
    Load {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// How long to run.
        #[arg(long, value_name = "S", default_value_t = 10.0)]
        seconds: f64,
        /// Concurrent clients, each with one mini-transaction in flight.
        #[arg(long, value_name = "N", default_value_t = 8)]
        clients: u32,
        /// Records (slots written) per mini-transaction.
        #[arg(long, value_name = "N", default_value_t = 4)]
        records: u32,
        /// Slots each client owns.
        #[arg(long, value_name = "N", default_value_t = 16)]
        slots_per_client: u32,
        /// Concurrent readers (GetPage at the VDL through the shim).
        #[arg(long, value_name = "N", default_value_t = 0)]
        readers: u32,
        /// Append every acknowledged commit to FILE.
        #[arg(long, value_name = "FILE")]
        acked: Option<PathBuf>,
        /// Milliseconds between progress lines.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        interval_ms: u64,
    },
    /// Open the volume of the cluster in DIR (volume recovery) and verify that every
    /// commit FILE records (from `boreal cluster load --acked FILE`) is readable.
    ///
    /// Prints what volume recovery found (epoch, VCL, VDL, the truncated range,
    /// unreachable nodes) and how long it took; then reads every slot FILE names. Each
    /// must show its last acknowledged value, or the value of a later commit its client
    /// made but had not recorded yet when it died (at most one per client); never an
    /// older value, and never a mini-transaction in part.
    ///
    /// Exit codes: 0 every acknowledged commit is readable; 1 a violation (each is
    /// printed); 2 no cluster, FILE unreadable, or the volume could not be opened.
    #[command(verbatim_doc_comment)]
    Check {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_name = "FILE")]
        acked: PathBuf,
    },
    /// Stop every node of the cluster in DIR: SIGTERM, then SIGKILL after --timeout.
    ///
    /// A node stops cleanly on SIGTERM (what it acknowledged is durable). Then it
    /// checks that no boreal-node of DIR is left, and says how each node stopped.
    ///
    /// Exit codes: 0 no node of DIR is running; 1 a node is still running after
    /// SIGKILL; 2 DIR holds no cluster.
    #[command(verbatim_doc_comment)]
    Down {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Seconds to wait after SIGTERM before SIGKILL.
        #[arg(long, value_name = "S", default_value_t = 10)]
        timeout: u64,
    },
}

pub fn run(command: ClusterCommand) -> ExitCode {
    match command {
        ClusterCommand::Up {
            dir,
            nodes,
            base_port,
            cores,
            node_bin,
            park_spin_us,
            journal_file_mib,
            backlog_mib,
            page_cache_mib,
            page_size,
            pages_per_pg,
            pgs,
            lal,
            start_timeout,
            slow_node,
        } => {
            let mut spec = ClusterSpec::new(dir);
            spec.nodes = nodes;
            spec.base_port = base_port;
            spec.cores_per_node = cores;
            spec.node_bin = node_bin;
            spec.park_spin_us = park_spin_us;
            spec.journal_file_mib = journal_file_mib;
            spec.backlog_mib = backlog_mib;
            spec.page_cache_mib = page_cache_mib;
            spec.volume.page_size = page_size;
            spec.volume.pages_per_pg = pages_per_pg;
            spec.volume.pgs = pgs;
            spec.volume.lal = lal;
            spec.start_timeout = Duration::from_secs(start_timeout);
            spec.slow_node = slow_node.map(|(id, ms)| (id, ms.saturating_mul(1000)));
            match cluster::up(&spec) {
                Ok(f) => print_or_fail("up", |out| words::write_up(out, &f)),
                Err(e) => fail("up", &e),
            }
        }
        ClusterCommand::Status { dir, json } => match cluster::status(&dir) {
            Ok(s) => {
                let printed = if json {
                    print_or_fail("status", |out| {
                        serde_json::to_writer_pretty(&mut *out, &s)?;
                        writeln!(out)
                    })
                } else {
                    print_or_fail("status", |out| words::write_status(out, &s))
                };
                if printed != ExitCode::SUCCESS || s.nodes_up() == s.nodes.len() {
                    printed
                } else {
                    ExitCode::from(EXIT_FAILED)
                }
            }
            Err(e) => fail("status", &e),
        },
        ClusterCommand::Load {
            dir,
            seconds,
            clients,
            records,
            slots_per_client,
            readers,
            acked,
            interval_ms,
        } => {
            let opts = LoadOptions {
                dir,
                seconds,
                clients,
                slots_per_client,
                records,
                readers,
                acked,
                interval: Duration::from_millis(interval_ms.max(1)),
            };
            let mut out = std::io::stdout().lock();
            match words::load::run(&opts, &mut out) {
                Ok(s) if s.clean() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(EXIT_FAILED),
                Err(e) => cmd_fail("load", &e),
            }
        }
        ClusterCommand::Check { dir, acked } => {
            let mut out = std::io::stdout().lock();
            match words::check::run(&dir, &acked, &mut out) {
                Ok(r) if r.violations.is_empty() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(EXIT_FAILED),
                Err(e) => cmd_fail("check", &e),
            }
        }
        ClusterCommand::Down { dir, timeout } => {
            match cluster::down(&dir, Duration::from_secs(timeout)) {
                Ok(r) => print_or_fail("down", |out| words::write_down(out, &r)),
                Err(e) => fail("down", &e),
            }
        }
    }
}

use std::io::Write;

/// Writes to stdout; a write error is a failure (exit 1).
fn print_or_fail(
    what: &str,
    f: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`boreal cluster status | head`): not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boreal cluster {what}: writing the answer: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Prints the error once and picks the exit code.
fn fail(what: &str, e: &ClusterError) -> ExitCode {
    eprintln!("boreal cluster {what}: {e}");
    ExitCode::from(match e {
        ClusterError::Spec(_)
        | ClusterError::Running { .. }
        | ClusterError::NoCluster { .. }
        | ClusterError::ClusterFile { .. }
        | ClusterError::NoSuchNode { .. } => EXIT_NO_CLUSTER,
        _ => EXIT_FAILED,
    })
}

/// Prints a load or check error once; exit 2 unless the output failed.
fn cmd_fail(what: &str, e: &CmdError) -> ExitCode {
    eprintln!("boreal cluster {what}: {e}");
    ExitCode::from(match e {
        CmdError::Output(_) => EXIT_FAILED,
        _ => EXIT_NO_CLUSTER,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_slow_node;

    #[test]
    fn slow_node_is_an_id_and_milliseconds() {
        assert_eq!(parse_slow_node("6:5"), Ok((6, 5)));
        for bad in ["6", "x:5", "6:fast", "6:-1"] {
            let e = parse_slow_node(bad).unwrap_err();
            assert!(e.contains('"'), "{bad}: {e}");
        }
    }
}
