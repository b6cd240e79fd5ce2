//! options.seccomp given as an fd: the filter read from it, bounded by the kernel's limit and
//! without waiting on a pipe or socket whose writer never closes it.

use std::os::fd::RawFd;

use napi::bindgen_prelude::Buffer;
use napi::Env;
use napi_derive::napi;
use nix::errno::Errno;

use crate::errors::{to_js, Failure, Outcome};

/// BPF_MAXINSNS: the kernel takes at most 4,096 instructions of 8 bytes.
pub const MAX_BYTES: usize = 4096 * 8;

fn too_long(fd: RawFd) -> Failure {
    Failure::ArgValue(format!(
        "The property 'options.seccomp' must be at most 4096 instructions (BPF_MAXINSNS, \
         {MAX_BYTES} bytes): fd {fd} holds more (reading stopped at {} bytes). Received fd {fd}",
        MAX_BYTES + 1
    ))
}

fn read_failed(fd: RawFd, errno: Errno) -> Failure {
    let cause = match errno {
        Errno::EBADF => Some(format!("fd {fd} (options.seccomp) is not open for reading")),
        Errno::EISDIR => Some(format!("fd {fd} (options.seccomp) is a directory")),
        _ => None,
    };
    Failure::sys(
        errno,
        "read",
        format!("read(options.seccomp fd {fd})"),
        cause,
    )
}

/// The filter from `fd`: a file from its start (one just written is at its end), a pipe or a
/// socket up to its end of file. At most MAX_BYTES + 1 bytes are read, so a device that never
/// ends (/dev/zero) is refused as too long; a pipe or socket is read only as far as it holds
/// data now, so one whose write end is still open is refused instead of waited on.
pub fn read(fd: RawFd) -> Outcome<Vec<u8>> {
    let mut out = vec![0u8; MAX_BYTES + 1];
    let mut got = 0usize;
    let mut seekable = true;
    while got < out.len() {
        let rest = &mut out[got..];
        let n = if seekable {
            // SAFETY: reads into the rest of `out`.
            let n = unsafe {
                libc::pread(fd, rest.as_mut_ptr().cast(), rest.len(), got as libc::off_t)
            };
            if n < 0 && Errno::last() == Errno::ESPIPE && got == 0 {
                seekable = false;
                continue;
            }
            n
        } else {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd on this stack; no waiting.
            let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
            if ready == 0 {
                return Err(Failure::ArgValue(format!(
                    "The property 'options.seccomp' names fd {fd}, a pipe or socket with no end \
                     of file after {got} bytes: its write end is still open. A filter is read \
                     to its end without waiting: write it, close the write end, then spawn. \
                     Received fd {fd}"
                )));
            }
            if pfd.revents & libc::POLLNVAL != 0 {
                return Err(read_failed(fd, Errno::EBADF));
            }
            // SAFETY: reads into the rest of `out`; poll said it will not block.
            unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) }
        };
        if n < 0 {
            let errno = Errno::last();
            if errno == Errno::EINTR {
                continue;
            }
            return Err(read_failed(fd, errno));
        }
        if n == 0 {
            out.truncate(got);
            return Ok(out);
        }
        got += n as usize;
    }
    Err(too_long(fd))
}

/// options.seccomp's fd read as `read` does; for the TypeScript layer.
#[napi(js_name = "_readFilter")]
pub fn read_filter(env: Env, fd: i32) -> napi::Result<Buffer> {
    to_js(&env, read(fd)).map(Buffer::from)
}
