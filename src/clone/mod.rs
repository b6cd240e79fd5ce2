//! clone(2) with a JavaScript callback in the child, and what the callback may call.
//!
//! The child is made with CLONE_VM | CLONE_VFORK | CLONE_FILES: it is a new kernel task with
//! namespaces of its own that shares this process's memory and fd table, and the calling
//! thread sleeps in the kernel until the child exits or execs. The callback runs in the child
//! on the same V8 isolate, on the part of the caller's stack below the stack pointer. To every
//! other thread of Node the child looks like the calling thread carrying on, so locks, the heap
//! and the GC behave as if no clone happened; a fork-like child would instead inherit locks
//! held by threads it does not have, and hang.
//!
//! - `mod.rs`: the entry point, its checks, and the parent's side of the call.
//! - `child.rs`: everything the child does, in order, in one function.
//! - `request.rs`: exit() and execve(), which unwind the callback and leave a request.
//! - `report.rs`: what the child prints, and the parent's fatal path.

mod child;
mod report;
mod request;

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

use napi::bindgen_prelude::ValueType;
use napi::{sys, Env, JsValue, Unknown};
use napi_derive::napi;
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use crate::args;
use crate::errors::{to_js, Failure, Outcome, UNSUPPORTED_CLONE_FLAG};
use crate::flags::*;
use crate::{pidfd, signals, threadpool};

/// Room left between the caller's stack pointer and the child's stack: the frames of the clone
/// call itself live there while the parent sleeps in the kernel.
const STACK_GAP: usize = 16 * 1024;
/// The least stack the child needs for its own native frames before V8's limit applies.
const STACK_NEEDED: usize = 64 * 1024;
/// Kept free above the lowest address of the thread's stack (its guard area).
const STACK_FLOOR: usize = 64 * 1024;

/// The child's progress, written by the child into the frame it shares with the parent.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    Started = 0,
    RunningJs = 1,
    Exiting = 2,
    Executing = 3,
    ExecFailed = 4,
    /// The callback left threads behind (a Worker, inspector.open()).
    ThreadsLeft = 5,
}

impl Stage {
    fn from_u8(v: u8) -> Stage {
        match v {
            1 => Stage::RunningJs,
            2 => Stage::Exiting,
            3 => Stage::Executing,
            4 => Stage::ExecFailed,
            5 => Stage::ThreadsLeft,
            _ => Stage::Started,
        }
    }
}

/// One clone() call, shared by the parent (which owns it, on its stack above the child's) and
/// the child (which reads the callback from it and reports back through it).
struct Frame {
    env: sys::napi_env,
    callback: sys::napi_value,
    flags: u32,
    /// getpid() of the parent, for the child to see whether it has been orphaned already.
    parent: i32,
    stage: AtomicU8,
    errno: AtomicI32,
    request: RefCell<request::Request>,
    /// The caller's signal mask, restored in the child before it execs.
    mask: SigSet,
    /// Where the kernel writes the tid or pidfd: here, not in the caller's Int32Array, whose
    /// buffer the callback may detach. Copied there after the child is done.
    ptid: Cell<i32>,
    /// The callback was stopped because no JavaScript may run in this thread any more (its
    /// Worker is being terminated): nobody will learn the pid, so the parent reaps the child.
    stopped: AtomicBool,
}

impl Frame {
    fn stage(&self) -> Stage {
        Stage::from_u8(self.stage.load(Ordering::SeqCst))
    }

    fn set_stage(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::SeqCst);
    }
}

