//! Files on the ring: open (with O_DIRECT alignment probing), read, write, writev,
//! fsync/fdatasync, directory fsync, fallocate, fadvise, `RWF_DSYNC` writes, and the
//! linked write→fdatasync chain.
//!
//! Owns: [`UringFile`] (an `Rc` of the fd plus the [`FileInfo`] probed at open).
//!
//! Must never: submit an O_DIRECT request whose offset or length is not a multiple of
//! the probed alignment (refused with `EINVAL` before submission, so the simulator and
//! the kernel agree); close an fd while an operation on it is in flight (each op's
//! slot holds an `Rc` of the fd).
//!
//! Invariants: `FileInfo::dio_offset_align` is 0 iff the file was opened without
//! O_DIRECT, else a power of two ≥ 1 (statx `STATX_DIOALIGN`, else 512); a
//! `write_then_fdatasync` succeeds only if the write was full length and the sync
//! succeeded.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::op::{OpData, OpKind};
use super::ring::Ring;
use crate::buf::{DMA_ALIGN, DmaBuf};
use crate::io::{Advice, FallocateMode, FileInfo, OpenOptions, WriteFlags};

/// Alignment assumed when the filesystem does not report `STATX_DIOALIGN`.
const DIO_ALIGN_FALLBACK: u32 = 512;
/// Most buffers one `writev` takes (`IOV_MAX`).
const WRITEV_BUFS_MAX: usize = 1024;

/// An open file on a [`UringIo`](super::UringIo). Dropping it closes the fd once no
/// operation uses it.
#[derive(Debug)]
pub struct UringFile {
    pub(crate) fd: Rc<OwnedFd>,
    pub(crate) info: FileInfo,
}

impl UringFile {
    pub fn info(&self) -> FileInfo {
        self.info
    }

    fn raw(&self) -> types::Fd {
        types::Fd(self.fd.as_raw_fd())
    }

    fn check_direct(&self, offset: u64, len: usize) -> io::Result<()> {
        let a = u64::from(self.info.dio_offset_align);
        if a != 0 && (!offset.is_multiple_of(a) || !(len as u64).is_multiple_of(a)) {
            return Err(einval());
        }
        Ok(())
    }
}

pub(crate) fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| einval())
}

pub(crate) fn errno_result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

fn rw_flags(flags: WriteFlags) -> i32 {
    if flags.dsync { libc::RWF_DSYNC } else { 0 }
}

pub(crate) async fn open(ring: &Rc<Ring>, path: &Path, opts: OpenOptions) -> io::Result<UringFile> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| einval())?;
    let mut flags = libc::O_CLOEXEC;
    flags |= match (opts.read, opts.write) {
        (true, true) => libc::O_RDWR,
        (false, true) => libc::O_WRONLY,
        (true, false) => libc::O_RDONLY,
        (false, false) => return Err(einval()),
    };
    if opts.create {
        flags |= libc::O_CREAT;
        if opts.create_new {
            flags |= libc::O_EXCL;
        }
    }
    if opts.truncate {
        flags |= libc::O_TRUNC;
    }
    if opts.direct {
        flags |= libc::O_DIRECT;
    }
    let e = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), cpath.as_ptr())
        .flags(flags)
        .mode(0o644)
        .build();
    let done = ring
        .submit(&[e], OpData::Path { _path: cpath }, None, OpKind::Open)
        .await;
    let raw = errno_result(done.results[0])?;
    // SAFETY: a successful openat returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let info = probe(&fd, opts.direct)?;
    Ok(UringFile {
        fd: Rc::new(fd),
        info,
    })
}

