//! The one place that waits for children: a single thread blocked in epoll_wait over the pidfds
//! of every child anyone waits for (spawn()'s children, waitExit()), for the whole process.
//!
//! A pidfd becomes readable when its process exits; the thread then reaps it with
//! waitid(P_PIDFD), never with a wait that could take another child (libuv reaps its own by pid
//! and would silently lose one taken from it). Results reach JavaScript through one threadsafe
//! function per Node environment, ref'd only while something ref'd waits in it, so the event
//! loop stays alive exactly as long as it should. A Worker that ends, or a process that exits,
//! with waits pending: the thread still reaps those children when they exit (the Worker case),
//! and the environment's teardown reaps the ones that have already exited. A process that
//! exits (process.exit() runs no teardown) reaps them in an atexit handler.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Env, JsValue};
use nix::errno::Errno;

use crate::errors::{Failure, Outcome};
use crate::usage::{Run, RunReport};
use crate::wait::{decode, status_from_siginfo};

/// What a wait ends with: `(pid, raw wait status)`, or why it failed.
pub type Exit = Outcome<(i32, i32)>;

/// Who is told about an exit, on the JS thread.
pub enum Notify {
    /// A JavaScript function called as `callback(error, result)`.
    Callback(sys::napi_ref),
    /// A promise to settle (waitExit).
    Promise(sys::napi_deferred),
    /// Nobody yet: spawn() starts the wait with the child and says whom to tell right after
    /// (`claim`), with no JavaScript run in between.
    Pending,
}

/// An environment's threadsafe function, shared with the reaper thread. `None` once Node has
/// finalized it: the environment is going away and it must not be touched.
struct Channel {
    tsfn: Mutex<Option<usize>>,
}

/// A child being waited for, as the reaper thread sees it.
struct Watch {
    pid: i32,
    pidfd: i32,
    channel: Arc<Channel>,
    /// spawn()'s run: when it started and its cgroup, for the report made after the reap.
    run: Option<Run>,
}

struct Reaper {
    epoll: i32,
    watches: Mutex<HashMap<u64, Watch>>,
    next: AtomicU64,
    /// Watches the thread has taken out of `watches` and not reaped yet: the atexit handler
    /// waits for them.
    in_flight: AtomicUsize,
}

/// An environment's side, on its JS thread.
struct EnvWaits {
    tsfn: sys::napi_threadsafe_function,
    channel: Arc<Channel>,
    /// id -> (who to tell, whether it keeps the loop alive, the pidfd).
    pending: HashMap<u64, (Notify, bool, i32)>,
    /// id -> the parent's ends of a spawn's pipes, until JavaScript takes them (`claim`):
    /// closed at teardown if it never does (a Worker terminated in between).
    unclaimed: HashMap<u64, Vec<i32>>,
    refs: usize,
}

thread_local! {
    /// Each Node environment has a JS thread of its own; this is that environment's state.
    static ENV: RefCell<Option<EnvWaits>> = const { RefCell::new(None) };
}

static REAPER: OnceLock<Outcome<Reaper>> = OnceLock::new();
const EVENTS: usize = 64;

