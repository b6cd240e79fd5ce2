//! clone(2) with a JavaScript callback in the child, and what the callback may call.
//!
//! The child is made with CLONE_VM | CLONE_VFORK | CLONE_FILES: it is a new kernel task with
//! namespaces of its own that shares this process's memory and fd table, and the calling
//! thread sleeps in the kernel until the child exits or execs. The callback runs in the child
//! on the same V8 isolate, on the part of the caller's stack below the stack pointer. To every
//! other thread of Node the child looks like the calling thread carrying on, so locks, the heap
//! and the GC behave as if no clone happened; a fork-like child would instead inherit locks
//! held by threads it does not have and hang (design.md, Fact 2).
//!
//! Anything that would leave JavaScript without unwinding (process.exit, exit(), execve()) is
//! turned into an exception that unwinds the callback; the exit or exec then happens in native
//! code back in the clone frame.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CString};
use std::fmt::Write as _;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

use napi::bindgen_prelude::{Array, JsObjectValue, Object, ValueType};
use napi::{sys, Env, JsValue, Unknown};
use napi_derive::napi;
use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::args;
use crate::errors::{to_js, Failure, Outcome, UNSUPPORTED_CLONE_FLAG};
use crate::flags::*;

/// `code` of exit()/execve() called outside a clone() callback.
const NOT_IN_CALLBACK: &str = "ERR_NOT_IN_CLONE_CALLBACK";
/// `code` of the exception that unwinds a callback which asked to exit or exec.
const UNWINDING: &str = "ERR_CLONE_CHILD_EXITING";
/// `code` of a callback's return value that is no exit status.
const BAD_RETURN: &str = "ERR_INVALID_RETURN_VALUE";

/// Room left between the caller's stack pointer and the child's stack: the frames of the clone
/// call itself live there while the parent sleeps in the kernel.
const STACK_GAP: usize = 16 * 1024;
/// What stackSize 0 asks for.
const DEFAULT_STACK: usize = 256 * 1024;
/// Kept free above the lowest address of the thread's stack (its guard area).
const STACK_FLOOR: usize = 64 * 1024;

// The child's progress, written by the child into the frame it shares with the parent.
const STAGE_STARTED: u8 = 0;
const STAGE_RUNNING_JS: u8 = 1;
const STAGE_EXITING: u8 = 2;
const STAGE_EXECUTING: u8 = 3;
const STAGE_EXEC_FAILED: u8 = 4;

/// A program the callback asked execve() to run.
struct Exec {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// `execve('/bin/sh', ['sh', '-c'])`, for the error message.
    call: String,
}

enum Request {
    None,
    Exit(i32),
    Exec(Exec),
}

/// One clone() call, shared by the parent (which owns it, on its stack above the child's) and
/// the child (which reads the callback from it and reports back through it).
struct Frame {
    env: sys::napi_env,
    callback: sys::napi_value,
    stage: AtomicU8,
    errno: AtomicI32,
    request: RefCell<Request>,
    /// The caller's signal mask, restored in the child before it execs.
    mask: SigSet,
}

