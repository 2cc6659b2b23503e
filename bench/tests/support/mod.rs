//! What the cluster tests share: an independent look at which `boreal-node` processes
//! run in a directory (`tools`' test support, the one copy, included by path).

#[path = "../../../tools/tests/support/node_procs.rs"]
mod node_procs;

pub use node_procs::node_processes_in as nodes_in;
