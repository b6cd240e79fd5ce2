//! The parent's side of `terminal`: the filter that keeps a program from pushing input into a
//! terminal (TIOCSTI, TIOCLINUX), receiving the pty master the child opened, the thread that
//! relays between the master and a socket Node can read like a pipe, and resizing.
//!
//! Why a relay: libuv can only take a pty master as a TTY handle, which it leaves in blocking
//! mode (writes block the event loop once the program stops reading) and which reports the
//! master's EIO at the end as an error. A socketpair gives JavaScript an ordinary net.Socket
//! with back-pressure both ways and a plain EOF once everything the program wrote has been read.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use napi::Env;
use napi_derive::napi;
use nix::errno::Errno;

use super::child::Step;
use crate::errors::{to_js, Failure, Outcome};

/// AUDIT_ARCH_* (linux/audit.h): seccomp_data.arch of each ABI whose ioctl is filtered.
const ARCH_X86_64: u32 = 0xC000_003E;
const ARCH_I386: u32 = 0x4000_0003;
const ARCH_AARCH64: u32 = 0xC000_00B7;
const ARCH_ARM: u32 = 0x4000_0028;
/// ioctl's number in each ABI: x86-64, x32 (x86-64's arch with bit 30 set), i386 and arm
/// (both 54), aarch64.
const NR_IOCTL_X86_64: u32 = 16;
const NR_IOCTL_X32: u32 = 0x4000_0000 | 514;
const NR_IOCTL_32: u32 = 54;
const NR_IOCTL_AARCH64: u32 = 29;
/// The same in every ABI above (asm-generic/ioctls.h).
const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541C;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
/// seccomp_data: nr at 0, arch at 4, args[1] at 24 (its low half on these little-endian ABIs).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG1_LOW: u32 = 24;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&code.to_ne_bytes());
    b[2] = jt;
    b[3] = jf;
    b[4..8].copy_from_slice(&k.to_ne_bytes());
    b
}

/// A classic BPF program: ioctl(fd, TIOCSTI or TIOCLINUX, ...) fails with EPERM, in every ABI a
/// program on x86-64 or aarch64 can call it through; everything else is allowed, so that it
/// stacks with a caller's filter (the kernel applies the strictest answer of all).
pub fn tiocsti_filter() -> Vec<u8> {
    // Jumps are relative to the next instruction; the labels are the indices below.
    const ARG: usize = 12;
    const ALLOW: usize = 15;
    const DENY: usize = 16;
    let to = |from: usize, label: usize| (label - from - 1) as u8;
    let prog = [
        insn(LD_W_ABS, 0, 0, ARCH),                                // 0
        insn(JEQ_K, to(1, 5), 0, ARCH_X86_64),                     // 1
        insn(JEQ_K, to(2, 8), 0, ARCH_I386),                       // 2
        insn(JEQ_K, to(3, 8), 0, ARCH_ARM),                        // 3
        insn(JEQ_K, to(4, 10), to(4, ALLOW), ARCH_AARCH64),        // 4
        insn(LD_W_ABS, 0, 0, NR),                                  // 5: x86-64 and x32
        insn(JEQ_K, to(6, ARG), 0, NR_IOCTL_X86_64),               // 6
        insn(JEQ_K, to(7, ARG), to(7, ALLOW), NR_IOCTL_X32),       // 7
        insn(LD_W_ABS, 0, 0, NR),                                  // 8: i386 and arm
        insn(JEQ_K, to(9, ARG), to(9, ALLOW), NR_IOCTL_32),        // 9
        insn(LD_W_ABS, 0, 0, NR),                                  // 10: aarch64
        insn(JEQ_K, to(11, ARG), to(11, ALLOW), NR_IOCTL_AARCH64), // 11
        insn(LD_W_ABS, 0, 0, ARG1_LOW),                            // 12: the request
        insn(JEQ_K, to(13, DENY), 0, TIOCSTI),                     // 13
        insn(JEQ_K, to(14, DENY), to(14, ALLOW), TIOCLINUX),       // 14
        insn(RET_K, 0, 0, RET_ALLOW),                              // 15
        insn(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32),         // 16
    ];
    prog.concat()
}

/// dev.tty.legacy_tiocsti (Linux 6.2+): false where the kernel refuses TIOCSTI to every
/// process without CAP_SYS_ADMIN by itself; None where the setting does not exist.
pub fn legacy_tiocsti() -> Option<bool> {
    std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .ok()
        .map(|s| s.trim() != "0")
}

