//! `Hello` and `HelloReply`: version negotiation and the node's shard map.
//!
//! This module owns the first exchange of every connection. The client offers a range
//! of protocol versions and says what it is; the node picks the highest version both
//! speak ([`negotiate`]) and answers with its id, its AZ label and every core's port
//! plus the PG → core rule, so a shim that reached any one core learns the whole node
//! and keeps one connection per core it needs. Rules checked both ways: `1 <= min <=
//! max`; a shim's `node_id` is 0; the AZ is 1..=64 bytes of UTF-8 without control
//! characters; 1..=`CORES_MAX` cores, every port nonzero, the answering core among them.

use boreal_segment::NodeId;

use super::error::{ProtoError, Result};
use super::refusal::Reason;
use super::seq::Seq;
use super::tag::{PgRule, Role};
use super::wire::{Body, Put, check_text, utf8};
use super::{PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};
use crate::limits::{AZ_BYTES_MAX, CORES_MAX, HELLO_REPLY_FIXED, HELLO_SIZE};

/// Client → node, the first frame of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Oldest protocol version the client speaks (at least 1).
    pub version_min: u16,
    /// Newest protocol version the client speaks (at least `version_min`).
    pub version_max: u16,
    pub role: Role,
    /// The client's node id when it is a peer; 0 for a shim.
    pub node_id: NodeId,
}

/// Node → client: the chosen version and the node's shard map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloReply<'a> {
    /// The version the connection speaks from now on.
    pub version: u16,
    pub node_id: NodeId,
    /// The node's availability-zone label (1..=`AZ_BYTES_MAX` bytes).
    pub az: &'a str,
    /// How the node's PGs map to its cores.
    pub pg_rule: PgRule,
    /// The core that answered (an index into `ports`).
    pub core_index: u16,
    /// Every core's TCP port, core 0 first; as many as the node has cores.
    pub ports: Seq<'a, u16>,
}

const HELLO: &str = "Hello";
const HELLO_REPLY: &str = "HelloReply";

impl Hello {
    /// A shim's hello offering every version this build speaks.
    pub fn shim() -> Hello {
        Hello {
            version_min: PROTOCOL_VERSION_MIN,
            version_max: PROTOCOL_VERSION_MAX,
            role: Role::Shim,
            node_id: NodeId::new(0),
        }
    }

    /// A peer node's hello offering every version this build speaks.
    pub fn peer(node_id: NodeId) -> Hello {
        Hello {
            role: Role::Peer,
            node_id,
            ..Hello::shim()
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.version_min == 0 || self.version_min > self.version_max {
            return Err(ProtoError::InvalidField {
                message: HELLO,
                field: "version_min",
                got: self.version_min.into(),
                rule: "must be at least 1 and at most version_max",
            });
        }
        if self.role == Role::Shim && self.node_id.get() != 0 {
            return Err(ProtoError::InvalidField {
                message: HELLO,
                field: "node_id",
                got: self.node_id.get().into(),
                rule: "a shim sends node_id 0",
            });
        }
        Ok(())
    }

    pub(crate) fn read(b: &mut Body<'_>) -> Result<Hello> {
        let version_min = b.u16("version_min")?;
        let version_max = b.u16("version_max")?;
        let role = Role::from_code(HELLO, b.u8("role")?.into())?;
        b.reserved(3)?;
        let node_id = NodeId::new(b.u32("node_id")?);
        b.reserved(4)?;
        debug_assert_eq!(b.pos(), HELLO_SIZE);
        let hello = Hello {
            version_min,
            version_max,
            role,
            node_id,
        };
        hello.check()?;
        Ok(hello)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u16(self.version_min);
        out.put_u16(self.version_max);
        out.put_u8(self.role.code());
        out.put_zeros(3);
        out.put_u32(self.node_id.get());
        out.put_zeros(4);
        Ok(())
    }
}

/// The version a node speaking `PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX` chooses
/// for `hello`: the highest both speak, or the refusal to send (naming the node's
/// range) when the ranges do not meet.
pub fn negotiate(hello: &Hello) -> Result<u16, Reason> {
    let high = hello.version_max.min(PROTOCOL_VERSION_MAX);
    if high >= hello.version_min.max(PROTOCOL_VERSION_MIN) {
        Ok(high)
    } else {
        Err(Reason::UnsupportedVersion {
            min: PROTOCOL_VERSION_MIN,
            max: PROTOCOL_VERSION_MAX,
        })
    }
}

impl<'a> HelloReply<'a> {
    /// The core that owns `pg` on this node.
    pub fn core_of(&self, pg: boreal_segment::PgId) -> u16 {
        // A checked reply has at least one core; `len` fits u16 (CORES_MAX).
        self.pg_rule.core_of(pg, self.ports.len() as u16)
    }