/// statx for the size and, for O_DIRECT files, the direct-I/O alignment.
fn probe(fd: &OwnedFd, direct: bool) -> io::Result<FileInfo> {
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, a NUL-terminated empty path with AT_EMPTY_PATH, and a pointer
    // to a live statx the kernel fills.
    let rc = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_SIZE | libc::STATX_DIOALIGN,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let (offset_align, mem_align) = if !direct {
        (0, 0)
    } else if stx.stx_mask & libc::STATX_DIOALIGN != 0 && stx.stx_dio_offset_align != 0 {
        (stx.stx_dio_offset_align, stx.stx_dio_mem_align.max(1))
    } else {
        (DIO_ALIGN_FALLBACK, DIO_ALIGN_FALLBACK)
    };
    assert!(
        mem_align as usize <= DMA_ALIGN || !direct,
        "device wants {mem_align}-byte buffers"
    );
    Ok(FileInfo {
        size: stx.stx_size,
        dio_offset_align: offset_align,
        dio_mem_align: mem_align,
    })
}

pub(crate) async fn read_at(
    ring: &Rc<Ring>,
    file: &UringFile,
    mut buf: DmaBuf,
    len: usize,
    offset: u64,
) -> (io::Result<usize>, DmaBuf) {
    if len > buf.capacity() {
        return (Err(einval()), buf);
    }
    if let Err(e) = file.check_direct(offset, len) {
        return (Err(e), buf);
    }
    let len32 = match len_u32(len) {
        Ok(l) => l,
        Err(e) => return (Err(e), buf),
    };
    let e = opcode::Read::new(file.raw(), buf.as_mut_ptr(), len32)
        .offset(offset)
        .build();
    let done = ring
        .submit(&[e], OpData::Buf(buf), Some(file.fd.clone()), OpKind::File)
        .await;
    let OpData::Buf(mut buf) = done.data else {
        unreachable!("read op returns its buffer")
    };
    let res = errno_result(done.results[0]);
    buf.set_len(*res.as_ref().unwrap_or(&0));
    (res, buf)
}

fn write_entry(
    file: &UringFile,
    buf: &DmaBuf,
    offset: u64,
    flags: WriteFlags,
) -> io::Result<squeue::Entry> {
    file.check_direct(offset, buf.len())?;
    let len = len_u32(buf.len())?;
    Ok(opcode::Write::new(file.raw(), buf.as_ptr(), len)
        .offset(offset)
        .rw_flags(rw_flags(flags))
        .build())
}

pub(crate) async fn write_at(
    ring: &Rc<Ring>,
    file: &UringFile,
    buf: DmaBuf,
    offset: u64,
    flags: WriteFlags,
) -> (io::Result<usize>, DmaBuf) {
    let e = match write_entry(file, &buf, offset, flags) {
        Ok(e) => e,
        Err(err) => return (Err(err), buf),
    };
    let done = ring
        .submit(&[e], OpData::Buf(buf), Some(file.fd.clone()), OpKind::File)
        .await;
    let OpData::Buf(buf) = done.data else {
        unreachable!("write op returns its buffer")
    };
    (errno_result(done.results[0]), buf)
}

pub(crate) async fn writev_at(
    ring: &Rc<Ring>,
    file: &UringFile,
    bufs: Vec<DmaBuf>,
    offset: u64,
    flags: WriteFlags,
) -> (io::Result<usize>, Vec<DmaBuf>) {
    if bufs.is_empty() || bufs.len() > WRITEV_BUFS_MAX {
        return (Err(einval()), bufs);
    }
    if file.info.dio_offset_align != 0 {
        let a = file.info.dio_offset_align as usize;
        if !offset.is_multiple_of(a as u64) || bufs.iter().any(|b| !b.len().is_multiple_of(a)) {
            return (Err(einval()), bufs);
        }
    }
    let iovecs: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let e = opcode::Writev::new(file.raw(), iovecs.as_ptr(), iovecs.len() as u32)
        .offset(offset)
        .rw_flags(rw_flags(flags))
        .build();
    let done = ring
        .submit(
            &[e],
            OpData::Bufs {
                bufs,
                _iovecs: iovecs,
            },
            Some(file.fd.clone()),
            OpKind::File,
        )
        .await;
    let OpData::Bufs { bufs, .. } = done.data else {
        unreachable!("writev op returns its buffers")
    };
    (errno_result(done.results[0]), bufs)
}

