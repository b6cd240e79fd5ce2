//! Reaping children: waitpid(2) on the calling thread, and waitExit() through the package's one
//! reaper thread (reaper.rs), which delivers into JavaScript through a threadsafe function.
//!
//! waitpid and waitid go through libc, not nix: nix's wrappers decode the status and drop the
//! raw value WaitResult reports, and they fail (waitpid) or panic (waitid) on a child killed by
//! a real-time signal, after it has been reaped. pidfd_open and pidfd_send_signal have no nix
//! wrapper.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use napi::bindgen_prelude::PromiseRaw;
use napi::{sys, Either, Env, JsValue, Unknown};
use napi_derive::napi;
use nix::errno::Errno;

use crate::args;
use crate::errors::{to_js, Failure, Outcome};
use crate::flags::{bit_names, __WALL, __WCLONE, WAIT_OPTION_NAMES};
use crate::pidfd::open_pidfd;
use crate::signals;

const PID_MAX: i64 = i32::MAX as i64;

/// How a child changed state, as waitpid() and waitExit() report it.
#[napi(object, use_nullable = true)]
pub struct WaitResult {
    /// The child's pid.
    pub pid: i32,
    /// The raw wait status, as waitpid(2) stores it.
    pub status: i32,
    /// The exit code if the child exited (WIFEXITED), else null.
    pub exit_code: Option<i32>,
    /// The signal that killed the child, such as 'SIGKILL' (WIFSIGNALED), else null. Real-time
    /// signals read 'SIGRTMIN+N'.
    pub signal: Option<String>,
    /// Whether the child dumped core as it was killed (WCOREDUMP).
    pub core_dumped: bool,
    /// The signal that stopped the child (WIFSTOPPED, reported with WUNTRACED), else null.
    pub stop_signal: Option<String>,
    /// Whether a stopped child was resumed by SIGCONT (WIFCONTINUED, reported with WCONTINUED).
    pub continued: bool,
}

/// Decodes a raw wait status.
pub(crate) fn decode(pid: i32, status: i32) -> WaitResult {
    let signaled = libc::WIFSIGNALED(status);
    let stopped = libc::WIFSTOPPED(status);
    WaitResult {
        pid,
        status,
        exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: signaled.then(|| signals::name(libc::WTERMSIG(status))),
        core_dumped: signaled && libc::WCOREDUMP(status),
        stop_signal: stopped.then(|| signals::name(libc::WSTOPSIG(status))),
        continued: libc::WIFCONTINUED(status),
    }
}

fn option_names(options: u32) -> String {
    bit_names(WAIT_OPTION_NAMES, options)
}

/// The options waitpid() passes: the caller's, plus __WALL unless the caller chose between
/// __WALL and __WCLONE. Without either, the kernel only finds children whose exit signal is
/// SIGCHLD, and clone() may have given them another one or none.
fn with_wall(options: u32) -> u32 {
    if options & (__WALL | __WCLONE) == 0 {
        options | __WALL
    } else {
        options
    }
}

/// waitpid(2), retried on EINTR: `(pid, raw status)`, or None for a WNOHANG child that still
/// runs.
fn wait_raw(pid: i32, options: u32) -> Result<Option<(i32, i32)>, Errno> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: status is a live c_int for the kernel to fill.
        let rc = unsafe { libc::waitpid(pid, &mut status, options as libc::c_int) };
        match rc {
            0 => return Ok(None),
            rc if rc > 0 => return Ok(Some((rc, status))),
            _ => match Errno::last() {
                Errno::EINTR => continue,
                errno => return Err(errno),
            },
        }
    }
}

fn waitpid_failure(errno: Errno, pid: i32, options: u32) -> Failure {
    let cause = match errno {
        Errno::ECHILD => Some(match pid {
            -1 => "this process has no unwaited children".to_string(),
            0 => "no unwaited child of this process is in its process group".to_string(),
            p if p < -1 => format!(
                "no unwaited child of this process is in process group {}",
                -p
            ),
            p if options & __WCLONE != 0 && is_unwaited_child(p) => format!(
                "{p} is a child whose exit signal is SIGCHLD, and __WCLONE waits only for \
                 children with another exit signal or none: leave __WCLONE out"
            ),
            p => not_our_child(p),
        }),
        Errno::EINVAL => {
            let valid = WAIT_OPTION_NAMES.iter().fold(0, |all, (bit, _)| all | bit);
            let invalid = options & !valid;
            (invalid != 0).then(|| {
                format!(
                    "{invalid:#x} is not a waitpid option (it takes WNOHANG, WUNTRACED, \
                     WCONTINUED, __WALL, __WCLONE and __WNOTHREAD)"
                )
            })
        }
        Errno::ESRCH => Some(format!("no process group {}", pid.unsigned_abs())),
        _ => None,
    };
    Failure::sys(
        errno,
        "waitpid",
        format!("waitpid({pid}, {})", option_names(options)),
        cause,
    )
}