fn reaper() -> Outcome<&'static Reaper> {
    REAPER
        .get_or_init(|| {
            // SAFETY: epoll_create1 takes a flag.
            let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if epoll < 0 {
                return Err(sys_failure(
                    "epoll_create1",
                    "epoll_create1(EPOLL_CLOEXEC)".into(),
                ));
            }
            std::thread::Builder::new()
                .name("linux-clone reaper".into())
                .stack_size(64 * 1024)
                .spawn(move || run(epoll))
                .map_err(|e| {
                    Failure::sys(
                        Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)),
                        "pthread_create",
                        "pthread_create(reaper)".into(),
                        Some("no thread could be started to wait for children".into()),
                    )
                })?;
            crate::sys::at_exit(at_exit);
            Ok(Reaper {
                epoll,
                watches: Mutex::new(HashMap::new()),
                next: AtomicU64::new(1),
                in_flight: AtomicUsize::new(0),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn sys_failure(syscall: &'static str, call: String) -> Failure {
    Failure::sys(Errno::last(), syscall, call, None)
}

/// The reaper thread: waits for pidfds to become readable, reaps, hands the result over.
fn run(epoll: i32) {
    // SAFETY: a zeroed epoll_event array is valid.
    let mut events: [libc::epoll_event; EVENTS] = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: events has room for EVENTS entries.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), EVENTS as i32, -1) };
        if n < 0 {
            continue; // EINTR
        }
        let Some(reaper) = REAPER.get().and_then(|r| r.as_ref().ok()) else {
            continue;
        };
        for event in &events[..n as usize] {
            let id = event.u64;
            let watch = {
                let mut watches = reaper
                    .watches
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let watch = watches.remove(&id);
                if watch.is_some() {
                    reaper.in_flight.fetch_add(1, Ordering::AcqRel);
                }
                watch
            };
            let Some(mut watch) = watch else { continue };
            // SAFETY: the pidfd is open until the JS side (or we, below) close it.
            unsafe {
                libc::epoll_ctl(epoll, libc::EPOLL_CTL_DEL, watch.pidfd, ptr::null_mut());
            }
            let reaped = reap_usage(watch.pid, watch.pidfd, 0);
            reaper.in_flight.fetch_sub(1, Ordering::AcqRel);
            // The run's cgroup is read, emptied and removed here, off the JS thread.
            let report = match (&reaped, watch.run.take()) {
                (Ok((_, status, usage)), Some(run)) => Some(run.finish(*status, usage)),
                _ => None,
            };
            let exit = reaped.map(|(pid, status, _)| (pid, status));
            deliver(&watch, id, exit, report);
        }
    }
}

/// At the process's exit (process.exit() runs no environment teardown): every watched child
/// that has exited is reaped, and the ones the thread is reaping are waited for (briefly), so
/// that none is left to whoever inherits them. Running children are left to them.
fn at_exit() {
    let Some(Ok(reaper)) = REAPER.get() else {
        return;
    };
    let mut watches = reaper
        .watches
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    watches.retain(|_, w| !matches!(reap(w.pid, w.pidfd, libc::WNOHANG), Ok((pid, _)) if pid != 0));
    drop(watches);
    // Taken by the thread, whose waitid returns at once (the child has exited): a moment.
    for _ in 0..1000 {
        if reaper.in_flight.load(Ordering::Acquire) == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// waitid(P_PIDFD) for the child's exit, retried on EINTR: the one such wait in the package.
/// `flags` adds WNOHANG (then the pid is 0 while it runs) or WNOWAIT (nothing is reaped).
pub(crate) fn reap(pid: i32, pidfd: i32, flags: i32) -> Exit {
    reap_usage(pid, pidfd, flags).map(|(pid, status, _)| (pid, status))
}

/// reap(), with the kernel's rusage of the reaped child (its own and that of the children it
/// waited for): waitid(2) as a system call takes a fifth argument the C library's does not.
pub(crate) fn reap_usage(pid: i32, pidfd: i32, flags: i32) -> Outcome<(i32, i32, libc::rusage)> {
    loop {
        // SAFETY: a zeroed siginfo_t is valid for the kernel to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: plain data for the kernel to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; the pidfd is open.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                libc::P_PIDFD,
                pidfd as libc::id_t,
                &mut info as *mut libc::siginfo_t,
                libc::WEXITED | libc::__WALL | flags,
                &mut usage as *mut libc::rusage,
            )
        };
        if rc == 0 {
            // SAFETY: waitid filled info (si_pid is 0 if WNOHANG found nothing).
            let (child, status) = unsafe { (info.si_pid(), info.si_status()) };
            return Ok((child, status_from_siginfo(info.si_code, status), usage));
        }
        let errno = Errno::last();
        if errno == Errno::EINTR {
            continue;
        }
        let cause = match errno {
            Errno::ECHILD => Some(format!(
                "{pid} was reaped by another wait (waitpid or waitExit) before this one"
            )),
            _ => None,
        };
        return Err(Failure::sys(
            errno,
            "waitid",
            format!("waitid(P_PIDFD, pidfd of {pid}, WEXITED|__WALL)"),
            cause,
        ));
    }
}