thread_local! {
    // The clone() frame whose child is running on this thread's stack. The child inherits the
    // parent's thread pointer, so it reads the parent's value: non-null means "in a child".
    static CURRENT: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// Whether the code running now is a clone() callback's child (a process of its own).
pub fn in_clone_child() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

fn with_frame<T>(f: impl FnOnce(&Frame) -> T) -> Option<T> {
    let frame = CURRENT.with(|c| c.get());
    // SAFETY: a non-null CURRENT points at the Frame of a clone() call that is still running
    // (the parent restores the previous value before that frame goes away).
    (!frame.is_null()).then(|| f(unsafe { &*frame }))
}

/// Runs `callback` in a child process with new namespaces and returns the child's pid: clone(2)
/// with vfork semantics.
///
/// The child is created with `flags | VM | VFORK | FILES`. It runs `callback()` synchronously,
/// inside the namespaces `flags` asks for, and exits with the callback's return value (an
/// integer 0 to 255; undefined means 0; anything else is a TypeError printed by the child and
/// exit status 1). This thread waits until the child has exited or exec'd; then clone()
/// returns. Reap the child with `waitpid()` or `waitExit()`.
///
/// The callback borrows this process's heap: what it does to JavaScript state (globals, objects,
/// caches) is visible afterwards. File descriptors it opens stay open here too, so a socket made
/// inside a new network namespace can be handed back. Only synchronous work happens in the
/// child; promises, timers and async I/O it starts run later, here, in the parent's namespaces.
/// `process.pid` stays the parent's pid: use `getpid()`.
///
/// - `stackSize`: how much of this thread's stack, below the current frame, the child may use;
///   0 or undefined asks for 256 KiB. More than the thread has left is a RangeError.
/// - The low byte of `flags` is the signal sent to the parent when the child ends (`SIGCHLD`,
///   as in clone(2)); 0 sends none. `waitpid()` and `waitExit()` find the child either way.
/// - `ptid`: with PARENT_SETTID it receives the child's tid, with PIDFD a pidfd for the child.
/// - Inside the callback, `process.exit(n)`, `exit(n)` and `execve()` end the child; the
///   parent's exit handlers do not run. An uncaught exception is printed to stderr and the child
///   exits with status 1. Signals other than SIGCHLD and faults are blocked in the child while
///   the callback runs. The child is a process of its own, so unshare(NEWUSER | NEWPID |
///   NEWTIME | FILES) and setns() into a pid or user namespace work there.
/// - Refused (`ERR_UNSUPPORTED_CLONE_FLAG`): THREAD and SIGHAND (a second thread on V8's heap),
///   SETTLS, CHILD_SETTID, CHILD_CLEARTID, the tls and ctid arguments of clone(2), and bit 0x80
///   (NEWTIME, which clone(2) reads as part of the exit signal).
/// - If the child dies from a signal while the callback runs, the shared heap may be left
///   mid-operation: the process ends at once with a fatal error that says so.
#[napi(
    ts_args_type = "callback: () => number | void, stackSize?: number, flags?: number, ptid?: Int32Array",
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
    stack: usize,
    flags: u32,
    ptid: *mut i32,
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
        let stack = args::opt_integer(stack_size, "stackSize", 0, (1 << 53) - 1, 0)? as usize;
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
        let ptid = typed_array(env, ptid, flags)?;
        Ok(Call {
            callback: callback.raw(),
            stack: if stack == 0 { DEFAULT_STACK } else { stack },
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
    let call = format!("clone(callback, {})", clone_flag_names(flags));
    let threads = flags & (THREAD | SIGHAND);
    if threads != 0 {
        return Err(refused(
            call,
            format!(
                "{} would make the child a second thread running JavaScript on V8's heap \
                 next to this one; clone() runs the callback in a process of its own (use a \
                 Worker for a thread)",
                clone_flag_names(threads)
            ),
        ));
    }
    let tls = flags & (SETTLS | CHILD_SETTID | CHILD_CLEARTID);
    if tls != 0 {
        return Err(refused(
            call,
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
            call,
            format!(
                "bit 0x80 is NEWTIME for unshare(), but clone(2) reads the low byte of flags as \
                 the exit signal, so NEWTIME cannot be a clone flag ({signal} is no signal): \
                 call unshare(NEWTIME) inside the callback, and the children it creates get \
                 the new time namespace"
            ),
        ));
    }
    if signal > 64 {
        return Err(Failure::ArgRange(format!(
            "The exit signal in the low byte of \"flags\" is out of range. It must be 0 (none) \
             or a signal number from 1 to 64. Received {signal}"
        )));
    }
    Ok(())
}

/// The `ptid` argument: where the kernel writes the child's tid or pidfd.
fn typed_array(env: &Env, value: &Unknown, flags: u32) -> Outcome<*mut i32> {
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
        return Ok(ptr::null_mut());
    }
    let wrong = || {
        Failure::ArgType(format!(
            "The \"ptid\" argument must be an instance of Int32Array. {}",
            args::received(value)
        ))
    };
    let mut is_typed = false;
    // SAFETY: env and value belong to this call.
    unsafe { sys::napi_is_typedarray(env.raw(), value.raw(), &mut is_typed) };
    if !is_typed {
        return Err(wrong());
    }
    let mut kind = 0;
    let mut length = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    // SAFETY: value is a typed array (checked above); the out-pointers are live locals.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env.raw(),
            value.raw(),
            &mut kind,
            &mut length,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::int32_array {
        return Err(wrong());
    }
    if length == 0 || data.is_null() {
        return Err(Failure::ArgRange(
            "The \"ptid\" argument must have a length of at least 1. Received length 0".into(),
        ));
    }
    Ok(data.cast())
}

/// The parent's side of clone(): set up, clone, and read what the child reported.
fn run(env: &Env, call: Call) -> Outcome<i32> {
    start_threadpool(env);
    let top = child_stack_top(call.stack)?;
    let exit_hook = ProcessExitHook::install(env);
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
        stage: AtomicU8::new(STAGE_STARTED),
        errno: AtomicI32::new(0),
        request: RefCell::new(Request::None),
        mask,
    };
    let previous = CURRENT.with(|c| c.replace(&frame));
    let all = call.flags | VM | VFORK | FILES;
    // libc rather than nix: nix's clone takes neither a stack outside a Rust slice nor ptid.
    // SAFETY: the child runs child_main on `top`, unused stack below this frame, and only
    // until it exits or execs, during which this thread sleeps (CLONE_VFORK); `frame` outlives
    // that; ptid is null or points into a live Int32Array.
    let pid = unsafe {
        libc::clone(
            child_main,
            top as *mut c_void,
            all as c_int,
            ptr::addr_of!(frame).cast_mut().cast(),
            call.ptid,
        )
    };
    let errno = Errno::last();
    // First, before anything that could take a lock the child held when it died.
    if pid > 0 && frame.stage.load(Ordering::SeqCst) == STAGE_RUNNING_JS {
        died_in_javascript(pid);
    }
    if blocked.is_ok() {
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
    }
    CURRENT.with(|c| c.set(previous));
    if let Some(hook) = exit_hook {
        hook.remove(env);
    }
    clear_exception(env.raw());
    if pid < 0 {
        let text = format!("clone(callback, {})", clone_flag_names(call.flags));
        return Err(Failure::sys(
            errno,
            "clone",
            text,
            clone_cause(call.flags, errno),
        ));
    }
    match frame.stage.load(Ordering::SeqCst) {
        STAGE_EXEC_FAILED => {
            // Nobody else learns this pid: reap the child here.
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL));
            let errno = Errno::from_raw(frame.errno.load(Ordering::SeqCst));
            let (call, path) = match &*frame.request.borrow() {
                Request::Exec(exec) => (
                    exec.call.clone(),
                    Some(exec.path.to_string_lossy().into_owned()),
                ),
                _ => ("execve()".to_string(), None),
            };
            Err(Failure::Sys {
                errno,
                syscall: "execve",
                call,
                cause: exec_cause(errno),
                path,
                dest: None,
            })
        }
        _ => Ok(pid),
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

