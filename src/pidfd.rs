//! pidfds: pidfd_open(2) and pidfd_send_signal(2), and closing a pidfd clone() could not hand
//! over. nix wraps neither syscall, so both go through libc's syscall().

use std::os::fd::BorrowedFd;
use std::ptr;

use napi::bindgen_prelude::ValueType;
use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};

use crate::args;
use crate::errors::{to_js, Failure, Outcome};
use crate::signals;

const PID_MAX: i64 = i32::MAX as i64;

/// Opens a pidfd for process `pid`: pidfd_open(2) (Linux 5.3+). A pidfd refers to that process
/// for as long as it is open, however pids are reused: `setns(pidfd, NEWNET | NEWUTS)` enters
/// several of its namespaces at once. The fd is close-on-exec; close it with `fs.closeSync`.
#[napi(ts_args_type = "pid: number")]
pub fn pidfd_open(env: Env, pid: Unknown) -> napi::Result<i32> {
    to_js(
        &env,
        args::integer(&pid, "pid", 1, PID_MAX).and_then(open_pidfd),
    )
}

pub(crate) fn open_pidfd(pid: i64) -> Outcome<i32> {
    // SAFETY: pidfd_open reads its integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0 as libc::c_uint) };
    if rc >= 0 {
        return Ok(rc as i32);
    }
    let errno = Errno::last();
    let cause = match errno {
        Errno::ESRCH => Some(format!("there is no process {pid}")),
        // Linux 6.9+ says ENOENT for a thread id, older kernels EINVAL.
        Errno::ENOENT | Errno::EINVAL => Some(format!(
            "{pid} is not a process but another thread of one (a pidfd needs a thread group leader)"
        )),
        Errno::ENOSYS => Some("pidfd_open needs Linux 5.3 or later".into()),
        Errno::EMFILE | Errno::ENFILE => Some("too many open files".into()),
        _ => None,
    };
    Err(Failure::sys(
        errno,
        "pidfd_open",
        format!("pidfd_open({pid})"),
        cause,
    ))
}

/// A signal argument: a number 0..64 (0 only checks that the process may be signalled) or a
/// name such as 'SIGTERM', as `process.kill()` takes it.
fn signal_arg(value: &Unknown) -> Outcome<i32> {
    match value.get_type() {
        Ok(ValueType::Number) => Ok(args::integer(value, "signal", 0, signals::MAX.into())? as i32),
        Ok(ValueType::String) => {
            // SAFETY: the type was checked just above.
            let name = unsafe { value.cast::<String>() }
                .map_err(|_| Failure::UnknownSignal(String::new()))?;
            signals::number(&name).ok_or(Failure::UnknownSignal(name))
        }
        _ => Err(Failure::ArgType(format!(
            "The \"signal\" argument must be one of type number or string. {}",
            args::received(value)
        ))),
    }
}

/// Sends a signal to the process a pidfd refers to: pidfd_send_signal(2) (Linux 5.1+). Unlike
/// a pid, a pidfd cannot come to mean another process once this one has exited and its pid is
/// reused: the signal then fails with ESRCH.
///
/// `pidfd` is a pidfd from `pidfdOpen()` (or an fd of a /proc/PID directory); `signal` a number
/// or a name such as 'SIGTERM'. 0 only checks that the process exists and may be signalled.
#[napi(ts_args_type = "pidfd: number | { readonly fd: number }, signal: number | string")]
pub fn pidfd_send_signal(env: Env, pidfd: Unknown, signal: Unknown) -> napi::Result<()> {
    let outcome = (|| {
        let fd = args::fd(&pidfd, "pidfd")?;
        let signo = signal_arg(&signal)?;
        send_signal(fd, signo)
    })();
    to_js(&env, outcome)
}

pub(crate) fn send_signal(fd: i32, signo: i32) -> Outcome<()> {
    // SAFETY: no siginfo is passed (the kernel fills in a kill()'s); the integers are checked.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            signo,
            ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let errno = Errno::last();
    let name = if signo == 0 {
        "0".to_string()
    } else {
        signals::name(signo)
    };
    let cause = match errno {
        Errno::EBADF if is_open(fd) => Some(format!(
            "fd {fd} is not a pidfd: get one from pidfdOpen(pid)"
        )),
        Errno::EBADF => Some(format!("{fd} is not an open file descriptor")),
        Errno::EINVAL => Some(format!(
            "the process of pidfd {fd} is outside this process's pid namespace, or signal \
             {name} is not one this kernel knows"
        )),
        Errno::ESRCH => Some("the process has exited and been reaped".to_string()),
        Errno::EPERM => Some(
            "no permission to signal the process: it runs as another user and this process \
             lacks CAP_KILL"
                .to_string(),
        ),
        Errno::ENOSYS => Some("pidfd_send_signal needs Linux 5.1 or later".to_string()),
        _ => None,
    };
    Err(Failure::sys(
        errno,
        "pidfd_send_signal",
        format!("pidfd_send_signal({fd}, {name})"),
        cause,
    ))
}

fn is_open(fd: i32) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: only used for F_GETFD, which fails with EBADF on a closed fd.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(fd, FcntlArg::F_GETFD).is_ok()
}

/// Closes a pidfd that clone() made but could not hand to the caller (the exec failed, or the
/// `ptid` array went away), so that failures do not leak one fd each.
pub(crate) fn close_unclaimed(fd: i32) {
    if fd >= 0 {
        // SAFETY: the kernel created this fd for this clone() call and nobody else knows it.
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn signalling_a_closed_fd_or_a_file_says_which() {
        let closed = send_signal(999_999, libc::SIGTERM).expect_err("closed");
        assert!(
            closed.message().contains("not an open file descriptor"),
            "{}",
            closed.message()
        );
        let file = std::fs::File::open("/dev/null").expect("/dev/null");
        let not_pidfd = send_signal(file.as_raw_fd(), 0).expect_err("a file");
        assert!(
            not_pidfd.message().contains("is not a pidfd"),
            "{}",
            not_pidfd.message()
        );
    }
}