    /// The port of the core that owns `pg`.
    pub fn port_of(&self, pg: boreal_segment::PgId) -> u16 {
        let core = usize::from(self.core_of(pg));
        self.ports
            .iter()
            .nth(core)
            .expect("core_of is below the number of ports")
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !(PROTOCOL_VERSION_MIN..=PROTOCOL_VERSION_MAX).contains(&self.version) {
            return Err(ProtoError::OutOfBounds {
                message: HELLO_REPLY,
                field: "version",
                got: self.version.into(),
                min: PROTOCOL_VERSION_MIN.into(),
                max: PROTOCOL_VERSION_MAX.into(),
            });
        }
        check_text(HELLO_REPLY, "az", self.az, 1, AZ_BYTES_MAX, true)?;
        let cores = self.ports.count(HELLO_REPLY, "core_count", CORES_MAX)?;
        if cores == 0 {
            return Err(ProtoError::OutOfBounds {
                message: HELLO_REPLY,
                field: "core_count",
                got: 0,
                min: 1,
                max: CORES_MAX as u64,
            });
        }
        if u64::from(self.core_index) >= cores {
            return Err(ProtoError::InvalidField {
                message: HELLO_REPLY,
                field: "core_index",
                got: self.core_index.into(),
                rule: "must be below core_count",
            });
        }
        self.ports.check(HELLO_REPLY)
    }

    pub(crate) fn read(b: &mut Body<'a>) -> Result<HelloReply<'a>> {
        let version = b.u16("version")?;
        let pg_rule = PgRule::from_code(HELLO_REPLY, b.u8("pg_rule")?)?;
        let az_len = b.u8("az_len")?;
        let az_len = b.bounded("az_len", az_len.into(), 1, AZ_BYTES_MAX)?;
        let core_count = b.u16("core_count")?;
        let core_count = b.bounded("core_count", core_count.into(), 1, CORES_MAX)?;
        let core_index = b.u16("core_index")?;
        let node_id = NodeId::new(b.u32("node_id")?);
        b.reserved(4)?;
        debug_assert_eq!(b.pos(), HELLO_REPLY_FIXED);
        let az = utf8(HELLO_REPLY, "az", b.bytes("az", az_len)?)?;
        let ports = Seq::decode(b, core_count)?;
        let reply = HelloReply {
            version,
            node_id,
            az,
            pg_rule,
            core_index,
            ports,
        };
        reply.check()?;
        Ok(reply)
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.put_u16(self.version);
        out.put_u8(self.pg_rule.code());
        // Both bounded by check(): AZ_BYTES_MAX <= u8::MAX, CORES_MAX <= u16::MAX.
        out.put_u8(self.az.len() as u8);
        out.put_u16(self.ports.len() as u16);
        out.put_u16(self.core_index);
        out.put_u32(self.node_id.get());
        out.put_zeros(4);
        out.extend_from_slice(self.az.as_bytes());
        self.ports.write(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate(&Hello::shim()), Ok(PROTOCOL_VERSION_MAX));
        let future = Hello {
            version_min: PROTOCOL_VERSION_MAX + 1,
            version_max: PROTOCOL_VERSION_MAX + 5,
            ..Hello::shim()
        };
        assert_eq!(
            negotiate(&future),
            Err(Reason::UnsupportedVersion {
                min: PROTOCOL_VERSION_MIN,
                max: PROTOCOL_VERSION_MAX
            })
        );
        let wide = Hello {
            version_min: 1,
            version_max: u16::MAX,
            ..Hello::shim()
        };
        assert_eq!(negotiate(&wide), Ok(PROTOCOL_VERSION_MAX));
    }

    #[test]
    fn shim_with_a_node_id_and_empty_ranges_are_refused() {
        let bad = Hello {
            node_id: NodeId::new(3),
            ..Hello::shim()
        };
        assert!(bad.write(&mut Vec::new()).is_err());
        let bad = Hello {
            version_min: 2,
            version_max: 1,
            ..Hello::shim()
        };
        assert!(bad.check().is_err());
        assert!(Hello::peer(NodeId::new(3)).check().is_ok());
    }

    #[test]
    fn reply_maps_pgs_to_ports() {
        let ports = [9000, 9001, 9002];
        let reply = HelloReply {
            version: 1,
            node_id: NodeId::new(4),
            az: "az-b",
            pg_rule: PgRule::Modulo,
            core_index: 2,
            ports: Seq::from_slice(&ports),
        };
        assert_eq!(reply.port_of(boreal_segment::PgId::new(7)), 9001);
        let mut out = Vec::new();
        reply.write(&mut out).unwrap();
        let mut b = Body::new(HELLO_REPLY, &out);
        assert_eq!(HelloReply::read(&mut b).unwrap(), reply);
        b.finish().unwrap();
        let far = HelloReply {
            core_index: 3,
            ..reply
        };
        assert!(far.check().is_err());
    }
}