/// Hands an exit to the environment's JS thread, or, if the environment is gone, closes the
/// pidfd that nobody will close now.
fn deliver(watch: &Watch, id: u64, exit: Exit, report: Option<RunReport>) {
    let tsfn = watch
        .channel
        .tsfn
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(tsfn) = *tsfn {
        let data = Box::into_raw(Box::new((id, exit, report, watch.pidfd)));
        // SAFETY: the function is alive: its finalizer clears `tsfn` under this lock.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                tsfn as sys::napi_threadsafe_function,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status == sys::Status::napi_ok {
            return;
        }
        // SAFETY: not queued, so still ours.
        drop(unsafe { Box::from_raw(data) });
    }
    // SAFETY: the pidfd belongs to this watch, whose environment is gone.
    unsafe { libc::close(watch.pidfd) };
}

unsafe extern "C" fn finalize_channel(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if data.is_null() {
        return;
    }
    // SAFETY: data is the Arc::into_raw given at creation; Node finalizes exactly once.
    let channel = unsafe { Arc::from_raw(data as *const Channel) };
    *channel.tsfn.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Runs on the JS thread for each exit. `env` is NULL when Node drops the queue at teardown.
unsafe extern "C" fn on_exit_in_js(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    // SAFETY: data is the Box the reaper queued, handed over exactly once.
    let boxed = unsafe { Box::from_raw(data as *mut (u64, Exit, Option<RunReport>, i32)) };
    let (id, exit, report, pidfd) = *boxed;
    let Some((notify, _)) = take_pending(env, id) else {
        // The environment's waits are gone (torn down while this was queued): the pidfd is
        // still the watch's, and nobody else will close it.
        // SAFETY: the watch owned this pidfd; teardown closes only those it took back itself.
        unsafe { libc::close(pidfd) };
        return;
    };
    // The pidfd is closed here, on the JS thread, so that a kill() through it can never reach a
    // process that reuses the number: after this, the caller knows the child has exited.
    // SAFETY: the watch owned this pidfd.
    unsafe { libc::close(pidfd) };
    if env.is_null() {
        return;
    }
    let env = Env::from_raw(env);
    let _ = catch_unwind(AssertUnwindSafe(|| notify_js(&env, notify, exit, report)));
}

fn take_pending(env: sys::napi_env, id: u64) -> Option<(Notify, i32)> {
    ENV.with(|cell| {
        let mut state = cell.borrow_mut();
        let waits = state.as_mut()?;
        let (notify, refd, pidfd) = waits.pending.remove(&id)?;
        if refd {
            waits.refs -= 1;
            if waits.refs == 0 {
                // SAFETY: on the environment's JS thread, as napi requires.
                unsafe { sys::napi_unref_threadsafe_function(env, waits.tsfn) };
            }
        }
        Some((notify, pidfd))
    })
}

fn notify_js(env: &Env, notify: Notify, exit: Exit, report: Option<RunReport>) -> napi::Result<()> {
    let raw = env.raw();
    let (error, result) = match exit {
        // SAFETY: env is live on this thread.
        Ok((pid, status)) => (
            None,
            Some(unsafe { crate::wait::WaitResult::to_napi_value(raw, decode(pid, status)) }?),
        ),
        Err(f) => (Some(f.to_js_value(env)?.raw()), None),
    };
    match notify {
        Notify::Pending => Ok(()),
        Notify::Promise(deferred) => {
            // SAFETY: the deferred is this wait's, settled only here.
            let status = unsafe {
                match (error, result) {
                    (Some(e), _) => sys::napi_reject_deferred(raw, deferred, e),
                    (None, Some(r)) => sys::napi_resolve_deferred(raw, deferred, r),
                    (None, None) => sys::Status::napi_ok,
                }
            };
            napi::check_status!(status)
        }
        Notify::Callback(reference) => {
            let mut func = ptr::null_mut();
            let mut undefined = ptr::null_mut();
            let mut null = ptr::null_mut();
            // SAFETY: the reference is this wait's; deleted once, here.
            unsafe {
                sys::napi_get_reference_value(raw, reference, &mut func);
                sys::napi_delete_reference(raw, reference);
                sys::napi_get_undefined(raw, &mut undefined);
                sys::napi_get_null(raw, &mut null);
            }
            let report = match report {
                // SAFETY: env is live on this thread.
                Some(r) => unsafe { RunReport::to_napi_value(raw, r) }?,
                None => undefined,
            };
            let argv = [error.unwrap_or(null), result.unwrap_or(undefined), report];
            let mut ret = ptr::null_mut();
            // SAFETY: func is a function (checked at registration); an exception it throws
            // stays pending and Node reports it as uncaught.
            unsafe { sys::napi_call_function(raw, undefined, func, 3, argv.as_ptr(), &mut ret) };
            Ok(())
        }
    }
}

/// The environment's state, made on first use: its threadsafe function and teardown hook.
fn with_env<T>(env: &Env, f: impl FnOnce(&mut EnvWaits) -> T) -> napi::Result<T> {
    ENV.with(|cell| {
        let mut state = cell.borrow_mut();
        if state.is_none() {
            *state = Some(make_env_waits(env)?);
        }
        match state.as_mut() {
            Some(waits) => Ok(f(waits)),
            None => Err(napi::Error::from_reason("unreachable")),
        }
    })
}

fn make_env_waits(env: &Env) -> napi::Result<EnvWaits> {
    let channel = Arc::new(Channel {
        tsfn: Mutex::new(None),
    });
    let name = env.create_string("linux-clone reaper")?;
    let finalize_data = Arc::into_raw(Arc::clone(&channel)) as *mut c_void;
    let mut tsfn = ptr::null_mut();
    // SAFETY: env is live; the callbacks match napi's signatures and never unwind.
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            env.raw(),
            ptr::null_mut(),
            ptr::null_mut(),
            name.raw(),
            0,
            1,
            finalize_data,
            Some(finalize_channel),
            ptr::null_mut(),
            Some(on_exit_in_js),
            &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok || tsfn.is_null() {
        // SAFETY: no finalizer will run; take its reference back.
        drop(unsafe { Arc::from_raw(finalize_data as *const Channel) });
        return Err(napi::Error::from_status(napi::Status::from(status)));
    }
    *channel.tsfn.lock().unwrap_or_else(PoisonError::into_inner) = Some(tsfn as usize);
    // Unref'd until something ref'd waits.
    // SAFETY: on the JS thread.
    unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn) };
    // SAFETY: env is live; the hook runs once at its teardown.
    unsafe { sys::napi_add_env_cleanup_hook(env.raw(), Some(teardown), ptr::null_mut()) };
    Ok(EnvWaits {
        tsfn,
        channel,
        pending: HashMap::new(),
        unclaimed: HashMap::new(),
        refs: 0,
    })
}