thread_local! {
    // The clone() frame whose child is running on this thread's stack. The child inherits the
    // parent's thread pointer, so it reads the parent's value: non-null means "in a child".
    static CURRENT: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// This process's pid, asked of the kernel once: it is the same on every thread. Only a clone()
/// child, which shares this memory but is another process, asks each time.
static PROCESS_PID: AtomicI32 = AtomicI32::new(0);

fn process_pid() -> i32 {
    if in_clone_child() {
        return crate::sys::getpid();
    }
    match PROCESS_PID.load(Ordering::Relaxed) {
        0 => {
            let pid = crate::sys::getpid();
            PROCESS_PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Whether the code running now is a clone() callback's child (a process of its own).
pub fn in_clone_child() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Whether this clone() child shares root, cwd and umask with the thread that made it (FS).
pub fn child_shares_fs() -> bool {
    with_frame(|frame| frame.flags & FS != 0).unwrap_or(false)
}

fn with_frame<T>(f: impl FnOnce(&Frame) -> T) -> Option<T> {
    let frame = CURRENT.with(|c| c.get());
    // SAFETY: a non-null CURRENT points at the Frame of a clone() call that is still running
    // (the parent restores the previous value before that frame goes away).
    (!frame.is_null()).then(|| f(unsafe { &*frame }))
}

/// Runs `callback` in a child process with new namespaces and returns the child's pid: clone(2)
/// with vfork semantics. The package's `clone()` wraps this one (lib/clone.ts) to keep
/// process.exit and asynchronous child processes from reaching the parent.
///
/// The child is created with `flags | VM | VFORK | FILES`. It runs `callback()` synchronously,
/// inside the namespaces `flags` asks for, and exits with the callback's return value (an
/// integer 0 to 255; undefined means 0; anything else is a TypeError printed by the child and
/// exit status 1). This thread waits until the child has exited or exec'd; then clone()
/// returns. Reap the child with `waitpid()` or `waitExit()`.
///
/// - `stackSize`: accepted for Linux::Clone's signature and ignored; the child runs on this
///   thread's stack under V8's own limit.
/// - The low byte of `flags` is the signal sent to the parent when the child ends: `SIGCHLD`
///   or 0 (none). Any other would kill, stop or debug Node, and is refused.
/// - `ptid`: with PARENT_SETTID it receives the child's tid, with PIDFD a pidfd for the child,
///   when clone() returns.
/// - Refused (`ERR_UNSUPPORTED_CLONE_FLAG`): THREAD and SIGHAND, PARENT, SETTLS, CHILD_SETTID,
///   CHILD_CLEARTID, the tls and ctid arguments, bit 0x80 (NEWTIME) and exit signals other than
///   SIGCHLD.
#[napi(
    js_name = "nativeClone",
    ts_args_type = "callback: () => unknown, stackSize?: number, flags?: number, ptid?: Int32Array, tls?: unknown, ctid?: unknown",
    ts_return_type = "number"
)]
#[allow(clippy::too_many_arguments)]
pub fn clone(
    env: Env,
    callback: Unknown,
    stack_size: Unknown,
    flags: Unknown,
    ptid: Unknown,
    tls: Unknown,
    ctid: Unknown,
) -> napi::Result<i32> {
    let outcome = (|| {
        let call = Call::read(&env, &callback, &stack_size, &flags, &ptid, &tls, &ctid)?;
        run(&env, call)
    })();
    to_js(&env, outcome)
}

/// clone()'s arguments, checked.
struct Call {
    callback: sys::napi_value,
    flags: u32,
    /// The Int32Array, if any; its data pointer is read only right before use.
    ptid: Option<sys::napi_value>,
}

impl Call {
    fn read(
        env: &Env,
        callback: &Unknown,
        stack_size: &Unknown,
        flags: &Unknown,
        ptid: &Unknown,
        tls: &Unknown,
        ctid: &Unknown,
    ) -> Outcome<Call> {
        if callback.get_type().ok() != Some(ValueType::Function) {
            return Err(Failure::ArgType(format!(
                "The \"callback\" argument must be of type function. {}",
                args::received(callback)
            )));
        }
        // Checked for its type only: see `clone`'s stackSize.
        args::opt_integer(stack_size, "stackSize", 0, (1 << 53) - 1, 0)?;
        let flags = args::opt_flags(flags, "flags", 0)?;
        for (value, name) in [(tls, "tls"), (ctid, "ctid")] {
            if !args::is_undefined(value) {
                return Err(refused(
                    format!("clone(callback, ..., {name})"),
                    format!(
                        "the {name} argument serves SETTLS, CHILD_SETTID and CHILD_CLEARTID, \
                         which set up a new thread's TLS and tid words; clone() runs JavaScript \
                         in a process, not a thread, and supports none of them (as Linux::Clone)"
                    ),
                ));
            }
        }
        check_flags(flags)?;
        let ptid = ptid_argument(env, ptid, flags)?;
        Ok(Call {
            callback: callback.raw(),
            flags,
            ptid,
        })
    }
}

fn refused(call: String, why: String) -> Failure {
    Failure::Refused {
        code: UNSUPPORTED_CLONE_FLAG,
        syscall: "clone",
        call,
        why,
    }
}

/// Flags that clone() cannot honour, refused before anything happens.
fn check_flags(flags: u32) -> Outcome<()> {
    // Named only when something is refused: formatting costs every clone() otherwise.
    let call = || format!("clone(callback, {})", clone_flag_names(flags));
    let threads = flags & (THREAD | SIGHAND);
    if threads != 0 {
        return Err(refused(
            call(),
            format!(
                "{} would make the child a second thread running JavaScript on V8's heap \
                 next to this one; clone() runs the callback in a process of its own (use a \
                 Worker for a thread)",
                clone_flag_names(threads)
            ),
        ));
    }
    if flags & PARENT != 0 {
        return Err(refused(
            call(),
            "PARENT would make the child a child of Node's parent, not of Node: waitpid() and \
             waitExit() could not reap it (ECHILD) and it would stay a zombie; leave PARENT out"
                .into(),
        ));
    }
    let tls = flags & (SETTLS | CHILD_SETTID | CHILD_CLEARTID);
    if tls != 0 {
        return Err(refused(
            call(),
            format!(
                "{} set up a new thread's TLS and tid words, which only a thread library may \
                 do; clone() does not support them (nor does Linux::Clone)",
                clone_flag_names(tls)
            ),
        ));
    }
    let signal = flags & CSIGNAL;
    if signal & NEWTIME != 0 {
        return Err(refused(
            call(),
            format!(
                "bit 0x80 is NEWTIME for unshare(), but clone(2) reads the low byte of flags as \
                 the exit signal, so NEWTIME cannot be a clone flag ({signal} is no signal): \
                 call unshare(NEWTIME) inside the callback, and the children it creates get \
                 the new time namespace"
            ),
        ));
    }
    if signal as i32 > signals::MAX {
        return Err(Failure::ArgRange(format!(
            "The exit signal in the low byte of \"flags\" is out of range. It must be 0 (none) \
             or SIGCHLD (17). Received {signal}"
        )));
    }
    if signal != 0 && signal != SIGCHLD {
        return Err(refused(call(), exit_signal_refusal(signal as i32)));
    }
    Ok(())
}

/// Why an exit signal other than SIGCHLD cannot be: the kernel sends it to this process.
fn exit_signal_refusal(signo: i32) -> String {
    let name = signals::name(signo);
    let effect = match signo {
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => "stops Node.js",
        libc::SIGUSR1 => "opens Node's inspector on port 9229",
        libc::SIGCONT | libc::SIGURG | libc::SIGWINCH => {
            "reaches Node's signal handlers, which do not expect it from a child"
        }
        _ => "kills Node.js (its default action) unless a handler happens to be installed",
    };
    format!(
        "the exit signal {name} is sent to this process when the child ends, and {effect}; use \
         SIGCHLD, or 0 for no signal (waitpid() and waitExit() find the child either way)"
    )
}

/// Checks the `ptid` argument; its data pointer is read later, right before the clone.
fn ptid_argument(env: &Env, value: &Unknown, flags: u32) -> Outcome<Option<sys::napi_value>> {
    let needed = flags & (PARENT_SETTID | PIDFD);
    if args::is_undefined(value) {
        if needed != 0 {
            return Err(Failure::ArgType(format!(
                "The \"ptid\" argument must be an instance of Int32Array when flags include {}: \
                 the kernel writes the child's {} into it. Received undefined",
                clone_flag_names(needed),
                if needed & PIDFD != 0 { "pidfd" } else { "tid" }
            )));
        }
        return Ok(None);
    }
    args::int32_array(env, value, "ptid")?;
    Ok(Some(value.raw()))
}

/// The parent's side of clone(): set up, clone, and read what the child reported.
fn run(env: &Env, call: Call) -> Outcome<i32> {
    threadpool::start(env);
    let top = child_stack_top()?;
    // The ptid array is read now, before anything else, and written only after the child is
    // done; it may not be used by the kernel directly (see Frame::ptid).
    let ptid_wanted = call.ptid.is_some() && call.flags & (PARENT_SETTID | PIDFD) != 0;
    // The child starts with this mask: asynchronous signals are blocked before it can run, so
    // a stray SIGTERM cannot kill it halfway through JavaScript. SIGCHLD stays open because
    // child_process.*Sync in the callback waits for it.
    let mut mask = SigSet::empty();
    let blocked = nix::sys::signal::pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&child_mask()),
        Some(&mut mask),
    );
    let frame = Frame {
        env: env.raw(),
        callback: call.callback,
        flags: call.flags,
        parent: process_pid(),
        stage: AtomicU8::new(Stage::Started as u8),
        errno: AtomicI32::new(0),
        request: RefCell::new(request::Request::None),
        mask,
        ptid: Cell::new(-1),
        stopped: AtomicBool::new(false),
    };
    let previous = CURRENT.with(|c| c.replace(&frame));
    let all = call.flags | VM | VFORK | FILES;
    let pid = spawn_child(&frame, top, all);
    let errno = Errno::last();
    // First, before anything that could take a lock the child held when it died.
    match frame.stage() {
        Stage::RunningJs if pid > 0 => report::died_in_javascript(pid),
        Stage::ThreadsLeft if pid > 0 => report::left_threads(pid),
        _ => {}
    }
    if blocked.is_ok() {
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
    }
    CURRENT.with(|c| c.set(previous));
    args::clear_exception(env.raw());
    if pid < 0 {
        let text = format!("clone(callback, {})", clone_flag_names(call.flags));
        return Err(Failure::sys(
            errno,
            "clone",
            text,
            clone_cause(call.flags, errno),
        ));
    }
    let delivered = ptid_wanted && deliver_ptid(env, &call, frame.ptid.get());
    if call.flags & PIDFD != 0 && (!delivered || frame.stage() == Stage::ExecFailed) {
        // Nobody will ever learn this pidfd: close it rather than leak one fd per call.
        pidfd::close_unclaimed(frame.ptid.get());
        if delivered {
            deliver_ptid(env, &call, -1);
        }
    }
    if frame.stopped.load(Ordering::SeqCst) {
        // JavaScript cannot run here any more, so no waitpid() will come for this child: reap
        // it now rather than leave it defunct for as long as the process lives.
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL));
    }
    if frame.stage() == Stage::ExecFailed {
        // Nobody else learns this pid: reap the child here.
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL));
        let errno = Errno::from_raw(frame.errno.load(Ordering::SeqCst));
        return Err(request::exec_failure(&frame.request.borrow(), errno));
    }
    Ok(pid)
}