/// The child's entry point. It runs on the caller's stack below `STACK_GAP`, on the caller's
/// thread pointer, while the caller sleeps: to V8 and the C library it is that thread, carrying
/// on in new namespaces. Allocation and locks are therefore fine here, unlike in a fork child.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Frame of the clone() call that made this child; the parent keeps it
    // alive and untouched until this child exits or execs.
    let frame = unsafe { &*(arg as *const Frame) };
    frame.stage.store(STAGE_RUNNING_JS, Ordering::SeqCst);
    let status = run_callback(frame);
    frame.stage.store(STAGE_EXITING, Ordering::SeqCst);
    let request = frame.request.borrow();
    if let Request::Exec(exec) = &*request {
        let errno = exec_in_child(frame, exec);
        frame.errno.store(errno as i32, Ordering::SeqCst);
        frame.stage.store(STAGE_EXEC_FAILED, Ordering::SeqCst);
        return 127;
    }
    status
}

/// Calls the callback and turns what happened into an exit status.
fn run_callback(frame: &Frame) -> c_int {
    let env = frame.env;
    let mut undefined = ptr::null_mut();
    let mut result = ptr::null_mut();
    // SAFETY: env is the parent's live environment, shared with this child; callback is a
    // function value of the clone() call, whose handle scope is still open.
    let status = unsafe {
        sys::napi_get_undefined(env, &mut undefined);
        sys::napi_call_function(env, undefined, frame.callback, 0, ptr::null(), &mut result)
    };
    let thrown = take_exception(env);
    match &*frame.request.borrow() {
        Request::Exit(code) => return *code,
        Request::Exec(_) => return 0,
        Request::None => {}
    }
    if let Some(error) = thrown {
        print_uncaught(env, error);
        return 1;
    }
    if status != sys::Status::napi_ok {
        write_stderr(&format!(
            "Error: the clone() callback could not be called (napi status {status})\n"
        ));
        return 1;
    }
    match exit_status(env, result) {
        Ok(code) => code,
        Err(message) => {
            write_stderr(&format!("TypeError [{BAD_RETURN}]: {message}\n"));
            1
        }
    }
}