pub(crate) async fn sync(ring: &Rc<Ring>, file: &UringFile, data_only: bool) -> io::Result<()> {
    let mut e = opcode::Fsync::new(file.raw());
    if data_only {
        e = e.flags(types::FsyncFlags::DATASYNC);
    }
    let done = ring
        .submit(
            &[e.build()],
            OpData::None,
            Some(file.fd.clone()),
            OpKind::File,
        )
        .await;
    errno_result(done.results[0]).map(|_| ())
}

/// Opens `dir` with `O_RDONLY | O_DIRECTORY` and fsyncs it, both through the ring; the
/// descriptor closes when the sync completed (its slot holds it until then).
pub(crate) async fn sync_dir(ring: &Rc<Ring>, dir: &Path) -> io::Result<()> {
    let cpath = CString::new(dir.as_os_str().as_bytes()).map_err(|_| einval())?;
    let e = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), cpath.as_ptr())
        .flags(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .build();
    let done = ring
        .submit(&[e], OpData::Path { _path: cpath }, None, OpKind::Open)
        .await;
    let raw = errno_result(done.results[0])?;
    // SAFETY: a successful openat returned a fresh fd that nothing else owns.
    let fd = Rc::new(unsafe { OwnedFd::from_raw_fd(raw as i32) });
    let e = opcode::Fsync::new(types::Fd(fd.as_raw_fd())).build();
    let done = ring
        .submit(&[e], OpData::None, Some(fd), OpKind::File)
        .await;
    errno_result(done.results[0]).map(|_| ())
}

pub(crate) async fn fallocate(
    ring: &Rc<Ring>,
    file: &UringFile,
    mode: FallocateMode,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    let mode = match mode {
        FallocateMode::Allocate => 0,
        FallocateMode::KeepSize => libc::FALLOC_FL_KEEP_SIZE,
        FallocateMode::ZeroRange => libc::FALLOC_FL_ZERO_RANGE,
    };
    let e = opcode::Fallocate::new(file.raw(), len)
        .offset(offset)
        .mode(mode)
        .build();
    let done = ring
        .submit(&[e], OpData::None, Some(file.fd.clone()), OpKind::File)
        .await;
    errno_result(done.results[0]).map(|_| ())
}

/// `IORING_OP_FADVISE` over the whole file (offset 0, length 0), on the descriptor the
/// file's reads go through: Linux keeps the advice per open file description.
pub(crate) async fn fadvise(ring: &Rc<Ring>, file: &UringFile, advice: Advice) -> io::Result<()> {
    let e = opcode::Fadvise::new(file.raw(), 0, advice.posix())
        .offset(0)
        .build();
    let done = ring
        .submit(&[e], OpData::None, Some(file.fd.clone()), OpKind::File)
        .await;
    errno_result(done.results[0]).map(|_| ())
}

pub(crate) async fn write_then_fdatasync(
    ring: &Rc<Ring>,
    file: &UringFile,
    buf: DmaBuf,
    offset: u64,
) -> (io::Result<usize>, DmaBuf) {
    let w = match write_entry(file, &buf, offset, WriteFlags::NONE) {
        Ok(e) => e.flags(squeue::Flags::IO_LINK),
        Err(err) => return (Err(err), buf),
    };
    let len = buf.len();
    let s = opcode::Fsync::new(file.raw())
        .flags(types::FsyncFlags::DATASYNC)
        .build();
    let done = ring
        .submit(
            &[w, s],
            OpData::Buf(buf),
            Some(file.fd.clone()),
            OpKind::File,
        )
        .await;
    let OpData::Buf(buf) = done.data else {
        unreachable!("write op returns its buffer")
    };
    let [wres, sres] = done.results;
    let res = match errno_result(wres) {
        Err(e) => Err(e),
        Ok(n) if n != len => Err(crate::io::short_linked_write(n, len)),
        Ok(n) => errno_result(sres).map(|_| n),
    };
    (res, buf)
}