/// Whether `pid` is a child of this process that has not been reaped, whatever its exit signal.
fn is_unwaited_child(pid: i32) -> bool {
    // SAFETY: a zeroed siginfo_t is valid for the kernel to fill; WNOWAIT reaps nothing.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a live local.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED
                | libc::WSTOPPED
                | libc::WCONTINUED
                | libc::WNOHANG
                | libc::WNOWAIT
                | libc::__WALL,
        )
    };
    rc == 0
}

fn not_our_child(pid: i32) -> String {
    format!(
        "{pid} is not an unwaited child of this process: it was already reaped (by waitpid or \
         waitExit), was never its child, or is a child_process child, which libuv reaps itself"
    )
}

/// Waits for a child to change state: waitpid(2), synchronously (it blocks the thread unless
/// `options` has WNOHANG). Returns null only with WNOHANG while the child still runs.
///
/// `pid` is a child's pid, or -1 (any child), 0 (any child in this process group) or -PGID
/// (any child in that group). Those three also reap child_process children, whose exit libuv
/// then never sees: prefer a pid. `options` is a mask of WNOHANG, WUNTRACED, WCONTINUED,
/// __WALL and __WCLONE; __WALL is added unless __WALL or __WCLONE is given, so that children
/// cloned with an exit signal other than SIGCHLD (or none) are found too.
#[napi(ts_args_type = "pid: number, options?: number")]
pub fn waitpid(env: Env, pid: Unknown, options: Unknown) -> napi::Result<Option<WaitResult>> {
    let outcome =
        wait_checked(&pid, &options).map(|reaped| reaped.map(|(pid, status)| decode(pid, status)));
    to_js(&env, outcome)
}

/// waitpid() with its arguments checked: `(pid, raw status)`, or None for a WNOHANG child that
/// still runs.
fn wait_checked(pid: &Unknown, options: &Unknown) -> Outcome<Option<(i32, i32)>> {
    let pid = args::integer(pid, "pid", -PID_MAX, PID_MAX)? as i32;
    let options = with_wall(args::opt_flags(options, "options", 0)?);
    wait_raw(pid, options).map_err(|errno| waitpid_failure(errno, pid, options))
}

/// waitpid() as the package's `waitpid` calls it: a child that exited comes back as one small
/// integer, `pid * 256 + exit code`, from which JavaScript makes the WaitResult several times
/// faster than Node-API builds an object; any other change of state comes back as the
/// WaitResult itself.
#[napi(
    js_name = "_waitpidPacked",
    ts_args_type = "pid: number, options?: number",
    ts_return_type = "number | WaitResult | null"
)]
pub fn waitpid_packed(
    env: Env,
    pid: Unknown,
    options: Unknown,
) -> napi::Result<Option<Either<i32, WaitResult>>> {
    let outcome =
        wait_checked(&pid, &options).map(|reaped| reaped.map(|(pid, status)| pack(pid, status)));
    to_js(&env, outcome)
}

/// A child that exited as `pid * 256 + exit code` (a small integer for V8), anything else (or
/// a pid too large for that) decoded.
fn pack(pid: i32, status: i32) -> Either<i32, WaitResult> {
    if libc::WIFEXITED(status) && status == libc::WEXITSTATUS(status) << 8 {
        if let Some(packed) = pid.checked_mul(256) {
            return Either::A(packed + libc::WEXITSTATUS(status));
        }
    }
    Either::B(decode(pid, status))
}

/// The flags of the waiter's waitid; the JS thread's check adds WNOHANG|WNOWAIT.
const WAIT_EXIT: libc::c_int = libc::WEXITED | libc::__WALL;
const CHECK_CHILD: libc::c_int = WAIT_EXIT | libc::WNOHANG | libc::WNOWAIT;

fn waitid_flag_names(flags: libc::c_int) -> &'static str {
    if flags == CHECK_CHILD {
        "WEXITED|WNOHANG|WNOWAIT|__WALL"
    } else {
        "WEXITED|__WALL"
    }
}

