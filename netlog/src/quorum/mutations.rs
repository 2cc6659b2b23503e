//! Deliberately broken variants of the quorum's rules, for the whole-cluster
//! simulation (`netlog/tests/cluster_sim.rs`) to prove that it catches each one: a
//! simulation that passes with the rule broken would be checking nothing.
//!
//! Every knob defaults to off, and none can be set from a configuration file or the
//! command line: [`ShimConfig`](super::ShimConfig) is built in code only, and this
//! type has no serde. A shim runs with [`Mutations::NONE`] unless a test says
//! otherwise.

/// Which rules of the shim to break. See the module docs.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Count a record durable once 3 of its PG's 6 segments hold it, and let volume
    /// recovery go on with 3 fenced segments (a write quorum of 3: 3 + 3 is not more
    /// than 6, so a recovery may miss a commit).
    pub write_quorum_3: bool,
    /// Take the VDL from the VCL as it is, without stopping at the last CPL record
    /// (in the watermarks and in recovery's decision): a read may see half a
    /// mini-transaction.
    pub vdl_without_cpl: bool,
    /// Volume recovery decides but writes no truncation: what an older shim left
    /// above the VDL stays on the segments.
    pub skip_truncation: bool,
}

impl Mutations {
    /// Every rule as designed.
    pub const NONE: Mutations = Mutations {
        write_quorum_3: false,
        vdl_without_cpl: false,
        skip_truncation: false,
    };

    /// The write quorum the shim runs with.
    pub fn write_quorum(&self) -> usize {
        if self.write_quorum_3 {
            3
        } else {
            super::WRITE_QUORUM
        }
    }
}