/// The exit status a callback's return value stands for.
fn exit_status(env: sys::napi_env, value: sys::napi_value) -> Result<c_int, String> {
    // SAFETY: value is the callback's return value, a live handle of this scope.
    let value = unsafe { Unknown::from_raw_unchecked(env, value) };
    let mut is_promise = false;
    // SAFETY: as above.
    unsafe { sys::napi_is_promise(env, value.raw(), &mut is_promise) };
    if is_promise {
        return Err(
            "the clone() callback returned a Promise: only synchronous work runs in the \
                    child, so an async callback cannot give it an exit status; return a number \
                    (0 to 255) or nothing"
                .into(),
        );
    }
    match value.get_type() {
        Ok(ValueType::Undefined) => Ok(0),
        Ok(ValueType::Number) => {
            // SAFETY: the type was checked just above.
            let n = unsafe { value.cast::<f64>() }.unwrap_or(f64::NAN);
            if n.fract() == 0.0 && (0.0..=255.0).contains(&n) {
                Ok(n as c_int)
            } else {
                Err(format!(
                    "the clone() callback must return an integer from 0 to 255 (the exit \
                     status) or nothing. Received {}",
                    args::js_number(n)
                ))
            }
        }
        _ => Err(format!(
            "the clone() callback must return an integer from 0 to 255 (the exit status) or \
             nothing. {}",
            args::received(&value)
        )),
    }
}

/// Takes the exception pending on `env`, if any, so that neither the child nor the parent
/// after it finds one left over.
fn take_exception(env: sys::napi_env) -> Option<sys::napi_value> {
    let mut pending = false;
    // SAFETY: env is live; the out-pointers are locals.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        return None;
    }
    let mut error = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { sys::napi_get_and_clear_last_exception(env, &mut error) };
    (status == sys::Status::napi_ok && !error.is_null()).then_some(error)
}

fn clear_exception(env: sys::napi_env) {
    let _ = take_exception(env);
}

/// Prints an exception as Node prints an uncaught one: util.inspect() where Node offers it to
/// native code (process.getBuiltinModule, Node 20.16+), else the stack or the value as text.
fn print_uncaught(env: sys::napi_env, error: sys::napi_value) {
    // SAFETY: env and error are live handles of this scope.
    let error = unsafe { Unknown::from_raw_unchecked(env, error) };
    let text = inspect(env, &error)
        .or_else(|| stack_of(env, &error))
        .unwrap_or_else(|| "(an exception that cannot be printed)".into());
    clear_exception(env);
    write_stderr(&format!(
        "{text}\n\nThrown in a clone() callback: the child (pid {}) exits with status 1\n",
        nix::unistd::getpid()
    ));
}

fn inspect(env: sys::napi_env, value: &Unknown) -> Option<String> {
    let env = Env::from_raw(env);
    let global = env.get_global().ok()?;
    let process: Object = global.get_named_property("process").ok()?;
    let get_builtin: Unknown = process.get_named_property("getBuiltinModule").ok()?;
    let util = call(
        &env,
        &process,
        &get_builtin,
        &[env.create_string("node:util").ok()?.raw()],
    )?;
    // SAFETY: util is the value getBuiltinModule returned; checked to be an object.
    let util = (util.get_type().ok()? == ValueType::Object)
        .then(|| unsafe { util.cast::<Object>() })?
        .ok()?;
    let inspect: Unknown = util.get_named_property("inspect").ok()?;
    let text = call(&env, &util, &inspect, &[value.raw()])?;
    // SAFETY: checked to be a string first.
    (text.get_type().ok()? == ValueType::String)
        .then(|| unsafe { text.cast::<String>() })?
        .ok()
}

fn stack_of(env: sys::napi_env, value: &Unknown) -> Option<String> {
    if value.get_type().ok()? == ValueType::Object {
        // SAFETY: the type was checked just above.
        let obj = unsafe { value.cast::<Object>() }.ok()?;
        let stack: Unknown = obj.get_named_property("stack").ok()?;
        if stack.get_type().ok()? == ValueType::String {
            // SAFETY: the type was checked just above.
            return unsafe { stack.cast::<String>() }.ok();
        }
    }
    let mut text = ptr::null_mut();
    // SAFETY: value is live; coercion may throw, which the caller clears.
    let status = unsafe { sys::napi_coerce_to_string(env, value.raw(), &mut text) };
    if status != sys::Status::napi_ok {
        return None;
    }
    // SAFETY: napi_coerce_to_string returned a string.
    unsafe { Unknown::from_raw_unchecked(env, text).cast::<String>() }.ok()
}