/// waitid(P_PIDFD, ...), retried on EINTR. With WNOHANG, `si_pid` is 0 while the child runs.
fn waitid_pidfd(pid: i32, pidfd: BorrowedFd, flags: libc::c_int) -> Outcome<libc::siginfo_t> {
    loop {
        // SAFETY: a zeroed siginfo_t is valid; with WNOHANG the kernel may leave it untouched.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is live for the kernel to fill; the pidfd is open.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                flags,
            )
        };
        if rc == 0 {
            return Ok(info);
        }
        let errno = Errno::last();
        if errno == Errno::EINTR {
            continue;
        }
        let cause = match errno {
            Errno::ECHILD if flags == CHECK_CHILD => Some(not_our_child(pid)),
            Errno::ECHILD => Some(format!(
                "{pid} was reaped by another wait (waitpid or waitExit) before this one"
            )),
            Errno::EINVAL => Some("waitid(P_PIDFD) needs Linux 5.4 or later".to_string()),
            _ => None,
        };
        return Err(Failure::sys(
            errno,
            "waitid",
            format!(
                "waitid(P_PIDFD, pidfd of {pid}, {})",
                waitid_flag_names(flags)
            ),
            cause,
        ));
    }
}

/// The raw wait status waitpid(2) would have given for a waitid(2) result.
pub(crate) fn status_from_siginfo(code: libc::c_int, si_status: libc::c_int) -> i32 {
    match code {
        libc::CLD_EXITED => (si_status & 0xff) << 8,
        libc::CLD_KILLED => si_status & 0x7f,
        libc::CLD_DUMPED => (si_status & 0x7f) | 0x80,
        libc::CLD_STOPPED | libc::CLD_TRAPPED => ((si_status & 0xff) << 8) | 0x7f,
        _ => 0xffff, // CLD_CONTINUED
    }
}

fn reject(env: &Env, deferred: sys::napi_deferred, failure: &Failure) -> napi::Result<()> {
    let error = failure.to_js_value(env)?;
    // SAFETY: deferred is this promise's, settled only here; error is a value of env.
    let status = unsafe { sys::napi_reject_deferred(env.raw(), deferred, error.raw()) };
    napi::check_status!(status)
}

/// Why waitExit() could not start waiting.
enum NotStarted {
    Failure(Failure),
    Napi(napi::Error),
}

impl From<Failure> for NotStarted {
    fn from(f: Failure) -> Self {
        NotStarted::Failure(f)
    }
}

fn start_wait(env: &Env, pid: &Unknown, deferred: sys::napi_deferred) -> Result<(), NotStarted> {
    let pid = args::integer(pid, "pid", 1, PID_MAX)? as i32;
    if crate::clone::in_clone_child() {
        // The promise could only settle on an event loop turn, and none comes inside the
        // callback: the child would end with a wait registered for nobody.
        return Err(Failure::State {
            code: "ERR_UNSAFE_IN_CLONE_CALLBACK",
            message: format!(
                "waitExit({pid}) settles on the event loop, which does not turn inside a clone() \
                 callback: call waitpid() there, or waitExit() after clone() has returned"
            ),
        }
        .into());
    }
    let raw = open_pidfd(pid.into()).map_err(|f| match f {
        Failure::Sys {
            errno: Errno::ESRCH,
            syscall,
            call,
            ..
        } => Failure::sys(
            Errno::ESRCH,
            syscall,
            call,
            Some(format!(
                "no process with pid {pid}: it has exited and been reaped, or never existed"
            )),
        ),
        f => f,
    })?;
    // SAFETY: pidfd_open just returned this fd, and nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    // Fails now, not on the reaper thread, if pid is not ours to wait for.
    waitid_pidfd(pid, pidfd.as_fd(), CHECK_CHILD)?;
    // From here the reaper owns the pidfd and settles the promise.
    let raw = std::os::fd::IntoRawFd::into_raw_fd(pidfd);
    match crate::reaper::watch(
        env,
        pid,
        raw,
        crate::reaper::Notify::Promise(deferred),
        None,
    ) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(failure)) => {
            // SAFETY: the reaper did not take the fd.
            unsafe { libc::close(raw) };
            Err(NotStarted::Failure(failure))
        }
        Err(e) => {
            // SAFETY: as above.
            unsafe { libc::close(raw) };
            Err(NotStarted::Napi(e))
        }
    }
}

