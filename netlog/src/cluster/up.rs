//! Starting nodes: [`up`] (a whole cluster) and [`restart_node`] (one node of a cluster
//! whose process is gone, on its existing data).
//!
//! Each node gets its configuration file, its log (stdout and stderr, appended), its
//! data directory, and runs as `boreal-node --config DIR/nodeN/node.toml --data-dir
//! DIR/nodeN` (the data directory on the command line is how `procs` recognises it).
//! Then every node is asked `Hello` until it answers as itself, within the spec's
//! start timeout. A node that exits, times out or answers as another node fails the
//! start: every process started is stopped (SIGTERM, then SIGKILL) and reaped, and the
//! error gives each failed node's reason and the last lines of its log.
//!
//! Once started, each child process is handed to a thread that waits for it, so a
//! long-lived caller (boreal-bench) leaves no zombie when a node exits; a short-lived
//! one (`boreal cluster up`) exits and the nodes are adopted by init.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boreal_segment::NodeId;
use rustix::process::Signal;

use super::file::{CLUSTER_FILE_FORMAT, ClusterFile, NodeEntry};
use super::procs::{self, LOG_TAIL_LINES};
use super::spec::{ClusterSpec, NodePlan, free_base_port};
use super::{ClusterError, NodeFailure};
use crate::client::Client;
use crate::node::NodeConfig;
use crate::node::process::IDENTITY_FILE;
use crate::proto::Role;

/// How long one `Hello` attempt waits to connect and for its answer.
const HELLO_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between two rounds of `Hello` to the nodes not yet ready.
const POLL_PAUSE: Duration = Duration::from_millis(50);
/// How long a failed start waits for its nodes to stop after SIGTERM, then SIGKILL.
const ABORT_TERM_WAIT: Duration = Duration::from_secs(3);

/// Starts the cluster `spec` describes and returns its `cluster.toml` once every node
/// answers. See the module docs.
pub fn up(spec: &ClusterSpec) -> Result<ClusterFile, ClusterError> {
    spec.validate()?;
    let node_bin = procs::find_node_bin(spec.node_bin.as_deref())?;
    std::fs::create_dir_all(&spec.dir).map_err(|source| ClusterError::Io {
        what: "create the cluster directory",
        path: spec.dir.clone(),
        source,
    })?;
    let dir = std::fs::canonicalize(&spec.dir).map_err(|source| ClusterError::Io {
        what: "resolve the cluster directory",
        path: spec.dir.clone(),
        source,
    })?;
    let running = procs::nodes_under(&dir);
    if !running.is_empty() {
        return Err(ClusterError::Running {
            dir,
            nodes: running,
        });
    }
    let spec = ClusterSpec {
        dir: dir.clone(),
        ..spec.clone()
    };
    let base = match spec.base_port {
        0 => free_base_port(spec.nodes * spec.ports_per_node())?,
        p => p,
    };
    let mut plans = spec.plan(base);
    for p in &mut plans {
        keep_created_journal(p);
        write_node_config(p)?;
    }
    let children = launch(&plans, &node_bin, spec.detach, spec.start_timeout)?;
    let file = ClusterFile {
        format: CLUSTER_FILE_FORMAT,
        dir,
        node_bin,
        cores_per_node: spec.cores_per_node,
        volume: spec.volume,
        nodes: plans
            .iter()
            .zip(&children)
            .map(|(p, c)| entry(p, c.id()))
            .collect(),
    };
    if let Err(e) = file.save() {
        abort(children);
        return Err(e);
    }
    reap_in_background(children);
    Ok(file)
}

/// Starts node `node_id` of the cluster in `dir` again, on its data and configuration,
/// when its process is gone (killed, crashed, stopped by `down`); records the new pid
/// in `cluster.toml`. Refused while it runs.
pub fn restart_node(dir: &Path, node_id: u32) -> Result<ClusterFile, ClusterError> {
    let mut file = ClusterFile::load(dir)?;
    let idx = file
        .nodes
        .iter()
        .position(|n| n.node_id == node_id)
        .ok_or_else(|| ClusterError::NoSuchNode {
            dir: dir.to_path_buf(),
            node_id,
        })?;
    let n = &file.nodes[idx];
    let running = procs::nodes_under(&n.data_dir);
    if !running.is_empty() {
        return Err(ClusterError::Running {
            dir: n.data_dir.clone(),
            nodes: running,
        });
    }
    let text = std::fs::read_to_string(&n.config).map_err(|source| ClusterError::Io {
        what: "read the node's configuration",
        path: n.config.clone(),
        source,
    })?;
    let config = NodeConfig::from_toml(&text).map_err(|why| ClusterError::ClusterFile {
        path: n.config.clone(),
        why,
    })?;
    let plan = NodePlan {
        node_id,
        dir: n.data_dir.clone(),
        ports: n.ports.clone(),
        config_path: n.config.clone(),
        log_path: n.log.clone(),
        config,
    };
    let children = launch(
        std::slice::from_ref(&plan),
        &file.node_bin,
        true,
        ClusterSpec::new(dir).start_timeout,
    )?;
    file.nodes[idx].pid = children[0].id();
    if let Err(e) = file.save() {
        abort(children);
        return Err(e);
    }
    reap_in_background(children);
    Ok(file)
}