/// Calls `f` if it is a function; None if it is not or it threw.
fn call<'e>(
    env: &'e Env,
    this: &Object,
    f: &Unknown,
    argv: &[sys::napi_value],
) -> Option<Unknown<'e>> {
    if f.get_type().ok()? != ValueType::Function {
        return None;
    }
    let mut result = ptr::null_mut();
    // SAFETY: f is a function; argv holds live handles.
    let status = unsafe {
        sys::napi_call_function(
            env.raw(),
            this.raw(),
            f.raw(),
            argv.len(),
            argv.as_ptr(),
            &mut result,
        )
    };
    if status != sys::Status::napi_ok {
        clear_exception(env.raw());
        return None;
    }
    // SAFETY: a value napi just returned.
    Some(unsafe { Unknown::from_raw_unchecked(env.raw(), result) })
}

fn write_stderr(text: &str) {
    write_bytes(text.as_bytes())
}

fn write_bytes(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(std::io::stderr(), bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// Execs the program the callback asked for; returns only on failure, with the errno.
fn exec_in_child(frame: &Frame, exec: &Exec) -> Errno {
    // The new program starts with default signal handling and the caller's mask, as it would
    // from child_process. Handlers are per child here (no CLONE_SIGHAND), so the parent keeps
    // its own. nix's Signal has no real-time signals, hence libc.
    for sig in 1..libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: resets this task's own disposition; no handler code runs.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&frame.mask), None);
    frame.stage.store(STAGE_EXECUTING, Ordering::SeqCst);
    match nix::unistd::execve(&exec.path, &exec.argv, &exec.envp) {
        Err(errno) => errno,
        Ok(never) => match never {},
    }
}

/// The child died while JavaScript ran on the heap this process shares with it: end the
/// process now, saying why, rather than crash later at a random place. The child may have died
/// holding any lock of this process (malloc's, Node's, V8's), so nothing here allocates, locks
/// or calls into Node: the message is formatted on the stack and written with write(2).
fn died_in_javascript(pid: i32) -> ! {
    let how = match waitid(
        Id::Pid(Pid::from_raw(pid)),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL,
    ) {
        Ok(WaitStatus::Signaled(_, signal, _)) => ("was killed by ", signal.as_str()),
        Ok(WaitStatus::Exited(..)) => ("exited", ""),
        _ => ("ended", ""),
    };
    let mut text = StackText::default();
    let _ = writeln!(
        text,
        "FATAL ERROR: linux-clone: the clone() child (pid {pid}) {}{} while its JavaScript \
         callback was running. The child shared this process's memory, so the JavaScript heap \
         may be left half-modified; the process cannot safely continue",
        how.0, how.1
    );
    write_bytes(text.as_bytes());
    std::process::abort()
}

/// A message formatted without allocating; what does not fit is cut off.
struct StackText {
    buf: [u8; 768],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 768],
            len: 0,
        }
    }
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
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
        Errno::EINVAL if flags & PIDFD != 0 && flags & (DETACHED | PARENT_SETTID) != 0 => {
            "PIDFD cannot be combined with DETACHED or PARENT_SETTID: in clone(2) the pidfd \
             comes back through ptid"
                .into()
        }
        Errno::EINVAL if flags & (NEWPID | NEWUSER) != 0 => {
            "the kernel refused this combination: a pid or user namespace cannot be created in \
             a thread group that shares signal handlers or with CLONE_PARENT from init"
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

fn exec_cause(errno: Errno) -> Option<String> {
    let cause = match errno {
        Errno::ENOENT => "no such file (or its interpreter is missing)",
        Errno::EACCES => {
            "permission denied: not executable, or a directory on its path is not \
                          searchable, or the file system is mounted noexec"
        }
        Errno::ENOEXEC => "not an executable format the kernel knows (a script needs #!)",
        Errno::E2BIG => "argv and the environment are too large",
        _ => return None,
    };
    Some(cause.into())
}

/// Names clone flags: the signal byte as a signal, the other bits as flags.
pub fn clone_flag_names(flags: u32) -> String {
    let signal = flags & CSIGNAL;
    let rest = unshare_flag_names(flags & !CSIGNAL);
    let signal_name = match Signal::try_from(signal as i32) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {signal}"),
    };
    match (rest.as_str(), signal) {
        (_, 0) => rest,
        ("0", _) => signal_name,
        _ => format!("{rest}|{signal_name}"),
    }
}