/// At environment teardown: children that already exited are reaped now (the reaper thread
/// would otherwise do it only if the process lives on); the rest are reaped by the reaper
/// thread if the process lives on (a Worker ended), or by whoever inherits them.
unsafe extern "C" fn teardown(_arg: *mut c_void) {
    let Some(waits) = ENV.with(|cell| cell.borrow_mut().take()) else {
        return;
    };
    for fds in waits.unclaimed.values() {
        for &fd in fds {
            // SAFETY: never handed to JavaScript, so ours alone.
            unsafe { libc::close(fd) };
        }
    }
    let Ok(reaper) = reaper() else { return };
    for (id, (_, _, pidfd)) in waits.pending {
        let pid = reaper
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .map(|w| w.pid);
        let Some(pid) = pid else { continue };
        if let Ok((child, _)) = reap(pid, pidfd, libc::WNOHANG) {
            if child != 0 {
                let taken = reaper
                    .watches
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                if taken.is_some() {
                    // SAFETY: the watch is gone; its pidfd is ours to close.
                    unsafe {
                        libc::epoll_ctl(reaper.epoll, libc::EPOLL_CTL_DEL, pidfd, ptr::null_mut());
                        libc::close(pidfd);
                    }
                }
            }
        }
    }
}

/// Waits for the child behind `pidfd` (which the reaper owns from now on and closes after the
/// exit) and tells `notify` on this environment's JS thread. Returns the wait's id.
pub fn watch(
    env: &Env,
    pid: i32,
    pidfd: i32,
    notify: Notify,
    run: Option<Run>,
) -> napi::Result<Outcome<u64>> {
    let reaper = match reaper() {
        Ok(r) => r,
        Err(f) => return Ok(Err(f)),
    };
    let id = reaper.next.fetch_add(1, Ordering::Relaxed);
    with_env(env, |waits| {
        waits.pending.insert(id, (notify, true, pidfd));
        waits.refs += 1;
        if waits.refs == 1 {
            // SAFETY: on the JS thread.
            unsafe { sys::napi_ref_threadsafe_function(env.raw(), waits.tsfn) };
        }
        reaper
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Watch {
                    pid,
                    pidfd,
                    channel: Arc::clone(&waits.channel),
                    run,
                },
            );
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: id,
        };
        // SAFETY: a live epoll fd and pidfd; event is read by the kernel.
        let rc = unsafe { libc::epoll_ctl(reaper.epoll, libc::EPOLL_CTL_ADD, pidfd, &mut event) };
        if rc < 0 {
            let failure = sys_failure(
                "epoll_ctl",
                format!("epoll_ctl(EPOLL_CTL_ADD, pidfd of {pid})"),
            );
            reaper
                .watches
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            if let Some((notify, _, _)) = waits.pending.remove(&id) {
                forget(env, notify);
            }
            waits.refs -= 1;
            if waits.refs == 0 {
                // SAFETY: on the JS thread.
                unsafe { sys::napi_unref_threadsafe_function(env.raw(), waits.tsfn) };
            }
            return Err(failure);
        }
        Ok(id)
    })
}