fn failure(syscall: &'static str, call: &str, errno: Errno, cause: &str) -> Failure {
    failure_at(Step::Terminal, syscall, call, errno, cause)
}

fn failure_at(step: Step, syscall: &'static str, call: &str, errno: Errno, cause: &str) -> Failure {
    Failure::Spawn {
        errno,
        step: step.name(),
        index: None,
        syscall,
        call: call.into(),
        cause: Some(cause.into()),
        path: None,
    }
}

/// The words for a failed 'terminal' step; `index` is the call (child.rs, open_terminal and
/// take_terminal).
pub fn describe(plan: &super::SpawnPlan, index: u32, errno: Errno) -> Failure {
    let sandboxed = plan.mounts.is_some() || plan.rootfs.is_some();
    let mut path = None;
    let (syscall, call, cause): (&'static str, &str, String) = match index {
        0 => {
            path = Some("/dev/ptmx".to_string());
            let cause = match errno {
                Errno::ENOENT if sandboxed => "the program's tree has no /dev/ptmx, or no devpts mounted at /dev/pts for it to point to: add a { type: 'dev' } entry to mounts (it mounts a devpts instance of the sandbox's own)"
                    .to_string(),
                Errno::ENOENT => "this system has no /dev/ptmx (or no devpts at /dev/pts)".into(),
                Errno::ENODEV => "/dev/pts next to /dev/ptmx is not a devpts file system, so the kernel cannot tell which instance to make the pty in: mount devpts there (a { type: 'dev' } entry does)"
                    .into(),
                Errno::EACCES | Errno::EPERM => {
                    "the program's user may not open /dev/ptmx (devpts ptmxmode)".into()
                }
                Errno::ENOSPC => "the devpts instance has reached its limit of ptys (kernel.pty.max, or its max= option)"
                    .into(),
                _ => "no pseudo-terminal could be opened".into(),
            };
            ("open", "open('/dev/ptmx')", cause)
        }
        1 => {
            path = Some("/dev/ptmx".to_string());
            let cause = match errno {
                Errno::ENOTTY | Errno::EINVAL => {
                    "/dev/ptmx is not the pty multiplexer (a file or another device is there)"
                }
                _ => "the new pty could not be unlocked",
            };
            ("ioctl", "ioctl(TIOCSPTLCK)", cause.into())
        }
        2 => (
            "ioctl",
            "ioctl(TIOCSWINSZ)",
            "the terminal's size could not be set".into(),
        ),
        3 => (
            "ioctl",
            "ioctl(TIOCGPTPEER)",
            "the pty's slave side could not be opened (Linux 4.13+ is needed)".into(),
        ),
        4 => (
            "sendmsg",
            "sendmsg(SCM_RIGHTS)",
            "the pty's master could not be sent to this process".into(),
        ),
        5 => (
            "setsid",
            "setsid()",
            "the program could not get a session of its own".into(),
        ),
        6 => (
            "ioctl",
            "ioctl(TIOCSCTTY)",
            "the pty could not become the program's controlling terminal".into(),
        ),
        7 => (
            "dup3",
            "dup3(pty, 0-2)",
            "the pty could not be put on fds 0-2".into(),
        ),
        _ => (
            "ioctl",
            "ioctl(TIOCSPGRP)",
            "the program's group could not be put in the terminal's foreground".into(),
        ),
    };
    Failure::Spawn {
        errno,
        step: Step::Terminal.name(),
        index: None,
        syscall,
        call: call.into(),
        cause: Some(cause),
        path,
    }
}

/// An fd the child sent over `sock` before it exec'd (queued there by then): a forwarded
/// port's socket or the pty master.
pub fn receive_fd(sock: RawFd, step: Step, what: &str) -> Outcome<OwnedFd> {
    let mut fds = receive_fds(sock, 1, step, what)?;
    fds.pop().ok_or_else(|| no_fds(step, what))
}