/// Resolves when child `pid` exits, with how it ended; never blocks the JS thread.
///
/// The package's one reaper thread watches a pidfd of the child (so a reused pid cannot be
/// mistaken for it), reaps it with waitid(2), and the promise settles on this thread: 5,000
/// pending waits cost that one thread. While it waits it keeps the event loop alive, and only
/// then. If the child is reaped by a waitpid() first, or by
/// another waitExit(), the other one rejects with ECHILD: whichever reaps first wins. Do not use
/// it on child_process children: libuv reaps those and would miss their exit. A Worker that is
/// terminated while waiting leaves the reaper to reap the child quietly when it exits; at a
/// process's exit, children that have already exited are reaped, and the others pass to
/// whoever inherits them (init or a subreaper), as every orphan does. Every failure rejects the promise (ECHILD if `pid` is not an unwaited child of this
/// process, ESRCH if there is no such process; `ERR_UNSAFE_IN_CLONE_CALLBACK` inside a clone()
/// callback, whose threads end with the child). Needs Linux 5.4+.
#[napi(ts_args_type = "pid: number", ts_return_type = "Promise<WaitResult>")]
pub fn wait_exit(env: Env, pid: Unknown) -> napi::Result<PromiseRaw<'static, WaitResult>> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: env is the live environment of this call.
    let status = unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) };
    napi::check_status!(status)?;
    match start_wait(&env, &pid, deferred) {
        Ok(()) => {}
        Err(NotStarted::Failure(failure)) => reject(&env, deferred, &failure)?,
        Err(NotStarted::Napi(error)) => {
            // SAFETY: env is live; the error becomes a JS value of it.
            let value = unsafe { napi::JsError::from(error).into_value(env.raw()) };
            // SAFETY: deferred is this promise's and was not settled.
            let status = unsafe { sys::napi_reject_deferred(env.raw(), deferred, value) };
            napi::check_status!(status)?;
        }
    }
    Ok(PromiseRaw::new(env.raw(), promise))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{WNOHANG, WUNTRACED};
    use crate::pidfd::send_signal;
    use nix::sys::pthread::{pthread_kill, pthread_self};
    use nix::sys::signal::Signal;
    use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet};
    use nix::unistd::{fork, ForkResult, Pid};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A child that runs `body` and never returns into the test harness. The body may only
    /// make async-signal-safe calls: the test process has other threads.
    fn child(body: fn() -> !) -> i32 {
        // SAFETY: the child only runs `body`, which makes raw syscalls and exits.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => body(),
            ForkResult::Parent { child } => child.as_raw(),
        }
    }

    #[test]
    fn only_an_exit_is_packed_and_every_status_keeps_its_meaning() {
        let exited = |code: i32| code << 8;
        for (pid, code) in [(1, 0), (4_194_304, 255), (123, 7)] {
            match pack(pid, exited(code)) {
                Either::A(packed) => assert_eq!((packed >> 8, packed & 0xff), (pid, code)),
                Either::B(r) => panic!("{} not packed", r.pid),
            }
        }
        // Killed, dumped, stopped, continued, and a pid too large to pack: decoded in full.
        for (pid, status) in [
            (5, libc::SIGKILL),
            (5, libc::SIGSEGV | 0x80),
            (5, (libc::SIGSTOP << 8) | 0x7f),
            (5, 0xffff),
            (i32::MAX, exited(3)),
        ] {
            match pack(pid, status) {
                Either::B(r) => {
                    let d = decode(pid, status);
                    assert_eq!(
                        (r.pid, r.status, r.exit_code),
                        (d.pid, d.status, d.exit_code)
                    );
                    assert_eq!((r.signal, r.stop_signal), (d.signal, d.stop_signal));
                }
                Either::A(p) => panic!("{status:#x} packed as {p}"),
            }
        }
    }

    fn exit_7() -> ! {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(7) }
    }

    fn pause_forever() -> ! {
        loop {
            // SAFETY: pause is async-signal-safe.
            unsafe { libc::pause() };
        }
    }

    fn pidfd_of(pid: i32) -> OwnedFd {
        let fd = open_pidfd(pid.into()).expect("pidfd_open");
        // SAFETY: a new fd nothing else owns.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    #[test]
    fn statuses_decode_as_the_c_macros_say() {
        let exited = decode(10, 77 << 8);
        assert_eq!(
            (exited.pid, exited.exit_code, exited.signal),
            (10, Some(77), None)
        );
        let killed = decode(10, libc::SIGKILL);
        assert_eq!(killed.exit_code, None);
        assert_eq!(killed.signal.as_deref(), Some("SIGKILL"));
        assert!(!killed.core_dumped);
        let dumped = decode(10, libc::SIGABRT | 0x80);
        assert_eq!(dumped.signal.as_deref(), Some("SIGABRT"));
        assert!(dumped.core_dumped);
        let stopped = decode(10, (libc::SIGSTOP << 8) | 0x7f);
        assert_eq!(stopped.stop_signal.as_deref(), Some("SIGSTOP"));
        assert_eq!((stopped.exit_code, stopped.signal.as_deref()), (None, None));
        assert!(decode(10, 0xffff).continued);
        let rt = decode(10, libc::SIGRTMIN() + 3);
        assert_eq!(rt.signal.as_deref(), Some("SIGRTMIN+3"));
    }

    #[test]
    fn waitid_statuses_rebuild_the_waitpid_status() {
        assert_eq!(status_from_siginfo(libc::CLD_EXITED, 77), 77 << 8);
        assert_eq!(
            status_from_siginfo(libc::CLD_KILLED, libc::SIGTERM),
            libc::SIGTERM
        );
        assert_eq!(
            status_from_siginfo(libc::CLD_DUMPED, libc::SIGSEGV),
            libc::SIGSEGV | 0x80
        );
        let stopped = status_from_siginfo(libc::CLD_STOPPED, libc::SIGSTOP);
        assert!(libc::WIFSTOPPED(stopped) && libc::WSTOPSIG(stopped) == libc::SIGSTOP);
        assert!(libc::WIFCONTINUED(status_from_siginfo(
            libc::CLD_CONTINUED,
            libc::SIGCONT
        )));
    }

    #[test]
    fn options_are_named_and_get_wall_unless_a_choice_was_made() {
        assert_eq!(option_names(with_wall(0)), "__WALL");
        assert_eq!(
            option_names(with_wall(WNOHANG | WUNTRACED)),
            "WNOHANG|WUNTRACED|__WALL"
        );
        assert_eq!(option_names(with_wall(__WCLONE)), "__WCLONE");
        assert_eq!(option_names(0x4 | WNOHANG), "WNOHANG|0x4");
    }

    #[test]
    fn waitpid_reaps_an_exited_child_and_then_it_is_echild() {
        let pid = child(exit_7);
        let (reaped, status) = wait_raw(pid, with_wall(0))
            .expect("waitpid")
            .expect("a status");
        assert_eq!((reaped, status), (pid, 7 << 8));
        assert_eq!(decode(reaped, status).exit_code, Some(7));
        assert_eq!(wait_raw(pid, with_wall(0)), Err(Errno::ECHILD));
        let failure = waitpid_failure(Errno::ECHILD, pid, with_wall(0));
        assert!(
            failure.message().contains("not an unwaited child"),
            "{}",
            failure.message()
        );
    }

    #[test]
    fn wnohang_is_none_while_the_child_runs_then_the_signal_that_killed_it() {
        let pid = child(pause_forever);
        assert_eq!(wait_raw(pid, with_wall(WNOHANG)), Ok(None));
        kill(Pid::from_raw(pid), Signal::SIGTERM).expect("kill");
        let (_, status) = wait_raw(pid, with_wall(0))
            .expect("waitpid")
            .expect("a status");
        assert_eq!(decode(pid, status).signal.as_deref(), Some("SIGTERM"));
    }

    #[test]
    fn a_child_without_exit_signal_is_found_only_with_wall() {
        // A fork-like clone(2) with no exit signal in the low byte: nix has no raw clone
        // without a callback stack.
        // SAFETY: without CLONE_VM the child has its own copy of memory; it only calls _exit.
        let rc = unsafe { libc::syscall(libc::SYS_clone, 0, 0, 0, 0, 0) };
        if rc == 0 {
            // SAFETY: _exit is async-signal-safe.
            unsafe { libc::_exit(5) };
        }
        assert!(rc > 0, "clone: {}", Errno::last());
        let pid = rc as i32;
        // Let it exit, so a plain wait would have found it if it could.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(wait_raw(pid, WNOHANG), Err(Errno::ECHILD));
        let (_, status) = wait_raw(pid, with_wall(0))
            .expect("waitpid")
            .expect("a status");
        assert_eq!(decode(pid, status).exit_code, Some(5));
    }

    static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn count_interrupt(_: libc::c_int) {
        INTERRUPTS.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs `wait` with SIGUSR1 (caught without SA_RESTART, so a blocked syscall fails with
    /// EINTR) sent to this thread while it blocks on a child that exits with 3 later.
    fn interrupted<T>(wait: impl FnOnce(i32) -> T) -> T {
        let handler = SigAction::new(
            SigHandler::Handler(count_interrupt),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only touches an atomic.
        unsafe { sigaction(Signal::SIGUSR1, &handler) }.expect("sigaction");
        let pid = child(|| {
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 300_000_000,
            };
            // SAFETY: nanosleep and _exit are async-signal-safe.
            unsafe {
                libc::nanosleep(&pause, std::ptr::null_mut());
                libc::_exit(3)
            }
        });
        let me = pthread_self();
        let before = INTERRUPTS.load(Ordering::SeqCst);
        let interrupter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            pthread_kill(me, Signal::SIGUSR1).expect("pthread_kill");
        });
        let result = wait(pid);
        interrupter.join().expect("interrupter");
        assert!(
            INTERRUPTS.load(Ordering::SeqCst) > before,
            "the wait was not interrupted"
        );
        result
    }

    #[test]
    fn waitpid_carries_on_after_eintr() {
        let (pid, status) = interrupted(|pid| wait_raw(pid, with_wall(0)))
            .expect("waitpid")
            .expect("a status");
        assert_eq!(decode(pid, status).exit_code, Some(3));
    }

    #[test]
    fn waitid_on_a_pidfd_carries_on_after_eintr_and_rebuilds_the_status() {
        let info =
            interrupted(|pid| waitid_pidfd(pid, pidfd_of(pid).as_fd(), WAIT_EXIT)).expect("waitid");
        // SAFETY: waitid filled info for an exited child.
        let status = unsafe { info.si_status() };
        assert_eq!(status_from_siginfo(info.si_code, status), 3 << 8);
    }

    #[test]
    fn the_pidfd_check_leaves_the_child_to_the_waiter() {
        let pid = child(pause_forever);
        let pidfd = pidfd_of(pid);
        let running = waitid_pidfd(pid, pidfd.as_fd(), CHECK_CHILD).expect("check");
        // SAFETY: with WNOHANG si_pid is 0 (zeroed) while the child runs.
        assert_eq!(unsafe { running.si_pid() }, 0);
        // A real-time signal: nix's wrappers fail on it after reaping the child.
        assert!(Signal::try_from(libc::SIGRTMIN() + 2).is_err());
        send_signal(pidfd.as_raw_fd(), libc::SIGRTMIN() + 2).expect("pidfd_send_signal");
        std::thread::sleep(Duration::from_millis(50));
        let dead = waitid_pidfd(pid, pidfd.as_fd(), CHECK_CHILD).expect("check");
        // SAFETY: filled for a child that has exited; WNOWAIT left it unreaped.
        assert_eq!(unsafe { dead.si_pid() }, pid);
        let info = waitid_pidfd(pid, pidfd.as_fd(), WAIT_EXIT).expect("waitid");
        // SAFETY: as above.
        let status = status_from_siginfo(info.si_code, unsafe { info.si_status() });
        assert_eq!(decode(pid, status).signal, Some("SIGRTMIN+2".to_string()));
        let again = waitid_pidfd(pid, pidfd.as_fd(), WAIT_EXIT).expect_err("reaped");
        assert_eq!(again.code(), "ECHILD");
        assert!(
            again.message().contains("reaped by another wait"),
            "{}",
            again.message()
        );
        let gone = send_signal(pidfd.as_raw_fd(), libc::SIGTERM).expect_err("reaped");
        assert_eq!(gone.code(), "ESRCH");
    }

    #[test]
    fn a_process_that_is_not_our_child_is_echild() {
        assert_eq!(wait_raw(1, with_wall(WNOHANG)), Err(Errno::ECHILD));
    }

    #[test]
    fn the_pidfd_check_is_echild_for_a_process_that_is_not_our_child() {
        let failure = waitid_pidfd(1, pidfd_of(1).as_fd(), CHECK_CHILD).expect_err("not ours");
        assert_eq!(failure.code(), "ECHILD");
        assert!(failure
            .message()
            .starts_with("ECHILD: waitid(P_PIDFD, pidfd of 1, "));
    }
}
