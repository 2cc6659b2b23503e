//! A small blocking client of a storage node, over `std::net`: for tools (`boreal
//! cluster status`), tests and load generators, never on a ring thread (the quorum
//! shim has its own, on boreal's runtime).
//!
//! It sends frames as they are given (pipelining is the caller's: send many, then
//! receive), receives whole frames into an owned buffer, and says plainly when the
//! node closed the connection or sent something that does not decode.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use boreal_segment::limits::FRAME_HEADER_SIZE;
use boreal_segment::{Frame, NodeId};

use crate::proto::{FrameReader, Hello, Message, ProtoError, Role, Step};

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{addr}: {what}: {source}")]
    Io {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{addr}: the node closed the connection")]
    Closed { addr: SocketAddr },
    #[error("{addr}: undecodable answer: {source}")]
    Proto {
        addr: SocketAddr,
        source: Box<ProtoError>,
    },
    #[error("{addr}: unexpected answer to {asked}: {got}")]
    Unexpected {
        addr: SocketAddr,
        asked: &'static str,
        got: String,
    },
}

/// One blocking connection to one core of a node.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    stream: TcpStream,
    /// Received bytes not yet handed out as frames.
    buf: Vec<u8>,
    /// The frame last handed out (its bytes), so `Frame` can borrow it.
    frame: Vec<u8>,
    next_id: u64,
    out: Vec<u8>,
}

impl Client {
    /// Connects (at most `timeout`), with `TCP_NODELAY`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Client, ClientError> {
        let io = |what| move |source| ClientError::Io { addr, what, source };
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io("connect"))?;
        stream.set_nodelay(true).map_err(io("set TCP_NODELAY"))?;
        Ok(Client {
            addr,
            stream,
            buf: Vec::with_capacity(64 << 10),
            frame: Vec::new(),
            next_id: 1,
            out: Vec::new(),
        })
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bounds how long a receive waits (`None`: for ever).
    pub fn set_timeout(&self, t: Option<Duration>) -> Result<(), ClientError> {
        self.stream
            .set_read_timeout(t)
            .map_err(|source| ClientError::Io {
                addr: self.addr,
                what: "set a read timeout",
                source,
            })
    }

    /// A fresh request id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends `msg` as one frame with a fresh request id; returns the id.
    pub fn send(&mut self, msg: &Message<'_>) -> Result<u64, ClientError> {
        let id = self.next_id();
        self.out.clear();
        msg.encode(id, &mut self.out)
            .map_err(|source| ClientError::Proto {
                addr: self.addr,
                source: Box::new(source),
            })?;
        let out = std::mem::take(&mut self.out);
        let r = self.send_raw(&out);
        self.out = out;
        r.map(|()| id)
    }

    /// Sends bytes as they are (frames the caller encoded, or anything at all).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream
            .write_all(bytes)
            .map_err(|source| ClientError::Io {
                addr: self.addr,
                what: "send",
                source,
            })
    }

    /// Receives the next whole frame; `Closed` if the node closed first.
    pub fn recv(&mut self) -> Result<Frame<'_>, ClientError> {
        loop {
            let mut r = FrameReader::new(&self.buf);
            match r.next_step() {
                Ok(Step::Frame(f)) => {
                    let len = FRAME_HEADER_SIZE + f.body.len();
                    self.frame.clear();
                    self.frame.extend_from_slice(&self.buf[..len]);
                    self.buf.drain(..len);
                    let mut r = FrameReader::new(&self.frame);
                    let f = r
                        .next_frame()
                        .map_err(|source| ClientError::Proto {
                            addr: self.addr,
                            source: Box::new(source),
                        })?
                        .expect("the frame was whole");
                    return Ok(f);
                }
                Ok(Step::Need { .. }) => {}
                Err(source) => {
                    return Err(ClientError::Proto {
                        addr: self.addr,
                        source: Box::new(source),
                    });
                }
            }
            let mut chunk = [0u8; 64 << 10];
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|source| ClientError::Io {
                    addr: self.addr,
                    what: "receive",
                    source,
                })?;
            if n == 0 {
                return Err(ClientError::Closed { addr: self.addr });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Receives the next frame and decodes it as a response.
    pub fn recv_message(&mut self) -> Result<(u64, Message<'_>), ClientError> {
        let addr = self.addr;
        let f = self.recv()?;
        let id = f.header.request_id;
        let m = Message::decode_response(f).map_err(|source| ClientError::Proto {
            addr,
            source: Box::new(source),
        })?;
        Ok((id, m))
    }

    /// Sends `msg` and waits for its answer (no other request may be in flight).
    pub fn call(&mut self, msg: &Message<'_>) -> Result<Message<'_>, ClientError> {
        let id = self.send(msg)?;
        let addr = self.addr;
        let (got, m) = self.recv_message()?;
        if got != id && got != 0 {
            return Err(ClientError::Unexpected {
                addr,
                asked: msg.tag().name(),
                got: format!("an answer to request {got}, not {id}"),
            });
        }
        Ok(m)
    }

    /// Says hello as `role` (a peer gives its node id); returns the node's id, AZ and
    /// every core's port.
    pub fn hello(&mut self, role: Role, node: NodeId) -> Result<NodeMap, ClientError> {
        let hello = match role {
            Role::Shim => Hello::shim(),
            Role::Peer => Hello::peer(node),
        };
        let addr = self.addr;
        match self.call(&Message::Hello(hello))? {
            Message::HelloReply(r) => Ok(NodeMap {
                node_id: r.node_id,
                az: r.az.to_string(),
                core_index: r.core_index,
                ports: r.ports.iter().collect(),
            }),
            other => Err(ClientError::Unexpected {
                addr,
                asked: "Hello",
                got: format!("{other:?}"),
            }),
        }
    }
}

/// What a node announces in `HelloReply`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeMap {
    pub node_id: NodeId,
    pub az: String,
    /// The core that answered.
    pub core_index: u16,
    /// Every core's port, core order (core of PG `p`: `p mod ports.len()`).
    pub ports: Vec<u16>,
}
