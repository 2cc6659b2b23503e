//! Fail-stop: a write error, a short write, a sync error or a cancelled linked sync
//! puts the journal in a permanent failed state naming the op, file and offset; the
//! batch's waiters and every later append get `Failed`, nothing is acknowledged again.

mod journal_support;

use std::rc::Rc;

use boreal_engine::journal::{DurabilityMode, FailedOp, Journal, JournalError};
use boreal_engine::rt::spawn;
use journal_support::{Faults, FaultyIo, payload, redo, sim, small_config};

fn check_fail_stop(
    mode: DurabilityMode,
    faults: Faults,
    want_op: FailedOp,
    want_errno: Option<i32>,
) {
    let sim = sim(11);
    let io = FaultyIo::new(sim.io(0, 0));
    sim.run(async move {
        let j = Rc::new(
            Journal::create(io.clone(), small_config(mode))
                .await
                .unwrap(),
        );
        let body = payload(1, 300);
        j.append(&[redo(1, 1, &body)]).await.unwrap();
        io.arm(faults);
        let mut tasks = Vec::new();
        for lsn in 2..10u64 {
            let j = j.clone();
            tasks.push(spawn(async move {
                let body = payload(lsn, 300);
                j.append(&[redo(1, lsn, &body)]).await
            }));
        }
        let mut first = None;
        for t in tasks {
            match t.await.unwrap() {
                Err(
                    e @ JournalError::Failed {
                        op, errno, offset, ..
                    },
                ) => {
                    assert_eq!(op, want_op, "{mode:?}");
                    assert_eq!(errno, want_errno);
                    // The second batch, or the third written while it was in flight
                    // (pipelined): whichever failed first is the journal's error.
                    assert!(
                        offset >= 8192 && offset % 4096 == 0,
                        "a batch after the first: {offset}"
                    );
                    assert_eq!(first.get_or_insert_with(|| e.clone()), &e, "one error");
                }
                other => panic!("{mode:?}: expected Failed, got {other:?}"),
            }
        }
        // Never retries, never acknowledges again, even with a healthy disk.
        *io.faults.borrow_mut() = Faults::default();
        let body = payload(20, 10);
        assert!(matches!(
            j.append(&[redo(1, 20, &body)]).await,
            Err(JournalError::Failed { .. })
        ));
        let s = j.stats();
        assert_eq!(s.batches, 1, "{s:?}");
        assert!(s.failed.is_some());
    });
}

#[test]
fn write_eio_fails_stop() {
    let f = Faults {
        write_errno: Some(libc::EIO),
        ..Faults::default()
    };
    check_fail_stop(
        DurabilityMode::WriteThenFdatasync,
        f,
        FailedOp::Write,
        Some(libc::EIO),
    );
    check_fail_stop(
        DurabilityMode::DsyncWrite,
        f,
        FailedOp::DsyncWrite,
        Some(libc::EIO),
    );
}

#[test]
fn fdatasync_eio_fails_stop() {
    let f = Faults {
        sync_errno: Some(libc::EIO),
        ..Faults::default()
    };
    check_fail_stop(
        DurabilityMode::WriteThenFdatasync,
        f,
        FailedOp::Sync,
        Some(libc::EIO),
    );
}

#[test]
fn cancelled_linked_sync_fails_stop() {
    let f = Faults {
        linked_errno: Some(libc::ECANCELED),
        ..Faults::default()
    };
    check_fail_stop(
        DurabilityMode::Linked,
        f,
        FailedOp::LinkedWriteSync,
        Some(libc::ECANCELED),
    );
}

#[test]
fn short_write_fails_stop() {
    let f = Faults {
        write_short_by: Some(512),
        ..Faults::default()
    };
    check_fail_stop(DurabilityMode::DsyncWrite, f, FailedOp::DsyncWrite, None);
}
