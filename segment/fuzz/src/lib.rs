//! Helpers shared by the fuzz targets of `boreal-segment`.
//!
//! Random bytes almost never pass a CRC, so a target that only fed raw bytes would test
//! little more than the checksum comparison. Each target reads a mode byte first; when
//! its low bit is set the target "reseals" the input (recomputes every checksum the way
//! an encoder would) before decoding, so the fuzzer reaches the field checks behind the
//! checksums. Resealing never panics on any input.

use boreal_segment::checksum::crc32c;

/// Splits the mode byte from the input; `true` means "reseal".
pub fn split_mode(data: &[u8]) -> (bool, &[u8]) {
    match data.split_first() {
        Some((mode, rest)) => (mode & 1 == 1, rest),
        None => (false, data),
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn write_crc(buf: &mut [u8], at: usize, covered: std::ops::Range<usize>) {
    if covered.end <= buf.len() && at + 4 <= buf.len() {
        let sum = crc32c(&buf[covered]);
        buf[at..at + 4].copy_from_slice(&sum.to_le_bytes());
    }
}

/// Reseals a header whose checksum at 0 covers `[4, header_len)`.
pub fn reseal_header(buf: &mut [u8], header_len: usize) {
    write_crc(buf, 0, 4..header_len);
}

/// Reseals the record at the front of `buf`; returns its length if it fits.
pub fn reseal_record(buf: &mut [u8]) -> Option<usize> {
    let body_len = read_u32(buf, 12)? as usize;
    let end = 56usize.checked_add(body_len)?;
    if end > buf.len() {
        return None;
    }
    write_crc(buf, 4, 56..end);
    reseal_header(buf, 56);
    Some(end)
}

/// Reseals records laid end to end.
pub fn reseal_records(mut buf: &mut [u8]) {
    while let Some(len) = reseal_record(buf) {
        buf = &mut buf[len..];
    }
}

/// Reseals a batch: its records, its body checksum, its header checksum and (version 2)
/// every sector's stamp, over the logical bytes (stamps removed) as an encoder would.
pub fn reseal_batch(buf: &mut [u8]) {
    let Some(body_len) = read_u32(buf, 20) else {
        return;
    };
    let Some(&log2) = buf.get(14) else { return };
    let stamped = buf.get(12..14) == Some(&2u16.to_le_bytes()[..]);
    let body_end = 72usize.saturating_add(body_len as usize);
    if !stamped {
        if body_end <= buf.len() {
            reseal_records(&mut buf[72..body_end]);
        }
        if (9..=12).contains(&log2) {
            let align = 1usize << log2;
            let padded = body_end.div_ceil(align) * align;
            write_crc(buf, 4, 72..padded);
        }
        reseal_header(buf, 72);
        return;
    }
    // Version 2: work on the logical stream of the whole sectors present.
    let sectors = buf.len() / SECTOR;
    let mut logical: Vec<u8> = buf
        .chunks_exact(SECTOR)
        .flat_map(|s| &s[..PAYLOAD])
        .copied()
        .collect();
    if body_end <= logical.len() {
        reseal_records(&mut logical[72..body_end]);
    }
    if (9..=12).contains(&log2) {
        let align = 1usize << log2;
        let padded = (body_end.div_ceil(PAYLOAD) * SECTOR).div_ceil(align) * align;
        write_crc(&mut logical, 4, 72..padded / SECTOR * PAYLOAD);
    }
    reseal_header(&mut logical, 72);
    for (s, chunk) in logical.chunks_exact(PAYLOAD).enumerate().take(sectors) {
        buf[s * SECTOR..s * SECTOR + PAYLOAD].copy_from_slice(chunk);
    }
    if let (Some(header_sum), Some(body_sum)) = (read_u32(buf, 0), read_u32(buf, 4)) {
        let stamp = boreal_segment::stamp::stamp(body_sum, header_sum).to_le_bytes();
        for sector in buf.chunks_exact_mut(SECTOR) {
            sector[PAYLOAD..].copy_from_slice(&stamp);
        }
    }
}

const SECTOR: usize = boreal_segment::limits::STAMP_SECTOR_SIZE;
const PAYLOAD: usize = boreal_segment::limits::STAMP_SECTOR_PAYLOAD;