/// `n` fds the child sent in one message over `sock` (queued there by then).
pub fn receive_fds(sock: RawFd, n: usize, step: Step, what: &str) -> Outcome<Vec<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // Room for one cmsghdr carrying n fds, aligned as the kernel writes it.
    // SAFETY: arithmetic.
    let space = unsafe { libc::CMSG_SPACE((n * 4) as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is plain data; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = (control.len() * 8) as _;
    // SAFETY: recvmsg into the buffers above.
    let rc = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
    if rc < 0 {
        return Err(failure_at(
            step,
            "recvmsg",
            &format!("recvmsg({what})"),
            Errno::last(),
            &format!("the child did not send the {what}"),
        ));
    }
    let mut fds = Vec::with_capacity(n);
    // SAFETY: walks the control data the kernel wrote into `msg`; each fd is ours from here.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !cmsg.is_null()
            && (*cmsg).cmsg_level == libc::SOL_SOCKET
            && (*cmsg).cmsg_type == libc::SCM_RIGHTS
        {
            let data = libc::CMSG_DATA(cmsg) as *const RawFd;
            let header = libc::CMSG_LEN(0) as usize;
            let got = ((*cmsg).cmsg_len as usize).saturating_sub(header) / 4;
            for i in 0..got {
                fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
            }
        }
    }
    // A truncated message (MSG_CTRUNC) or a short one: what came is closed with `fds`.
    if fds.len() != n || msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(no_fds(step, what));
    }
    Ok(fds)
}

fn no_fds(step: Step, what: &str) -> Failure {
    failure_at(
        step,
        "recvmsg",
        &format!("recvmsg({what})"),
        Errno::EPROTO,
        "the child's message carried no file descriptor, or fewer than it should",
    )
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: flags of an fd the relay owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// What JavaScript gets: its end of the relay's socket, a duplicate of it for runtimes that
/// write through a stream of their own (Bun), and a duplicate of the master for TIOCSWINSZ
/// (all close-on-exec).
pub struct Relayed {
    pub socket: RawFd,
    pub writer: RawFd,
    pub control: RawFd,
}

/// Starts the thread that copies between `master` and a new socket; returns the other end.
pub fn relay(master: OwnedFd) -> Outcome<Relayed> {
    let mut sv = [-1; 2];
    // SAFETY: sv has room for two fds.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    } < 0
    {
        return Err(failure(
            "socketpair",
            "socketpair(AF_UNIX, SOCK_STREAM)",
            Errno::last(),
            "no socket for the terminal's stream",
        ));
    }
    // SAFETY: both just created and owned here.
    let (js, ours) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    let dup = |fd: &OwnedFd, what: &str| {
        fd.try_clone().map_err(|e| {
            failure(
                "fcntl",
                "fcntl(F_DUPFD_CLOEXEC)",
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EMFILE)),
                what,
            )
        })
    };
    let control = dup(
        &master,
        "the terminal's master could not be duplicated for resizing",
    )?;
    let writer = dup(&js, "the terminal's socket could not be duplicated")?;
    std::thread::Builder::new()
        .name("linux-clone tty".into())
        .stack_size(128 * 1024)
        .spawn(move || pump(master, ours))
        .map_err(|e| {
            failure(
                "pthread_create",
                "pthread_create(terminal relay)",
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)),
                "no thread could be started to relay the terminal",
            )
        })?;
    Ok(Relayed {
        socket: std::os::fd::IntoRawFd::into_raw_fd(js),
        writer: std::os::fd::IntoRawFd::into_raw_fd(writer),
        control: std::os::fd::IntoRawFd::into_raw_fd(control),
    })
}

const CHUNK: usize = 64 * 1024;

/// Bytes read from one fd and not yet written to the other.
struct Pending {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Pending {
    fn empty(&self) -> bool {
        self.start == self.end
    }

    /// Reads into an empty buffer: Some(n), None at EOF (a master's EIO is its EOF: every
    /// slave fd is closed), or Err(EAGAIN) when there is nothing yet.
    fn fill(&mut self, fd: RawFd) -> Result<Option<usize>, Errno> {
        // SAFETY: reads into our own buffer.
        let n = unsafe { libc::read(fd, self.buf.as_mut_ptr().cast(), self.buf.len()) };
        if n < 0 {
            let e = Errno::last();
            return match e {
                Errno::EAGAIN | Errno::EINTR => Err(Errno::EAGAIN),
                _ => Ok(None),
            };
        }
        if n == 0 {
            return Ok(None);
        }
        self.start = 0;
        self.end = n as usize;
        Ok(Some(n as usize))
    }

