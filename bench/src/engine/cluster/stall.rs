//! The stall watchdog of a `boreal-cluster` job: a job whose commits stop (nodes hung
//! or gone so that no PG has four of six, a shim waiting for ever) fails once no I/O
//! completed for `boreal_stall_timeout`, instead of hanging until it is killed, and
//! says what the engine could see.
//!
//! The engine keeps one instant on its runtime's clock: when an I/O of the job last
//! completed, or when I/Os went in flight after none were. `getevents` waits with that
//! instant plus the limit as the runtime timer's deadline (the thread sleeps in
//! `io_uring_enter` with a timeout; it does not poll), and a deadline that passes with
//! nothing completed fails the job with [`BenchError::Stalled`](crate::BenchError):
//! how long nothing completed, how many I/Os were in flight, the shim's VDL and VCL,
//! and per node what can be seen from outside it ([`nodes_report`]): its process
//! state in `/proc`, and its metrics endpoint's counters, or that it did not answer
//! (then its counters from the start of the measurement, when they were read).
//!
//! A wake-up well after the deadline ([`WAKE_LATE_MAX`]) means this process did not
//! run meanwhile (stopped with SIGSTOP or Ctrl-Z, or starved): the answers may be
//! sitting unread, so the clock starts again instead of failing the job.
//!
//! Must never: fire while nothing is in flight (a rate-limited job waits between its
//! I/Os), or for time this process was not running; wait on the nodes longer than one
//! scrape timeout to write the report.

use std::time::Duration;

use boreal_engine::io::Instant;
use boreal_netlog::cluster::{NodeEntry, ProcState, procs};

use super::scrape::{NodeCounters, SCRAPE_TIMEOUT, scrape_all};

/// `boreal_stall_timeout` when the job does not give it.
pub const STALL_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Smallest `boreal_stall_timeout` other than 0 (off): a commit through six nodes can
/// take tens of ms on a loaded machine.
pub const STALL_TIMEOUT_MIN: Duration = Duration::from_millis(100);

/// A watchdog woken this long after its deadline was not running (the process was
/// stopped, with SIGSTOP or Ctrl-Z, or starved of CPU): it starts its clock again
/// rather than blame the cluster for the time it did not look.
pub const WAKE_LATE_MAX: Duration = Duration::from_secs(1);

/// Whether a wait for `deadline` that ended at `now` woke more than [`WAKE_LATE_MAX`]
/// late: the process did not run meanwhile, and the wait starts again from `now`.
pub fn woke_late(deadline: Instant, now: Instant) -> bool {
    now.saturating_duration_since(deadline) > WAKE_LATE_MAX
}

/// One line per node, joined by `; `: its state as this process sees it now (see the
/// module docs). `then` holds the counters read when the measurement started (empty
/// when they were not), node order. Waits at most one scrape timeout.
pub fn nodes_report(nodes: &[NodeEntry], then: &[Option<NodeCounters>]) -> String {
    let now = scrape_all(&nodes.iter().map(|n| Some(n.metrics)).collect::<Vec<_>>());
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            describe(
                n,
                procs::node_state(n.pid, &n.data_dir),
                now.get(i).cloned().flatten(),
                then.get(i).cloned().flatten(),
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn counters(c: &NodeCounters) -> String {
    format!(
        "{} device flushes, {} append frames, {} records",
        c.device_flushes, c.append_requests, c.records
    )
}

/// One node: `state` of its process, its counters `now` (`None`: its endpoint did not
/// answer) and when the measurement started.
fn describe(
    node: &NodeEntry,
    state: ProcState,
    now: Option<NodeCounters>,
    then: Option<NodeCounters>,
) -> String {
    let process = match state {
        ProcState::Running => "running",
        ProcState::Stopped => "stopped (SIGSTOP or traced: it answers nothing until SIGCONT)",
        ProcState::Zombie => "exited (not yet reaped)",
        ProcState::Gone => "not running",
    };
    let mut out = format!(
        "node {} ({}, pid {}): {process}",
        node.node_id, node.az, node.pid
    );
    match (now, then) {
        (Some(now), then) => {
            out.push_str(&format!(", metrics: {}", counters(&now)));
            if let Some(then) = then {
                let d = now.since(&then);
                out.push_str(&format!(
                    " (+{} flushes, +{} frames since the measurement started)",
                    d.device_flushes, d.append_requests
                ));
            }
        }
        (None, then) => {
            out.push_str(&format!(
                ", did not answer its metrics endpoint {} within {}s",
                node.metrics,
                SCRAPE_TIMEOUT.as_secs()
            ));
            if let Some(then) = then {
                out.push_str(&format!(
                    " (at the start of the measurement: {})",
                    counters(&then)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn node(id: u32) -> NodeEntry {
        NodeEntry {
            node_id: id,
            az: format!("az{}", id.div_ceil(2)),
            addr: "127.0.0.1:7000".parse().unwrap(),
            ports: vec![7000],
            metrics: "127.0.0.1:9000".parse().unwrap(),
            data_dir: PathBuf::from("/d/node1"),
            config: PathBuf::from("/d/node1/node.toml"),
            log: PathBuf::from("/d/node1/node.log"),
            pid: 42,
        }
    }

    fn c(flushes: u64, frames: u64) -> NodeCounters {
        NodeCounters {
            device_flushes: flushes,
            append_requests: frames,
            records: frames * 4,
            ..NodeCounters::default()
        }
    }

    #[test]
    fn a_node_that_answers_shows_its_counters_and_what_moved() {
        let text = describe(
            &node(2),
            ProcState::Running,
            Some(c(30, 90)),
            Some(c(10, 40)),
        );
        assert_eq!(
            text,
            "node 2 (az1, pid 42): running, metrics: 30 device flushes, 90 append frames, 360 records (+20 flushes, +50 frames since the measurement started)"
        );
    }

    #[test]
    fn a_node_that_does_not_answer_says_so_with_its_last_counters() {
        let text = describe(&node(3), ProcState::Stopped, None, Some(c(10, 40)));
        assert_eq!(
            text,
            "node 3 (az2, pid 42): stopped (SIGSTOP or traced: it answers nothing until SIGCONT), did not answer its metrics endpoint 127.0.0.1:9000 within 2s (at the start of the measurement: 10 device flushes, 40 append frames, 160 records)"
        );
        let text = describe(&node(5), ProcState::Gone, None, None);
        assert_eq!(
            text,
            "node 5 (az3, pid 42): not running, did not answer its metrics endpoint 127.0.0.1:9000 within 2s"
        );
    }
}
