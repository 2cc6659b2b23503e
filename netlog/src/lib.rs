//! boreal-netlog: the network log — wire protocol, storage-node server, and the
//! compute shim that drives the 4-of-6 write quorum. Not built yet; see the issues.