    /// Writes what is pending; Err for a peer that is gone.
    fn flush(&mut self, fd: RawFd, socket: bool) -> Result<(), Errno> {
        while !self.empty() {
            let data = &self.buf[self.start..self.end];
            // SAFETY: writes from our own buffer; MSG_NOSIGNAL: a closed peer is EPIPE, no signal.
            let n = unsafe {
                if socket {
                    libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL)
                } else {
                    libc::write(fd, data.as_ptr().cast(), data.len())
                }
            };
            if n < 0 {
                let e = Errno::last();
                if e == Errno::EAGAIN || e == Errno::EINTR {
                    return Ok(());
                }
                return Err(e);
            }
            self.start += n as usize;
        }
        Ok(())
    }
}

/// The relay: program output to the socket until the master's EOF (then the socket's write
/// side is shut, which JavaScript sees as 'end' after the last byte), socket input to the
/// master until the socket's EOF. Ends when the output is done, or when JavaScript closed its
/// end (the master is closed then, which hangs up the program's terminal).
fn pump(master: OwnedFd, sock: OwnedFd) {
    let (m, s) = (master.as_raw_fd(), sock.as_raw_fd());
    set_nonblocking(m);
    set_nonblocking(s);
    let mut out = Pending {
        buf: vec![0; CHUNK],
        start: 0,
        end: 0,
    };
    let mut input = Pending {
        buf: vec![0; CHUNK],
        start: 0,
        end: 0,
    };
    let (mut master_eof, mut sock_eof) = (false, false);
    loop {
        if master_eof && out.empty() {
            // SAFETY: our end of the socket.
            unsafe { libc::shutdown(s, libc::SHUT_WR) };
            return;
        }
        let mut fds = [
            libc::pollfd {
                fd: m,
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: s,
                events: 0,
                revents: 0,
            },
        ];
        if !master_eof && out.empty() {
            fds[0].events |= libc::POLLIN;
        }
        if !input.empty() {
            fds[0].events |= libc::POLLOUT;
        }
        if !sock_eof && input.empty() {
            fds[1].events |= libc::POLLIN;
        }
        if !out.empty() {
            fds[1].events |= libc::POLLOUT;
        }
        // A master whose slave is closed reports POLLHUP whatever it is asked: leave it out
        // while output waits for room in the socket. The socket stays in for its POLLHUP.
        if fds[0].events == 0 {
            fds[0].fd = -1;
        }
        // SAFETY: polls two fds we own.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        // JavaScript closed its end altogether.
        if fds[1].revents & libc::POLLHUP != 0 && fds[1].revents & libc::POLLIN == 0 {
            return;
        }
        if fds[0].revents != 0 && out.empty() && !master_eof {
            match out.fill(m) {
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => master_eof = true,
            }
        }
        if out.flush(s, true).is_err() {
            return;
        }
        if fds[1].revents != 0 && input.empty() && !sock_eof {
            match input.fill(s) {
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => sock_eof = true,
            }
        }
        // Input the program can no longer read (its terminal is gone) is dropped.
        if input.flush(m, false).is_err() {
            input.start = input.end;
        }
    }
}

/// TIOCSWINSZ on the master: the terminal's new size; the program's foreground group gets
/// SIGWINCH from the kernel.
#[napi(js_name = "_terminalResize")]
pub fn terminal_resize(env: Env, fd: i32, cols: u32, rows: u32) -> napi::Result<()> {
    let ws = libc::winsize {
        ws_row: rows as u16,
        ws_col: cols as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from our stack.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    let outcome = if rc < 0 {
        Err(Failure::sys(
            Errno::last(),
            "ioctl",
            format!("ioctl(TIOCSWINSZ, {cols}x{rows})"),
            Some("the terminal's size could not be set".into()),
        ))
    } else {
        Ok(())
    };
    to_js(&env, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_jumps_stay_inside_and_every_path_returns() {
        let prog = tiocsti_filter();
        assert_eq!(prog.len() % 8, 0);
        let n = prog.len() / 8;
        for i in 0..n {
            let code = u16::from_ne_bytes([prog[i * 8], prog[i * 8 + 1]]);
            if code == JEQ_K {
                assert!(i + 1 + (prog[i * 8 + 2] as usize) < n);
                assert!(i + 1 + (prog[i * 8 + 3] as usize) < n);
            }
        }
        assert_eq!(
            u16::from_ne_bytes([prog[(n - 1) * 8], prog[(n - 1) * 8 + 1]]),
            RET_K
        );
    }
}