/// The top of the child's stack: below this frame by STACK_GAP, aligned, with at least `need`
/// bytes of the thread's stack beneath it.
fn child_stack_top(need: usize) -> Outcome<usize> {
    let sp = stack_pointer();
    let top = (sp - STACK_GAP) & !63;
    let low = stack_low();
    let available = top.saturating_sub(low.saturating_add(STACK_FLOOR));
    if need > available {
        return Err(Failure::ArgRange(format!(
            "The value of \"stackSize\" is out of range. This thread has {available} bytes of \
             stack left below the clone() call. Received {need}{}",
            if need == DEFAULT_STACK {
                " (the default for stackSize 0)"
            } else {
                ""
            }
        )));
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
        if nix::unistd::gettid() == nix::unistd::getpid() {
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

static THREADPOOL_STARTED: AtomicBool = AtomicBool::new(false);

/// Starts libuv's threadpool in this process before the first clone: threads first started by
/// a child would belong to the child and die with it, and async work would then hang forever.
fn start_threadpool(env: &Env) {
    if THREADPOOL_STARTED.load(Ordering::Acquire) {
        return;
    }
    unsafe extern "C" fn nothing(_env: sys::napi_env, _data: *mut c_void) {}
    unsafe extern "C" fn done(env: sys::napi_env, _status: sys::napi_status, data: *mut c_void) {
        // SAFETY: data is the slot made below, holding the work item that has finished now.
        unsafe {
            let slot = Box::from_raw(data.cast::<sys::napi_async_work>());
            sys::napi_delete_async_work(env, *slot);
        }
    }
    let Ok(name) = env.create_string("linux-clone:threadpool") else {
        return;
    };
    // The completion callback deletes the work item, which it finds through this slot.
    let slot: *mut sys::napi_async_work = Box::into_raw(Box::new(ptr::null_mut()));
    // SAFETY: env is live; napi calls `done` exactly once with `slot` after the item ran, and
    // `done` frees both. If queueing fails, both are freed here instead.
    unsafe {
        if sys::napi_create_async_work(
            env.raw(),
            ptr::null_mut(),
            name.raw(),
            Some(nothing),
            Some(done),
            slot.cast(),
            slot,
        ) != sys::Status::napi_ok
        {
            drop(Box::from_raw(slot));
            return;
        }
        if sys::napi_queue_async_work(env.raw(), *slot) == sys::Status::napi_ok {
            THREADPOOL_STARTED.store(true, Ordering::Release);
        } else {
            sys::napi_delete_async_work(env.raw(), *slot);
            drop(Box::from_raw(slot));
        }
    }
}

/// Swaps `process.exit` for the duration of a clone() call: in the child it must unwind the
/// callback, not run Node's teardown in memory the parent still uses.
struct ProcessExitHook {
    process: sys::napi_value,
    original: sys::napi_value,
}

impl ProcessExitHook {
    fn install(env: &Env) -> Option<ProcessExitHook> {
        let global = env.get_global().ok()?;
        let mut process: Object = global.get_named_property("process").ok()?;
        let original: Unknown = process.get_named_property("exit").ok()?;
        let replacement = exit_replacement(env)?;
        // SAFETY: a function of this env (see exit_replacement).
        let replacement = unsafe { Unknown::from_raw_unchecked(env.raw(), replacement) };
        if process.set_named_property("exit", replacement).is_err() {
            clear_exception(env.raw());
            return None;
        }
        Some(ProcessExitHook {
            process: process.raw(),
            original: original.raw(),
        })
    }

    /// Puts the original process.exit back.
    fn remove(self, env: &Env) {
        let key = c"exit";
        // SAFETY: both handles belong to the clone() call's scope, still open.
        let status = unsafe {
            sys::napi_set_named_property(env.raw(), self.process, key.as_ptr(), self.original)
        };
        if status != sys::Status::napi_ok {
            clear_exception(env.raw());
        }
    }
}

thread_local! {
    // The process.exit replacement, made once per env on this thread (a Worker has its own).
    static EXIT_FN: Cell<(sys::napi_env, sys::napi_ref)> =
        const { Cell::new((ptr::null_mut(), ptr::null_mut())) };
}

/// The function that stands in for process.exit in a child; made once per env and kept by a
/// reference, because making a function on every clone() costs more than the clone.
fn exit_replacement(env: &Env) -> Option<sys::napi_value> {
    let raw = env.raw();
    let mut value = ptr::null_mut();
    let (cached_env, reference) = EXIT_FN.with(|c| c.get());
    if cached_env == raw && !reference.is_null() {
        // SAFETY: the reference was made in this env and is never deleted while it lives.
        let status = unsafe { sys::napi_get_reference_value(raw, reference, &mut value) };
        if status == sys::Status::napi_ok && !value.is_null() {
            return Some(value);
        }
    }
    let name = "exit";
    // SAFETY: env is live; process_exit_in_child is a napi callback of the right type.
    let status = unsafe {
        sys::napi_create_function(
            raw,
            name.as_ptr().cast(),
            name.len() as isize,
            Some(process_exit_in_child),
            ptr::null_mut(),
            &mut value,
        )
    };
    if status != sys::Status::napi_ok {
        return None;
    }
    let mut reference = ptr::null_mut();
    // SAFETY: value is the function just made; a strong reference keeps it for the env's life.
    if unsafe { sys::napi_create_reference(raw, value, 1, &mut reference) } == sys::Status::napi_ok
    {
        EXIT_FN.with(|c| c.set((raw, reference)));
    }
    Some(value)
}

/// process.exit() while a clone() callback runs: ends the child with `code` (or
/// process.exitCode, or 0) by unwinding the callback.
unsafe extern "C" fn process_exit_in_child(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 1usize;
    let mut argv = [ptr::null_mut(); 1];
    // SAFETY: napi hands a live env and info; argv has room for argc values.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let js_env = Env::from_raw(env);
    let outcome = (|| {
        let code = if status == sys::Status::napi_ok && argc > 0 && !argv[0].is_null() {
            // SAFETY: a live argument of this call.
            Some(unsafe { Unknown::from_raw_unchecked(env, argv[0]) })
        } else {
            None
        };
        let code = match code {
            Some(v) if !matches!(v.get_type(), Ok(ValueType::Undefined | ValueType::Null)) => {
                args::integer(&v, "code", i32::MIN.into(), i32::MAX.into())?
            }
            _ => exit_code_property(&js_env).unwrap_or(0),
        };
        request(Request::Exit((code & 0xff) as i32), "process.exit()")
    })();
    if let Err(failure) = outcome {
        napi::JsError::from(failure.into_napi(&js_env)).throw_into(env);
    }
    ptr::null_mut()
}

fn exit_code_property(env: &Env) -> Option<i64> {
    let global = env.get_global().ok()?;
    let process: Object = global.get_named_property("process").ok()?;
    let code: Unknown = process.get_named_property("exitCode").ok()?;
    args::integer(&code, "process.exitCode", i32::MIN.into(), i32::MAX.into()).ok()
}

/// Records what the child should do once the callback has unwound, and starts the unwinding.
/// The first request wins: a callback that catches the unwinding still ends as asked.
fn request(what: Request, name: &str) -> Outcome<()> {
    let recorded = with_frame(|frame| {
        let mut slot = frame.request.borrow_mut();
        if matches!(*slot, Request::None) {
            *slot = what;
        }
    });
    match recorded {
        Some(()) => Err(Failure::State {
            code: UNWINDING,
            message: format!(
                "{name} was called in a clone() callback: this exception unwinds the callback so \
                 that the child can end; let it propagate"
            ),
        }),
        None => Err(Failure::State {
            code: NOT_IN_CALLBACK,
            message: format!(
                "{name} ends a clone() child and works only inside a clone() callback; here it \
                 would end Node.js itself (use process.exit(), or child_process to run a program)"
            ),
        }),
    }
}

/// Ends the clone() child this callback runs in with status `code` (0 to 255), after unwinding
/// the callback. The parent's exit handlers do not run. Outside a clone() callback it throws
/// (`ERR_NOT_IN_CLONE_CALLBACK`).
#[napi(
    js_name = "exit",
    ts_args_type = "code: number",
    ts_return_type = "never"
)]
pub fn exit_child(env: Env, code: Unknown) -> napi::Result<()> {
    let outcome = args::integer(&code, "code", 0, 255)
        .and_then(|code| request(Request::Exit(code as i32), "exit()"));
    to_js(&env, outcome)
}

/// Replaces the clone() child this callback runs in with the program at `path`: execve(2),
/// after unwinding the callback. `argv` includes the program's name (argv[0]); `env` defaults to
/// this process's environment. The program starts with default signal handling. If the exec
/// fails, the child exits and clone() throws the error (code, errno, syscall 'execve') in the
/// parent. Outside a clone() callback it throws (`ERR_NOT_IN_CLONE_CALLBACK`).
#[napi(
    ts_args_type = "path: string, argv: string[], env?: Record<string, string>",
    ts_return_type = "never"
)]
pub fn execve(env: Env, path: Unknown, argv: Unknown, envp: Unknown) -> napi::Result<()> {
    let outcome =
        exec_request(&path, &argv, &envp).and_then(|exec| request(Request::Exec(exec), "execve()"));
    to_js(&env, outcome)
}