fn entry(p: &NodePlan, pid: u32) -> NodeEntry {
    NodeEntry {
        node_id: p.node_id,
        az: p.config.az.clone(),
        addr: p.config.listen,
        ports: p.ports.clone(),
        metrics: p.config.metrics.expect("a cluster node serves metrics"),
        data_dir: p.dir.clone(),
        config: p.config_path.clone(),
        log: p.log_path.clone(),
        pid,
    }
}

/// A node that was created before (its data directory holds its identity) keeps the
/// journal it was created with: the journal's files are laid out at creation and a
/// node refuses a configuration whose sizes differ from them. So the plan takes the
/// journal section and the backlog bound (at most a quarter of the journal) from the
/// node's configuration on disk, if it reads; otherwise the plan stands and the node
/// says what is wrong.
fn keep_created_journal(p: &mut NodePlan) {
    if !p.dir.join(IDENTITY_FILE).exists() {
        return;
    }
    let Some(old) = std::fs::read_to_string(&p.config_path)
        .ok()
        .and_then(|t| NodeConfig::from_toml(&t).ok())
    else {
        return;
    };
    p.config.journal = old.journal;
    p.config.engine.backlog_mib = old.engine.backlog_mib;
}

fn write_node_config(p: &NodePlan) -> Result<(), ClusterError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClusterError::Io { what, path, source }
    };
    std::fs::create_dir_all(&p.dir).map_err(io("create the node's directory", &p.dir))?;
    let text = format!(
        "# Node {} of a local cluster, written by `boreal cluster up`.\n\
         # Every field is documented in boreal_netlog::node::NodeConfig.\n{}",
        p.node_id,
        p.config.to_toml()
    );
    std::fs::write(&p.config_path, text)
        .map_err(io("write the node's configuration", &p.config_path))
}

/// Spawns every planned node and waits until each answers `Hello` as itself. On any
/// failure every process started is stopped and the error names each failed node.
fn launch(
    plans: &[NodePlan],
    bin: &Path,
    detach: bool,
    timeout: Duration,
) -> Result<Vec<Child>, ClusterError> {
    let mut children: Vec<Child> = Vec::with_capacity(plans.len());
    // Where each node's log was when it started: its ready line comes after.
    let mut log_from: Vec<u64> = Vec::with_capacity(plans.len());
    for p in plans {
        match spawn(p, bin, detach) {
            Ok((c, from)) => {
                children.push(c);
                log_from.push(from);
            }
            Err(e) => {
                abort(children);
                return Err(e);
            }
        }
    }
    let deadline = Instant::now() + timeout;
    let mut ready = vec![false; plans.len()];
    let mut failures: Vec<NodeFailure> = Vec::new();
    while failures.is_empty() && ready.iter().any(|r| !r) {
        for (i, p) in plans.iter().enumerate() {
            if ready[i] {
                continue;
            }
            let fail = |why: String| NodeFailure {
                node_id: p.node_id,
                why,
                log: p.log_path.clone(),
                log_tail: procs::log_tail(&p.log_path, LOG_TAIL_LINES),
            };
            match children[i].try_wait() {
                Ok(Some(status)) => {
                    failures.push(fail(format!("exited ({status}) before it answered")));
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    failures.push(fail(format!("cannot be waited for: {e}")));
                    continue;
                }
            }
            let addr = p.config.listen;
            // The ready line comes once everything started, metrics included: a core
            // may answer Hello just before a later step fails.
            if !logged_ready(&p.log_path, log_from[i]) {
                if Instant::now() >= deadline {
                    failures.push(fail(format!(
                        "did not report ready (\"{READY_LINE}\" in its log) within {timeout:?}"
                    )));
                }
                continue;
            }
            match hello(addr) {
                Ok(id) if id == NodeId::new(p.node_id) => ready[i] = true,
                Ok(id) => failures.push(fail(format!(
                    "{addr} answers as node {id}, not node {}: another cluster uses these ports (give another --base-port)",
                    p.node_id
                ))),
                Err(_) if Instant::now() >= deadline => failures.push(fail(format!(
                    "did not answer Hello on {addr} within {timeout:?}"
                ))),
                Err(_) => {}
            }
        }
        if failures.is_empty() && ready.iter().any(|r| !r) {
            std::thread::sleep(POLL_PAUSE);
        }
    }
    if failures.is_empty() {
        return Ok(children);
    }
    // Others may have failed in the same moment: report every one that has exited.
    for (i, p) in plans.iter().enumerate() {
        if !ready[i]
            && !failures.iter().any(|f| f.node_id == p.node_id)
            && let Ok(Some(status)) = children[i].try_wait()
        {
            failures.push(NodeFailure {
                node_id: p.node_id,
                why: format!("exited ({status}) before it answered"),
                log: p.log_path.clone(),
                log_tail: procs::log_tail(&p.log_path, LOG_TAIL_LINES),
            });
        }
    }
    let dirs: Vec<PathBuf> = plans.iter().map(|p| p.dir.clone()).collect();
    let left = abort(children);
    Err(ClusterError::StartFailed {
        nodes: plans.len(),
        failures,
        left: left.into_iter().map(|i| (i.0, dirs[i.1].clone())).collect(),
    })
}