/// The one clone(2) call, made by the package's own trampoline (src/sys.rs) rather than the C
/// library's wrapper: glibc 2.24 and older reset the pid cached in the calling thread's TCB
/// when CLONE_VM is set, and with CLONE_VM that TCB is the parent's.
fn spawn_child(frame: &Frame, top: usize, flags: u32) -> i32 {
    // SAFETY: the child runs child::main on `top`, unused stack below this frame (64-byte
    // aligned), and only until it exits or execs, during which this thread sleeps
    // (CLONE_VFORK); `frame`, and the ptid slot in it, outlive that. SETTLS and the child tid
    // flags are refused before this point, so tls and ctid are 0.
    let rc = unsafe {
        crate::sys::clone_into(
            libc::SYS_clone,
            [flags as usize, top, frame.ptid.as_ptr() as usize, 0, 0],
            enter_child,
            ptr::from_ref(frame).cast_mut().cast(),
        )
    };
    if rc < 0 {
        // The C library's convention, which the caller reads through errno.
        Errno::set_raw((-rc) as i32);
        return -1;
    }
    rc as i32
}

/// The trampoline's entry: child::main never returns (it ends the process itself); exit_group
/// is the backstop, never a single-thread exit that would leave threads the child started.
unsafe extern "C" fn enter_child(arg: *mut c_void) -> ! {
    let status = child::main(arg);
    crate::sys::exit_group(status)
}