fn forget(env: &Env, notify: Notify) {
    if let Notify::Callback(reference) = notify {
        // SAFETY: the reference was made for this wait and is deleted once.
        unsafe { sys::napi_delete_reference(env.raw(), reference) };
    }
}

/// Keeps `fds` (a spawn's pipe ends) for wait `id` until `claim`, closing them at teardown.
pub fn hold(id: u64, fds: &[i32]) {
    let fds: Vec<i32> = fds.iter().copied().filter(|&fd| fd >= 0).collect();
    ENV.with(|cell| {
        if let Some(waits) = cell.borrow_mut().as_mut() {
            waits.unclaimed.insert(id, fds);
        }
    });
}

/// Gives the pending wait `id` (see `Notify::Pending`) whom to tell. False, and `notify`
/// released, if there is no such wait.
pub fn claim(env: &Env, id: u64, notify: Notify) -> bool {
    let left = ENV.with(|cell| {
        let mut state = cell.borrow_mut();
        if let Some(waits) = state.as_mut() {
            waits.unclaimed.remove(&id);
        }
        match state.as_mut().and_then(|w| w.pending.get_mut(&id)) {
            Some(entry) if matches!(entry.0, Notify::Pending) => {
                entry.0 = notify;
                None
            }
            _ => Some(notify),
        }
    });
    match left {
        None => true,
        Some(notify) => {
            forget(env, notify);
            false
        }
    }
}

/// Whether wait `id` keeps the event loop alive (ref) or not (unref). False if it has ended.
pub fn set_ref(env: &Env, id: u64, keep_alive: bool) -> bool {
    ENV.with(|cell| {
        let mut state = cell.borrow_mut();
        let Some(waits) = state.as_mut() else {
            return false;
        };
        let Some(entry) = waits.pending.get_mut(&id) else {
            return false;
        };
        if entry.1 == keep_alive {
            return true;
        }
        entry.1 = keep_alive;
        if keep_alive {
            waits.refs += 1;
            if waits.refs == 1 {
                // SAFETY: on the JS thread.
                unsafe { sys::napi_ref_threadsafe_function(env.raw(), waits.tsfn) };
            }
        } else {
            waits.refs -= 1;
            if waits.refs == 0 {
                // SAFETY: on the JS thread.
                unsafe { sys::napi_unref_threadsafe_function(env.raw(), waits.tsfn) };
            }
        }
        true
    })
}
