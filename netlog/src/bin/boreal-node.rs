//! `boreal-node`: a boreal storage node. See `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use boreal_netlog::node::{NodeConfig, process};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A boreal storage node: `cores` pinned cores, each with its own journal, segments and
/// TCP port, serving shims (appends, GetPage@LSN, fence, truncate, read points) and
/// peers (fetch for gossip and repair) over boreal's wire protocol (netlog/PROTOCOL.md),
/// and gossiping with its `--peers` to fetch the records its segments miss.
///
/// Configuration comes from `--config FILE` (TOML; `--print-config` shows every field
/// with its value, and each field's meaning, default and limits are in the docs of
/// `boreal_netlog::node::NodeConfig`), and the flags below override the file. The node
/// logs one line to stderr when it serves ("boreal-node ready: ... ports ..."), stops
/// cleanly on SIGTERM or SIGINT (in-flight appends are acknowledged once durable or not
/// at all), and refuses a data directory another node holds.
///
/// Exit status: 0 after a clean stop; 1 when the node cannot start (bad configuration,
/// data directory locked or of another node, a core that cannot open its data; the
/// message says what to change); 2 for a usage error.
#[derive(Debug, Parser)]
#[command(name = "boreal-node", version, about, long_about)]
struct Args {
    /// The configuration file (TOML). Without it, every field takes its default.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Overrides `data_dir`: where the node keeps its data.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Overrides `listen`: IP and base port (core i listens on port + i; port 0 picks
    /// free ports).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Overrides `cores` (0: one per CPU this process may use).
    #[arg(long, value_name = "N")]
    cores: Option<u16>,
    /// Overrides `metrics`: serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Overrides `node_id`.
    #[arg(long, value_name = "ID")]
    node_id: Option<u32>,
    /// Overrides `az` (the availability-zone label).
    #[arg(long, value_name = "LABEL")]
    az: Option<String>,
    /// Overrides `cpus`: the CPUs to pin the cores to, comma-separated (core i on the
    /// i-th).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    cpus: Option<Vec<usize>>,
    /// Overrides `pin`: `--pin false` lets the kernel place the cores' threads.
    #[arg(long, value_name = "BOOL")]
    pin: Option<bool>,
    /// Overrides `peers`: the other storage nodes to gossip with, comma-separated, one
    /// address (IP:port of any of its cores) per node. Each core asks them for the
    /// records its segments miss (a hole, damage found at start-up, or a peer ahead)
    /// every `gossip_interval_ms`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    peers: Option<Vec<SocketAddr>>,
    /// Overrides `park_spin_us`.
    #[arg(long, value_name = "US")]
    park_spin_us: Option<u64>,
    /// Print the effective configuration (file and flags) as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn config(args: &Args) -> Result<NodeConfig> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the configuration {}", path.display()))?;
            NodeConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => NodeConfig::default(),
    };
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(c) = args.cores {
        cfg.cores = c;
    }
    if let Some(m) = args.metrics {
        cfg.metrics = Some(m);
    }
    if let Some(n) = args.node_id {
        cfg.node_id = n;
    }
    if let Some(a) = &args.az {
        cfg.az = a.clone();
    }
    if let Some(c) = &args.cpus {
        cfg.cpus = c.clone();
    }
    if let Some(p) = args.pin {
        cfg.pin = p;
    }
    if let Some(p) = &args.peers {
        cfg.peers = p.clone();
    }
    if let Some(s) = args.park_spin_us {
        cfg.park_spin_us = s;
    }
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(cfg)
}

fn run(args: Args) -> Result<()> {
    let cfg = config(&args)?;
    if args.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    // Registered before any core starts, so a signal during start-up is not lost.
    let mut signals =
        Signals::new([SIGTERM, SIGINT]).context("cannot install the SIGTERM/SIGINT handler")?;
    let running = process::start(cfg)?;
    for line in &running.open_reports {
        eprintln!("boreal-node: {line}");
    }
    eprintln!("{}", running.ready_line());
    let signal = signals.forever().next();
    eprintln!(
        "boreal-node: {} received, stopping",
        match signal {
            Some(SIGINT) => "SIGINT",
            _ => "SIGTERM",
        }
    );
    let left = running.stop();
    if left > 0 {
        eprintln!("boreal-node: {left} cores did not stop in time; exiting anyway");
    } else {
        eprintln!("boreal-node: stopped");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boreal-node: {e:#}");
            ExitCode::from(1)
        }
    }
}