/// What `boreal-node` logs once it serves.
const READY_LINE: &str = "boreal-node ready:";

/// `log` holds the ready line after byte `from`.
fn logged_ready(log: &Path, from: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = std::fs::File::open(log)?;
        f.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        // Start-up logs a line per core and a few more: bounded.
        f.take(1 << 20).read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    read().is_ok_and(|b| String::from_utf8_lossy(&b).contains(READY_LINE))
}

/// Starts one node; returns it and the length of its log before it started.
fn spawn(p: &NodePlan, bin: &Path, detach: bool) -> Result<(Child, u64), ClusterError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClusterError::Io { what, path, source }
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p.log_path)
        .map_err(io("open the node's log", &p.log_path))?;
    let from = log
        .metadata()
        .map_err(io("read the node's log", &p.log_path))?
        .len();
    let log2 = log
        .try_clone()
        .map_err(io("open the node's log", &p.log_path))?;
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(&p.config_path)
        .arg("--data-dir")
        .arg(&p.dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    if detach {
        cmd.process_group(0);
    }
    let child = cmd.spawn().map_err(io("start boreal-node", bin))?;
    Ok((child, from))
}

/// Core 0's `Hello` answer: the node's id.
fn hello(addr: SocketAddr) -> Result<NodeId, crate::client::ClientError> {
    let mut c = Client::connect(addr, HELLO_TIMEOUT)?;
    c.set_timeout(Some(HELLO_TIMEOUT))?;
    Ok(c.hello(Role::Shim, NodeId::new(0))?.node_id)
}

/// Stops and reaps every child: SIGTERM (and SIGCONT, for one stopped by SIGSTOP),
/// then SIGKILL after [`ABORT_TERM_WAIT`]. Returns the (pid, index) of any that could
/// not be waited for.
fn abort(mut children: Vec<Child>) -> Vec<(u32, usize)> {
    for c in &children {
        let _ = procs::signal(c.id(), Signal::TERM);
        let _ = procs::signal(c.id(), Signal::CONT);
    }
    let deadline = Instant::now() + ABORT_TERM_WAIT;
    while Instant::now() < deadline
        && children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(None)))
    {
        std::thread::sleep(POLL_PAUSE);
    }
    let mut left = Vec::new();
    for (i, c) in children.iter_mut().enumerate() {
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
        }
        if c.wait().is_err() {
            left.push((c.id(), i));
        }
    }
    left
}

/// Hands each child to a thread that waits for it (no zombie in a long-lived caller).
fn reap_in_background(children: Vec<Child>) {
    for mut c in children {
        let _ = std::thread::Builder::new()
            .name(format!("reap-{}", c.id()))
            .spawn(move || {
                let _ = c.wait();
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_node_keeps_its_journal_and_a_new_one_takes_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = ClusterSpec::new(dir.path());
        spec.journal_file_mib = 16;
        spec.backlog_mib = 16;
        for p in &spec.plan(7400) {
            write_node_config(p).unwrap();
        }
        // Node 1 was created (its data directory holds its identity); node 2 never ran.
        let first = &spec.plan(7400)[0];
        std::fs::write(first.dir.join(IDENTITY_FILE), "node 1\n").unwrap();

        spec.journal_file_mib = 64;
        spec.backlog_mib = 64;
        let mut plans = spec.plan(7400);
        for p in &mut plans {
            keep_created_journal(p);
        }
        assert_eq!(plans[0].config.journal.file_mib, 16);
        assert_eq!(plans[0].config.engine.backlog_mib, 16);
        assert_eq!(plans[1].config.journal.file_mib, 64);
        assert_eq!(plans[1].config.engine.backlog_mib, 64);
        // Its other settings come from the spec as before.
        assert_eq!(plans[0].config.listen, spec.plan(7400)[0].config.listen);
    }
}