/// Writes the tid or pidfd into the caller's Int32Array; false if its buffer has gone (the
/// callback detached it). The pointer is read here, with no JavaScript run before the write.
fn deliver_ptid(env: &Env, call: &Call, value: i32) -> bool {
    let Some(array) = call.ptid else {
        return false;
    };
    match args::int32_slot(env, array, "ptid") {
        Ok(slot) => {
            // SAFETY: slot points at element 0 of a live Int32Array, just read.
            unsafe { slot.write(value) };
            true
        }
        Err(_) => false,
    }
}

/// Signals the child keeps blocked: all but SIGCHLD and the ones a fault raises (blocking those
/// would only turn a crash into a silent kill).
fn child_mask() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGTRAP,
        Signal::SIGSYS,
        Signal::SIGABRT,
    ] {
        set.remove(s);
    }
    set
}

fn clone_cause(flags: u32, errno: Errno) -> Option<String> {
    let new = flags & NAMESPACES;
    let cause = match errno {
        Errno::EPERM if new != 0 => format!(
            "creating namespaces ({}) needs CAP_SYS_ADMIN, except NEWUSER alone, which an \
             unprivileged user may create unless the system forbids it \
             (kernel.unprivileged_userns_clone, user.max_user_namespaces, AppArmor)",
            clone_flag_names(new)
        ),
        Errno::EINVAL if flags & NEWUSER != 0 && flags & FS != 0 => {
            "NEWUSER cannot be combined with FS: a new user namespace needs its own root and \
             cwd"
            .into()
        }
        Errno::EINVAL if flags & NEWNS != 0 && flags & FS != 0 => {
            "NEWNS cannot be combined with FS: a new mount namespace needs its own root and \
             cwd, which FS would share with this thread"
                .into()
        }
        Errno::EINVAL if flags & NEWIPC != 0 && flags & SYSVSEM != 0 => {
            "NEWIPC cannot be combined with SYSVSEM: semaphore undo lists cannot be shared \
             across IPC namespaces"
                .into()
        }
        Errno::EINVAL if flags & PIDFD != 0 && flags & (DETACHED | PARENT_SETTID) != 0 => {
            "PIDFD cannot be combined with DETACHED or PARENT_SETTID: in clone(2) the pidfd \
             comes back through ptid"
                .into()
        }
        Errno::EINVAL if flags & NEWPID != 0 && in_clone_child() => {
            "after unshare(NEWPID) or setns() into a pid namespace, this callback's process \
             cannot create another one: the kernel nests a new pid namespace only inside the \
             caller's own, and its children already go to another; pass NEWPID to the outer \
             clone(), or clone(NEWPID) without the unshare()"
                .into()
        }
        Errno::ENOSPC | Errno::EUSERS => {
            "a namespace limit is reached: see /proc/sys/user/max_*_namespaces (a nesting depth \
             of 32 is the kernel's maximum for pid and user namespaces)"
                .into()
        }
        Errno::EAGAIN => "too many processes: RLIMIT_NPROC or the pid limit is reached".into(),
        Errno::ENOMEM => "not enough memory for a new task".into(),
        _ => return None,
    };
    Some(cause)
}

