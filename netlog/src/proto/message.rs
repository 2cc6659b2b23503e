//! `Message`: every message of the registry as one enum, decoded from a frame
//! (borrowing its body) and encoded into a caller-owned buffer.
//!
//! This module owns the dispatch from tag to layout and the frame-level rules of the
//! registry: the tag is known; a request or a response carries a nonzero request id
//! (only a connection-level `Refusal` has id 0); the body is read to its exact end.
//! Encoding writes the whole frame (header and body) at the end of the buffer, refuses
//! whatever the decoder would refuse, and leaves the buffer as it was on error.

use boreal_segment::limits::FRAME_HEADER_SIZE;
use boreal_segment::{Frame, FrameHeader};

use super::control::{
    CreateSegment, Fence, FenceAck, GetPage, PageReply, ReadPointSet, SegmentCreated, SetReadPoint,
    Truncate, TruncateAck,
};
use super::error::{ProtoError, Result};
use super::hello::{Hello, HelloReply};
use super::records::{AppendAck, AppendBatch, FetchRecords, FetchedRecords};
use super::refusal::Refusal;
use super::status::{CoreStatus, CoreStatusReply, SegmentStatus, StatusReply};
use super::tag::Tag;
use super::truncations::{Truncations, TruncationsReply};
use super::wire::Body;

