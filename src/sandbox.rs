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
use crate::listen::{self, ListenAt};
use crate::sys::{exit_group, syscall};

/// What the child does and reports; it writes only `fd`, `errno` and `stage`.
#[repr(C)]
struct Listen {
    pidfd: i32,
    nstype: i32,
    at: ListenAt,
    fd: i32,
    errno: i32,
    /// listen::SETNS, or the stage of listen_tcp that failed.
    stage: u32,
}

const STACK: usize = 64 * 1024;

/// The child: raw system calls on `Listen` and its own stack only (it shares our memory while
/// our other threads run), every signal blocked; exits, never returns.
unsafe extern "C" fn listen_child(arg: *mut c_void) -> ! {
    // SAFETY: the parent keeps `Listen` alive and waits for us (CLONE_VFORK).
    unsafe {
        let l = &mut *(arg as *mut Listen);
        let rc = syscall(libc::SYS_setns, l.pidfd as usize, l.nstype as usize, 0, 0);
        if rc < 0 {
            l.stage = listen::SETNS;
            l.errno = -rc as i32;
            exit_group(1);
        }
        // In our fd table (CLONE_FILES).
        match listen::listen_tcp(&l.at) {
            Ok(fd) => {
                l.fd = fd as i32;
                exit_group(0)
            }
            Err((stage, rc)) => {
                l.stage = stage;
                l.errno = -rc as i32;
                exit_group(1)
            }
        }
    }
}

fn listen_in(pidfd: i32, nstype: i32, addr: u32, port: u16, backlog: i32) -> Outcome<i32> {
    let at = ListenAt {
        addr,
        port,
        backlog,
    };
    let mut l = Listen {
        pidfd,
        nstype,
        at,
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
    let errno = Errno::from_raw(l.errno);
    let (syscall, call, cause) = if l.stage == listen::SETNS {
        (
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
        )
    } else {
        listen::describe(l.stage, errno, &at, "the sandbox's")
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