/// Names clone flags: the signal byte as a signal, the other bits as flags.
pub fn clone_flag_names(flags: u32) -> String {
    let signal = flags & CSIGNAL;
    let rest = unshare_flag_names(flags & !CSIGNAL);
    let signal_name = signals::name(signal as i32);
    match (rest.as_str(), signal) {
        (_, 0) => rest,
        ("0", _) => signal_name,
        _ => format!("{rest}|{signal_name}"),
    }
}

/// The top of the child's stack: below this frame by STACK_GAP, aligned, with at least
/// STACK_NEEDED bytes of the thread's stack beneath it.
fn child_stack_top() -> Outcome<usize> {
    stack_top(stack_pointer(), stack_low())
}

fn stack_top(sp: usize, low: usize) -> Outcome<usize> {
    let top = (sp - STACK_GAP) & !63;
    let available = top.saturating_sub(low.saturating_add(STACK_FLOOR));
    if STACK_NEEDED > available {
        return Err(Failure::State {
            code: "ERR_CLONE_STACK_EXHAUSTED",
            message: format!(
                "clone() needs {STACK_NEEDED} bytes of this thread's stack below the call for \
                 the child, and {available} are left: call it from a shallower frame"
            ),
        });
    }
    Ok(top)
}

#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

thread_local! {
    static STACK_LOW: Cell<usize> = const { Cell::new(0) };
}

