//! A listening TCP socket made inside another process's network namespace (a sandbox's
//! forwarded port), without moving any thread of this process: a short-lived child that
//! shares our memory and our fd table enters the namespaces through a pidfd, makes the socket
//! and exits; the socket stays in our fd table, served by Node's event loop.

use std::ffi::c_void;

use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;

use crate::args;
use crate::errors::{to_js, Failure, Outcome};
use crate::sys::{exit_group, syscall};

/// What the child does and reports; it writes only `fd`, `errno` and `stage`.
#[repr(C)]
struct Listen {
    pidfd: i32,
    nstype: i32,
    addr: u32,
    port: u16,
    backlog: i32,
    fd: i32,
    errno: i32,
    /// 1 setns, 2 socket, 3 setsockopt, 4 bind, 5 listen.
    stage: u32,
}

const STACK: usize = 64 * 1024;

/// The child: raw system calls on `Listen` and its own stack only (it shares our memory while
/// our other threads run), every signal blocked; exits, never returns.
unsafe extern "C" fn listen_child(arg: *mut c_void) -> ! {
    // SAFETY: the parent keeps `Listen` alive and waits for us (CLONE_VFORK).
    unsafe {
        let l = &mut *(arg as *mut Listen);
        let fail = |l: &mut Listen, stage: u32, rc: isize| -> ! {
            l.stage = stage;
            l.errno = -rc as i32;
            exit_group(1)
        };
        let rc = syscall(libc::SYS_setns, l.pidfd as usize, l.nstype as usize, 0, 0);
        if rc < 0 {
            fail(l, 1, rc);
        }
        let fd = syscall(
            libc::SYS_socket,
            libc::AF_INET as usize,
            (libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as usize,
            0,
            0,
        );
        if fd < 0 {
            fail(l, 2, fd);
        }
        // In our fd table (CLONE_FILES): the parent closes it if a later step fails.
        l.fd = fd as i32;
        let one: i32 = 1;
        let rc = syscall6_setsockopt(fd, &one);
        if rc < 0 {
            fail(l, 3, rc);
        }
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = l.port.to_be();
        sa.sin_addr.s_addr = l.addr.to_be();
        let rc = syscall(
            libc::SYS_bind,
            fd as usize,
            &sa as *const libc::sockaddr_in as usize,
            std::mem::size_of::<libc::sockaddr_in>(),
            0,
        );
        if rc < 0 {
            fail(l, 4, rc);
        }
        let rc = syscall(libc::SYS_listen, fd as usize, l.backlog as usize, 0, 0);
        if rc < 0 {
            fail(l, 5, rc);
        }
        exit_group(0)
    }
}

/// setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1): a forward can be made again at once after a
/// closed one whose connections are in TIME_WAIT.
unsafe fn syscall6_setsockopt(fd: isize, one: &i32) -> isize {
    // SAFETY: a plain int option on our own socket.
    unsafe {
        crate::sys::syscall6(
            libc::SYS_setsockopt,
            [
                fd as usize,
                libc::SOL_SOCKET as usize,
                libc::SO_REUSEADDR as usize,
                one as *const i32 as usize,
                std::mem::size_of::<i32>(),
                0,
            ],
        )
    }
}

fn listen_in(pidfd: i32, nstype: i32, addr: u32, port: u16, backlog: i32) -> Outcome<i32> {
    let mut l = Listen {
        pidfd,
        nstype,
        addr,
        port,
        backlog,
        fd: -1,
        errno: 0,
        stage: 0,
    };
    let mut stack = vec![0u8; STACK];
    // 16-byte aligned, as the ABI wants the stack at a call.
    let top = (stack.as_mut_ptr() as usize + STACK) & !15;
    let arg = &mut l as *mut Listen as *mut c_void;
    // SAFETY: every signal blocked around the clone, so no handler of Node's runs in the
    // child; the old mask back after. The stack and `l` outlive the child (CLONE_VFORK: it has
    // exited when clone returns).
    let rc = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES;
        let rc = crate::sys::clone_into(
            libc::SYS_clone,
            [flags as usize, top, 0, 0, 0],
            listen_child,
            arg,
        );
        if rc > 0 {
            let mut status = 0;
            libc::waitpid(rc as i32, &mut status, libc::__WALL);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        rc
    };
    drop(stack);
    let where_ = format!(
        "{}.{}.{}.{}:{port}",
        addr >> 24,
        (addr >> 16) & 255,
        (addr >> 8) & 255,
        addr & 255
    );
    if rc < 0 {
        return Err(Failure::sys(
            Errno::from_raw(-rc as i32),
            "clone",
            "clone(VM|VFORK|FILES) (the child that makes a forwarded port's socket)".into(),
            None,
        ));
    }
    if l.stage == 0 {
        return Ok(l.fd);
    }
    if l.fd >= 0 {
        // SAFETY: the socket the child made in our fd table; nobody else has it.
        unsafe { libc::close(l.fd) };
    }
    let errno = Errno::from_raw(l.errno);
    let (syscall, call, cause) = match l.stage {
        1 => (
            "setns",
            format!(
                "setns(pidfd {pidfd}, {})",
                crate::flags::unshare_flag_names(nstype as u32)
            ),
            Some(match errno {
                Errno::ESRCH => "the sandbox's init has died".to_string(),
                Errno::EPERM => "no privilege over the sandbox's namespaces".to_string(),
                _ => "the sandbox's namespaces could not be entered".to_string(),
            }),
        ),
        2 => ("socket", "socket(AF_INET, SOCK_STREAM)".to_string(), None),
        3 => ("setsockopt", "setsockopt(SO_REUSEADDR)".to_string(), None),
        4 => (
            "bind",
            format!("bind({where_}) in the sandbox's network namespace"),
            match errno {
                Errno::EADDRINUSE => {
                    Some("something in the sandbox already listens on that port".to_string())
                }
                Errno::EADDRNOTAVAIL => Some(
                    "the sandbox's network namespace has no such address (is lo up?)".to_string(),
                ),
                Errno::EACCES => Some(
                    "a port below 1024 needs CAP_NET_BIND_SERVICE in the sandbox's user namespace"
                        .to_string(),
                ),
                _ => None,
            },
        ),
        _ => ("listen", format!("listen({where_})"), None),
    };
    Err(Failure::sys(errno, syscall, call, cause))
}

/// The native half of `sandbox.forward()`: a listening, non-blocking TCP socket on `addr:port`
/// (`addr` an IPv4 address as a number) inside the namespaces `nstype` of the process behind
/// `pidfd`; returns its fd (close-on-exec).
#[napi(
    js_name = "_listenIn",
    ts_args_type = "pidfd: number, nstype: number, addr: number, port: number, backlog: number"
)]
pub fn listen_in_js(
    env: Env,
    pidfd: Unknown,
    nstype: Unknown,
    addr: Unknown,
    port: Unknown,
    backlog: Unknown,
) -> napi::Result<i32> {
    let outcome = (|| {
        let pidfd = args::integer(&pidfd, "pidfd", 0, i32::MAX as i64)? as i32;
        let nstype = args::integer(&nstype, "nstype", 0, u32::MAX as i64)? as u32 as i32;
        let addr = args::integer(&addr, "addr", 0, u32::MAX as i64)? as u32;
        let port = args::integer(&port, "port", 0, 65535)? as u16;
        let backlog = args::integer(&backlog, "backlog", 0, i32::MAX as i64)? as i32;
        listen_in(pidfd, nstype, addr, port, backlog)
    })();
    to_js(&env, outcome)
}