fn exec_request(path: &Unknown, argv: &Unknown, envp: &Unknown) -> Outcome<Exec> {
    let path = args::path(path, "path")?;
    let argv_strings = string_array(argv, "argv")?;
    let envp = if args::is_undefined(envp) {
        std::env::vars_os()
            .map(|(k, v)| {
                let mut entry = k.into_encoded_bytes();
                entry.push(b'=');
                entry.extend(v.into_encoded_bytes());
                entry
            })
            .filter_map(|entry| CString::new(entry).ok())
            .collect()
    } else {
        environment(envp)?
    };
    let call = format!(
        "execve({path:?}, [{}])",
        argv_strings
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Exec {
        path: c_string(path, "path")?,
        argv: argv_strings
            .into_iter()
            .enumerate()
            .map(|(i, a)| c_string(a, &format!("argv[{i}]")))
            .collect::<Outcome<_>>()?,
        envp,
        call,
    })
}

fn c_string(s: String, name: &str) -> Outcome<CString> {
    CString::new(s).map_err(|e| {
        Failure::ArgValue(format!(
            "The argument '{name}' must be a string without null bytes. Received {:?}",
            String::from_utf8_lossy(&e.into_vec())
        ))
    })
}

fn string_array(value: &Unknown, name: &str) -> Outcome<Vec<String>> {
    let wrong = || {
        Failure::ArgType(format!(
            "The \"{name}\" argument must be an instance of Array of strings. {}",
            args::received(value)
        ))
    };
    if !value.is_array().unwrap_or(false) {
        return Err(wrong());
    }
    // SAFETY: checked to be an array just above.
    let array = unsafe { value.cast::<Array>() }.map_err(|_| wrong())?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let item: Unknown = array.get(i).ok().flatten().ok_or_else(wrong)?;
        if item.get_type().ok() != Some(ValueType::String) {
            return Err(Failure::ArgType(format!(
                "The \"{name}[{i}]\" argument must be of type string. {}",
                args::received(&item)
            )));
        }
        out.push(args::path(&item, &format!("{name}[{i}]"))?);
    }
    Ok(out)
}

