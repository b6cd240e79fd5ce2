//! The child of clone(), from its first instruction to its exit or exec, in one function.
//!
//! It runs on the caller's stack below STACK_GAP, on the caller's thread pointer, while the
//! caller sleeps: to V8 and the C library it is that thread, carrying on in new namespaces.
//! Allocation and locks are therefore fine here, unlike in a fork child.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::Ordering;

use napi::sys;
use nix::sched::CloneFlags;
use nix::sys::signal::SigmaskHow;

use super::report;
use super::request::Request;
use super::{Frame, Stage};

/// Exit status of a child whose exec failed; the parent reports the errno instead.
const EXEC_FAILED: c_int = 127;

pub(super) extern "C" fn main(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Frame of the clone() call that made this child; the parent keeps it
    // alive and untouched until this child exits or execs.
    let frame = unsafe { &*(arg as *const Frame) };

    // 1. Die with the parent. A Ctrl-C or SIGTERM that kills Node while the callback runs must
    //    not leave the callback running on, orphaned, in memory nobody else uses any more.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // 2. The parent may have died before step 1 took effect; then nobody waits for this child.
    //    (In a new pid namespace the parent is outside it and reads as 0.)
    let parent = nix::unistd::getppid().as_raw();
    if parent != 0 && parent != frame.parent {
        // SAFETY: _exit ends this process at once; nothing of the parent's is touched.
        unsafe { libc::_exit(1) };
    }

    // 3. Run the callback. The stage tells the parent, should this child die now, that the
    //    shared heap may be mid-update.
    frame.set_stage(Stage::RunningJs);
    let status = run_callback(frame);
    frame.set_stage(Stage::Exiting);

    // 4. Threads the callback started (a Worker, inspector.open()) belong to this child's
    //    thread group but run on the parent's memory: they can neither outlive the child nor
    //    be stopped safely. The parent takes the fatal path; exit_group below ends them.
    //    unshare(THREAD) succeeds, changing nothing, only for a task alone in its thread group:
    //    one cheap syscall. Where it fails for another reason (kernels where THREAD implied VM,
    //    a seccomp filter), the threads are counted.
    if nix::sched::unshare(CloneFlags::CLONE_THREAD).is_err() && thread_count() > 1 {
        frame.set_stage(Stage::ThreadsLeft);
        // SAFETY: ends the whole thread group at once.
        unsafe { libc::_exit(1) };
    }

    let request = frame.request.borrow();
    if let Request::Exec(exec) = &*request {
        // 5. A file descriptor table of its own, so that step 6 does not change the parent's
        //    (CLONE_FILES shares it until here; the exec would unshare it anyway).
        // SAFETY: unshare with a flag only.
        let own_fds = unsafe { libc::unshare(libc::CLONE_FILES) } == 0;
        // 6. Node marks stdin, stdout and stderr close-on-exec; the program needs them open,
        //    as child_process gives them to its children.
        if own_fds {
            for fd in 0..3 {
                // SAFETY: fcntl on this child's own fd table; a closed fd just fails.
                unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
            }
        }
        // 7. Default signal handling: Node's handlers are addresses in the old image, and it
        //    ignores SIGPIPE and SIGXFSZ, which a program must not inherit. Dispositions are
        //    this child's own (no CLONE_SIGHAND), so the parent keeps its handlers. nix's Signal
        //    has no real-time signals, hence libc.
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                // SAFETY: resets this task's own disposition; no handler code runs.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
        // 8. The program outlives the thread that cloned it if it likes: the death signal of
        //    step 1 would otherwise survive the exec.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
        // 9. The caller's signal mask, last, so no signal is handled between the steps above.
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&frame.mask), None);
        frame.set_stage(Stage::Executing);
        let errno = match nix::unistd::execve(&exec.path, &exec.argv, &exec.envp) {
            Err(errno) => errno,
            Ok(never) => match never {},
        };
        frame.errno.store(errno as i32, Ordering::SeqCst);
        frame.set_stage(Stage::ExecFailed);
        // SAFETY: as in step 10.
        unsafe { libc::_exit(EXEC_FAILED) };
    }
    drop(request);

    // 10. exit_group, not the single-thread exit the C library's clone wrapper makes when this
    //     function returns: nothing of this process may run on once the child has ended.
    // SAFETY: _exit runs no atexit handlers and flushes nothing of the parent's.
    unsafe { libc::_exit(status) }
}

/// Threads in this child's thread group. One stat(2): procfs gives /proc/self/task a link
/// count of 2 plus the number of threads; listing it (three calls) where that does not hold.
fn thread_count() -> usize {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: stat of a constant path into a local buffer.
    if unsafe { libc::stat(c"/proc/self/task".as_ptr(), st.as_mut_ptr()) } == 0 {
        // SAFETY: stat succeeded and filled it.
        let links = unsafe { st.assume_init() }.st_nlink as usize;
        if links >= 3 {
            return links - 2;
        }
    }
    list_threads()
}

/// The entries of /proc/self/task, read with one getdents64 into a buffer on the stack (1 if
/// it cannot be read).
fn list_threads() -> usize {
    let mut buf = [0u8; 2048];
    // SAFETY: open, getdents64 and close on a path and a buffer that live through the calls.
    let len = unsafe {
        let fd = libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return 1;
        }
        let n = libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len());
        libc::close(fd);
        n
    };
    let Ok(len) = usize::try_from(len) else {
        return 1;
    };
    // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
    let (mut at, mut entries) = (0, 0);
    while at + 20 <= len {
        let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
        if reclen == 0 {
            break;
        }
        if buf[at + 19] != b'.' {
            entries += 1;
        }
        at += reclen;
    }
    entries.max(1)
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
    let thrown = report::take_exception(env);
    match &*frame.request.borrow() {
        Request::Exit(code) => return *code,
        Request::Exec(_) => return 0,
        Request::None => {}
    }
    if let Some(error) = thrown {
        if !report::uncaught(env, error) {
            frame.stopped.store(true, Ordering::SeqCst);
        }
        return 1;
    }
    if status != sys::Status::napi_ok {
        if report::not_run(status) {
            frame.stopped.store(true, Ordering::SeqCst);
        }
        return 1;
    }
    report::exit_status(env, result)
}