/// One message of the registry. Variable parts borrow from the decoded frame body, or
/// from the sender's own values when built for encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Hello(Hello),
    HelloReply(HelloReply<'a>),
    Refusal(Refusal<'a>),
    CreateSegment(CreateSegment),
    SegmentCreated(SegmentCreated),
    AppendBatch(AppendBatch<'a>),
    AppendAck(AppendAck),
    GetPage(GetPage),
    PageReply(PageReply<'a>),
    SetReadPoint(SetReadPoint),
    ReadPointSet(ReadPointSet),
    Fence(Fence),
    FenceAck(FenceAck),
    Truncate(Truncate),
    TruncateAck(TruncateAck),
    FetchRecords(FetchRecords),
    FetchedRecords(FetchedRecords<'a>),
    SegmentStatus(SegmentStatus),
    StatusReply(StatusReply<'a>),
    CoreStatus(CoreStatus),
    CoreStatusReply(CoreStatusReply<'a>),
    Truncations(Truncations),
    TruncationsReply(TruncationsReply<'a>),
}

impl<'a> Message<'a> {
    /// The message's tag.
    pub fn tag(&self) -> Tag {
        match self {
            Message::Hello(_) => Tag::Hello,
            Message::HelloReply(_) => Tag::HelloReply,
            Message::Refusal(_) => Tag::Refusal,
            Message::CreateSegment(_) => Tag::CreateSegment,
            Message::SegmentCreated(_) => Tag::SegmentCreated,
            Message::AppendBatch(_) => Tag::AppendBatch,
            Message::AppendAck(_) => Tag::AppendAck,
            Message::GetPage(_) => Tag::GetPage,
            Message::PageReply(_) => Tag::PageReply,
            Message::SetReadPoint(_) => Tag::SetReadPoint,
            Message::ReadPointSet(_) => Tag::ReadPointSet,
            Message::Fence(_) => Tag::Fence,
            Message::FenceAck(_) => Tag::FenceAck,
            Message::Truncate(_) => Tag::Truncate,
            Message::TruncateAck(_) => Tag::TruncateAck,
            Message::FetchRecords(_) => Tag::FetchRecords,
            Message::FetchedRecords(_) => Tag::FetchedRecords,
            Message::SegmentStatus(_) => Tag::SegmentStatus,
            Message::StatusReply(_) => Tag::StatusReply,
            Message::CoreStatus(_) => Tag::CoreStatus,
            Message::CoreStatusReply(_) => Tag::CoreStatusReply,
            Message::Truncations(_) => Tag::Truncations,
            Message::TruncationsReply(_) => Tag::TruncationsReply,
        }
    }

    /// Whether the message is a request (client → node).
    pub fn is_request(&self) -> bool {
        self.tag().is_request()
    }

    /// Decodes the message of `frame` (a frame from `decode_frame` or
    /// [`FrameReader`](super::FrameReader), whose body checksum was verified).
    pub fn decode(frame: Frame<'a>) -> Result<Message<'a>> {
        let tag = Tag::from_u16(frame.header.tag)?;
        check_request_id(tag, frame.header.request_id)?;
        let mut body = Body::new(tag.name(), frame.body);
        let b = &mut body;
        let msg = match tag {
            Tag::Hello => Message::Hello(Hello::read(b)?),
            Tag::HelloReply => Message::HelloReply(HelloReply::read(b)?),
            Tag::Refusal => Message::Refusal(Refusal::read(b)?),
            Tag::CreateSegment => Message::CreateSegment(CreateSegment::read(b)?),
            Tag::SegmentCreated => Message::SegmentCreated(SegmentCreated::read(b)?),
            Tag::AppendBatch => Message::AppendBatch(AppendBatch::read(b)?),
            Tag::AppendAck => Message::AppendAck(AppendAck::read(b)?),
            Tag::GetPage => Message::GetPage(GetPage::read(b)?),
            Tag::PageReply => Message::PageReply(PageReply::read(b)?),
            Tag::SetReadPoint => Message::SetReadPoint(SetReadPoint::read(b)?),
            Tag::ReadPointSet => Message::ReadPointSet(ReadPointSet::read(b)?),
            Tag::Fence => Message::Fence(Fence::read(b)?),
            Tag::FenceAck => Message::FenceAck(FenceAck::read(b)?),
            Tag::Truncate => Message::Truncate(Truncate::read(b)?),
            Tag::TruncateAck => Message::TruncateAck(TruncateAck::read(b)?),
            Tag::FetchRecords => Message::FetchRecords(FetchRecords::read(b)?),
            Tag::FetchedRecords => Message::FetchedRecords(FetchedRecords::read(b)?),
            Tag::SegmentStatus => Message::SegmentStatus(SegmentStatus::read(b)?),
            Tag::StatusReply => Message::StatusReply(StatusReply::read(b)?),
            Tag::CoreStatus => Message::CoreStatus(CoreStatus::read(b)?),
            Tag::CoreStatusReply => Message::CoreStatusReply(CoreStatusReply::read(b)?),
            Tag::Truncations => Message::Truncations(Truncations::read(b)?),
            Tag::TruncationsReply => Message::TruncationsReply(TruncationsReply::read(b)?),
        };
        body.finish()?;
        Ok(msg)
    }

    /// [`decode`](Self::decode), refusing a response: what a node reads.
    pub fn decode_request(frame: Frame<'a>) -> Result<Message<'a>> {
        Self::decode_direction(frame, true)
    }

    /// [`decode`](Self::decode), refusing a request: what a client reads.
    pub fn decode_response(frame: Frame<'a>) -> Result<Message<'a>> {
        Self::decode_direction(frame, false)
    }

    fn decode_direction(frame: Frame<'a>, request: bool) -> Result<Message<'a>> {
        let tag = Tag::from_u16(frame.header.tag)?;
        if tag.is_request() != request {
            return Err(ProtoError::WrongDirection {
                message: tag.name(),
                expected: if request { "request" } else { "response" },
            });
        }
        Self::decode(frame)
    }

    /// Appends the message as one frame with `request_id` to `out` and returns the
    /// frame's header. On error `out` is left as it was.
    pub fn encode(&self, request_id: u64, out: &mut Vec<u8>) -> Result<FrameHeader> {
        let start = out.len();
        out.resize(start + FRAME_HEADER_SIZE, 0);
        let written = self.write_body(out);
        match written.and_then(|()| seal(out, start, self.tag(), request_id)) {
            Ok(header) => Ok(header),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn write_body(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Message::Hello(m) => m.write(out)?,
            Message::HelloReply(m) => m.write(out)?,
            Message::Refusal(m) => m.write(out)?,
            Message::CreateSegment(m) => m.write(out)?,
            Message::SegmentCreated(m) => m.write(out),
            Message::AppendBatch(m) => m.write(out)?,
            Message::AppendAck(m) => m.write(out),
            Message::GetPage(m) => m.write(out),
            Message::PageReply(m) => m.write(out)?,
            Message::SetReadPoint(m) => m.write(out),
            Message::ReadPointSet(m) => m.write(out),
            Message::Fence(m) => m.write(out),
            Message::FenceAck(m) => m.write(out),
            Message::Truncate(m) => m.write(out)?,
            Message::TruncateAck(m) => m.write(out),
            Message::FetchRecords(m) => m.write(out)?,
            Message::FetchedRecords(m) => m.write(out)?,
            Message::SegmentStatus(m) => m.write(out),
            Message::StatusReply(m) => m.write(out)?,
            Message::CoreStatus(m) => m.write(out),
            Message::CoreStatusReply(m) => m.write(out)?,
            Message::Truncations(m) => m.write(out),
            Message::TruncationsReply(m) => m.write(out)?,
        }
        Ok(())
    }
}

/// Only a `Refusal` may carry request id 0 (it then concerns the connection).
fn check_request_id(tag: Tag, request_id: u64) -> Result<()> {
    if request_id == 0 && tag != Tag::Refusal {
        return Err(ProtoError::ZeroRequestId {
            message: tag.name(),
        });
    }
    Ok(())
}

/// Seals the frame whose body runs from `start + FRAME_HEADER_SIZE` to the end of
/// `out`: writes its header over the `FRAME_HEADER_SIZE` bytes at `start`.
pub(crate) fn seal(out: &mut [u8], start: usize, tag: Tag, request_id: u64) -> Result<FrameHeader> {
    check_request_id(tag, request_id)?;
    let header = FrameHeader::for_body(tag.get(), request_id, &out[start + FRAME_HEADER_SIZE..])?;
    out[start..start + FRAME_HEADER_SIZE].copy_from_slice(&header.encode());
    Ok(header)
}