fn environment(value: &Unknown) -> Outcome<Vec<CString>> {
    let wrong = || {
        Failure::ArgType(format!(
            "The \"env\" argument must be of type object (names to strings). {}",
            args::received(value)
        ))
    };
    if value.get_type().ok() != Some(ValueType::Object) || value.is_array().unwrap_or(false) {
        return Err(wrong());
    }
    // SAFETY: checked to be an object just above.
    let object = unsafe { value.cast::<Object>() }.map_err(|_| wrong())?;
    let keys = object.get_property_names().map_err(|_| wrong())?;
    let mut out = Vec::new();
    for i in 0..keys.get_array_length().unwrap_or(0) {
        let key: String = keys.get_element(i).map_err(|_| wrong())?;
        let item: Unknown = object.get_named_property(&key).map_err(|_| wrong())?;
        if args::is_undefined(&item) {
            continue;
        }
        if item.get_type().ok() != Some(ValueType::String) {
            return Err(Failure::ArgType(format!(
                "The \"env.{key}\" argument must be of type string. {}",
                args::received(&item)
            )));
        }
        if key.contains('=') || key.is_empty() {
            return Err(Failure::ArgValue(format!(
                "The argument 'env' must have names without '=' and not empty. Received {key:?}"
            )));
        }
        let item = args::path(&item, &format!("env.{key}"))?;
        out.push(c_string(format!("{key}={item}"), &format!("env.{key}"))?);
    }
    Ok(out)
}

/// This process's pid as the kernel sees it now: in a clone() callback, the child's (where
/// `process.pid` still holds the parent's). An uncached getpid(2).
#[napi]
pub fn getpid() -> i32 {
    nix::unistd::getpid().as_raw()
}

/// The calling thread's id: gettid(2), uncached.
#[napi]
pub fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
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
        assert_eq!(clone_flag_names(40), "signal 40");
    }

    #[test]
    fn refuses_thread_and_tls_flags() {
        for bad in [
            THREAD,
            SIGHAND,
            SETTLS,
            CHILD_SETTID,
            CHILD_CLEARTID,
            NEWTIME,
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
        assert!(matches!(check_flags(65), Err(Failure::ArgRange(_))));
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