/// The lowest address this thread's stack may grow to.
fn stack_low() -> usize {
    let cached = STACK_LOW.with(|c| c.get());
    if cached != 0 {
        return cached;
    }
    let low = read_stack_low().unwrap_or(0);
    STACK_LOW.with(|c| c.set(low));
    low
}

fn read_stack_low() -> Option<usize> {
    // libc: nix has no pthread attribute calls.
    // SAFETY: attr is initialised by pthread_getattr_np before it is read, destroyed after.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr: *mut c_void = ptr::null_mut();
        let mut size = 0usize;
        let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if rc != 0 {
            return None;
        }
        let top = addr as usize + size;
        // The main thread's stack grows on demand up to RLIMIT_STACK; musl reports only what
        // is mapped so far.
        if crate::sys::gettid() == crate::sys::getpid() {
            if let Ok((soft, _)) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
            {
                if soft == libc::RLIM_INFINITY {
                    return Some(top.saturating_sub(1 << 30));
                }
                return Some(top.saturating_sub(soft as usize));
            }
        }
        Some(addr as usize)
    }
}

/// This process's pid as the kernel sees it now: in a clone() callback, the child's (where
/// `process.pid` still holds the parent's). An uncached getpid(2).
#[napi]
pub fn getpid() -> i32 {
    crate::sys::getpid()
}

/// The calling thread's id: gettid(2), uncached.
#[napi]
pub fn gettid() -> i32 {
    crate::sys::gettid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_flags_name_the_signal_byte() {
        assert_eq!(clone_flag_names(NEWNET | 17), "NEWNET|SIGCHLD");
        assert_eq!(clone_flag_names(17), "SIGCHLD");
        assert_eq!(clone_flag_names(NEWUTS), "NEWUTS");
        assert_eq!(clone_flag_names(0), "0");
        assert_eq!(clone_flag_names(PARENT | 17), "PARENT|SIGCHLD");
        // One table names signals everywhere: the same name waitpid() reports.
        assert_eq!(
            clone_flag_names(libc::SIGRTMIN() as u32 + 6),
            signals::name(libc::SIGRTMIN() + 6)
        );
    }

    #[test]
    fn refuses_thread_tls_parent_and_exit_signals_node_cannot_take() {
        for bad in [
            THREAD,
            SIGHAND,
            PARENT,
            SETTLS,
            CHILD_SETTID,
            CHILD_CLEARTID,
            NEWTIME,
            libc::SIGTERM as u32,
            libc::SIGKILL as u32,
            libc::SIGUSR1 as u32,
            libc::SIGSTOP as u32,
            libc::SIGHUP as u32,
            libc::SIGRTMIN() as u32,
        ] {
            match check_flags(bad | NEWNET) {
                Err(Failure::Refused { code, why, .. }) => {
                    assert_eq!(code, UNSUPPORTED_CLONE_FLAG);
                    assert!(!why.is_empty());
                }
                other => panic!("{bad:#x}: {other:?}"),
            }
        }
        assert!(check_flags(NEWNET | NEWUTS | NEWPID | NEWUSER | 17 | IO | PTRACE).is_ok());
        assert!(check_flags(NEWNET).is_ok());
        assert!(matches!(check_flags(65), Err(Failure::ArgRange(_))));
    }

    #[test]
    fn the_child_stack_starts_below_the_gap_or_the_thread_has_too_little() {
        let low = 0x10_0000;
        let sp = low + STACK_FLOOR + STACK_GAP + STACK_NEEDED + 4096 + 7;
        let top = stack_top(sp, low).expect("enough stack");
        assert_eq!(top % 64, 0);
        assert!(top <= sp - STACK_GAP && top >= low + STACK_FLOOR + STACK_NEEDED);
        match stack_top(sp - 8192, low) {
            Err(Failure::State { code, message }) => {
                assert_eq!(code, "ERR_CLONE_STACK_EXHAUSTED");
                assert!(message.contains("shallower frame"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_child_mask_leaves_sigchld_and_faults_open() {
        let mask = child_mask();
        assert!(!mask.contains(Signal::SIGCHLD));
        assert!(!mask.contains(Signal::SIGSEGV));
        assert!(mask.contains(Signal::SIGTERM));
        assert!(mask.contains(Signal::SIGINT));
    }
}
