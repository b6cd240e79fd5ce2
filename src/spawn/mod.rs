//! spawn(): a program started in new or existing namespaces, set up natively in the child.
//!
//! The data path: the TypeScript layer normalises the options into a `SpawnPlan` → `prepare`
//! builds everything the child needs → the clone (CLONE_VM on a stack of its own, so the cost
//! does not grow with the heap) → the child walks its steps (child.rs) while the parent does its
//! part (id maps, a cgroup) → execve, or a `Report` on the error pipe → a `Failure::Spawn` here →
//! the reaper settles the exit.

mod child;
mod confine;
mod filter;
mod parent;
mod plan;
mod terminal;
mod tree;
mod vm;

use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use napi::bindgen_prelude::{Buffer, Function, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;
use nix::errno::Errno;

use crate::errors::{to_js, Failure, Outcome};
use crate::reaper::{self, Notify};
use crate::sys;
use crate::usage::{self, Run, RunReport};
use child::{Report, Step};
pub use plan::SpawnPlan;

/// The child's stack: its steps are a few small frames of raw system calls.
const STACK: usize = 64 * 1024;
const GUARD: usize = 4096;
/// clone(2)'s flags for the namespaces it can create itself (time needs unshare or clone3).
pub(crate) const CLONE_NS: u32 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWCGROUP) as u32;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A started child as the parent holds it.
pub struct Started {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// The parent's end for each child fd that is a pipe, else -1.
    pub parent_fds: Vec<RawFd>,
    /// The pty master the child opened, with `terminal`.
    pub terminal: Option<OwnedFd>,
    /// The forwarded ports' listening sockets, in the order of options.forwards.
    pub forwards: Vec<OwnedFd>,
    /// When it started, and the cgroup made for it.
    pub run: Run,
    /// fds to hold until the child has been reaped: syncFd's duplicate (the caller's third
    /// party sees EOF when it closes) and, when spawn() returned while the child waits on a
    /// block fd, the sync pipe it checks.
    pub held: Vec<OwnedFd>,
    /// When spawn() returned while the child waits on a block fd: the error pipe, where a
    /// failure past the wait is reported (`late_failure` reads it once the child has exited).
    pub late: Option<OwnedFd>,
}

/// fds the parent created for the child; closed on drop unless taken.
#[derive(Default)]
struct Fds(Vec<RawFd>);

impl Drop for Fds {
    fn drop(&mut self) {
        for fd in self.0.drain(..) {
            if fd >= 0 {
                // SAFETY: fds this spawn created and still owns.
                unsafe { libc::close(fd) };
            }
        }
    }
}

fn sys_err(step: Step, syscall: &'static str, call: String, errno: Errno) -> Failure {
    let cause = match errno {
        Errno::EMFILE => Some(
            "this process has no free fd: its fd table is full (at \
             RLIMIT_NOFILE, `ulimit -n`); close fds or raise the limit"
                .to_string(),
        ),
        Errno::ENFILE => Some("the system's open file table is full (fs.file-max)".to_string()),
        _ => None,
    };
    Failure::Spawn {
        errno,
        step: step.name(),
        index: None,
        syscall,
        call,
        cause,
        path: None,
    }
}

fn last(step: Step, syscall: &'static str, call: &str) -> Failure {
    sys_err(step, syscall, call.to_string(), Errno::last())
}

/// A pipe or socketpair with both ends close-on-exec.
fn socketpair() -> Outcome<(RawFd, RawFd)> {
    let mut sv = [-1; 2];
    // SAFETY: sv has room for two fds.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    if rc < 0 {
        return Err(last(
            Step::Fds,
            "socketpair",
            "socketpair(AF_UNIX, SOCK_STREAM)",
        ));
    }
    Ok((sv[0], sv[1]))
}

fn pipe() -> Outcome<(RawFd, RawFd)> {
    let mut p = [-1; 2];
    // SAFETY: p has room for two fds.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(last(Step::Fds, "pipe2", "pipe2(O_CLOEXEC)"));
    }
    Ok((p[0], p[1]))
}

/// `fd` moved to a number at or above `min`, close-on-exec (the child's fds 0..min are taken).
fn above(fd: RawFd, min: usize) -> Outcome<RawFd> {
    if fd as usize >= min {
        return Ok(fd);
    }
    // SAFETY: duplicates an fd this spawn owns; the original is closed after.
    let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min as libc::c_int) };
    let errno = Errno::last();
    // SAFETY: as above.
    unsafe { libc::close(fd) };
    if moved < 0 {
        return Err(sys_err(
            Step::Fds,
            "fcntl",
            "fcntl(F_DUPFD_CLOEXEC)".into(),
            errno,
        ));
    }
    Ok(moved)
}

/// The stack the child runs on, unmapped when dropped (after the child is done with it).
struct Stack(*mut c_void, usize);

impl Stack {
    /// `size` bytes of stack above a guard page.
    fn new(size: usize) -> Outcome<Stack> {
        // SAFETY: a fresh private mapping.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                size + GUARD,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(last(Step::Clone, "mmap", "mmap(child stack)"));
        }
        // The lowest page faults instead of running into other memory.
        // SAFETY: the first page of the mapping just made.
        unsafe { libc::mprotect(base, GUARD, libc::PROT_NONE) };
        Ok(Stack(base, size))
    }

    fn low(&self) -> usize {
        self.0 as usize + GUARD
    }

    fn top(&self) -> usize {
        self.0 as usize + GUARD + self.1
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), no longer used by any child.
        unsafe { libc::munmap(self.0, self.1 + GUARD) };
    }
}

/// One page shared with every process the spawn makes, copies of the memory included: the
/// child's `Record`. Zeroed by the kernel, unmapped when dropped.
struct RecordPage(*mut child::Record);

impl RecordPage {
    fn new() -> Outcome<RecordPage> {
        // SAFETY: a fresh shared mapping.
        let page = unsafe {
            libc::mmap(
                ptr::null_mut(),
                GUARD,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(last(Step::Clone, "mmap", "mmap(record page)"));
        }
        Ok(RecordPage(page.cast()))
    }

    /// What the child left, once it has exec'd or exited.
    fn read(&self) -> child::Record {
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        // SAFETY: the page is mapped until drop; the child no longer writes it.
        unsafe { ptr::read_volatile(self.0) }
    }
}

impl Drop for RecordPage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new().
        unsafe { libc::munmap(self.0.cast(), GUARD) };
    }
}

/// clone3(2)'s argument block.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// All signals blocked on this thread for as long as it lives, then the old mask back: the
/// child starts with everything blocked, so none of Node's handlers can run in it.
struct Blocked(libc::sigset_t);

impl Blocked {
    fn all() -> Blocked {
        // SAFETY: sigset_t is plain data filled by the calls.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            Blocked(old)
        }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in all().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, ptr::null_mut()) };
    }
}

/// Starts the program of `plan`. Returns once it has exec'd, or with the step that failed; in
/// both cases nothing is left behind (no zombie, no fd).
pub fn start(plan: &SpawnPlan) -> Outcome<Started> {
    parent::check_fds(plan)?;
    // The run's cgroup first: a refusal costs no clone. Dropped on failure, which removes it.
    let run_cgroup = match &plan.limits {
        Some(limits) => Some(crate::cgroup::create(limits)?),
        None => None,
    };
    // The cgroup the child starts in: the run's, or the caller's `cgroup`.
    let cgroup: Option<(RawFd, String)> = match &run_cgroup {
        Some(run) => run.dir().map(|(fd, path)| (fd, path.to_string())),
        None => plan.cgroup_fd.map(|fd| {
            let label = plan
                .cgroup_path
                .clone()
                .unwrap_or_else(|| format!("cgroup fd {fd}"));
            (fd, label)
        }),
    };
    let n = plan.stdio.len().max(3);
    // fds the child gets, fds the parent keeps, fds to close once the child has them.
    let mut child_fds = vec![-1; n];
    let mut parent_fds = vec![-1; n];
    let mut theirs = Fds::default();
    let mut ours = Fds::default();
    for (i, slot) in plan.stdio.iter().enumerate() {
        match slot.kind.as_str() {
            "pipe" => {
                let (mine, other) = socketpair()?;
                ours.0.push(mine);
                theirs.0.push(other);
                parent_fds[i] = mine;
                child_fds[i] = other;
            }
            "fd" => child_fds[i] = slot.fd.unwrap_or(-1),
            "null" => {
                // SAFETY: a constant path.
                let fd =
                    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
                if fd < 0 {
                    return Err(last(Step::Fds, "open", "open('/dev/null')"));
                }
                theirs.0.push(fd);
                child_fds[i] = fd;
            }
            _ => {}
        }
    }
    let dup = |fd: Option<i32>, min: usize| -> Outcome<Option<OwnedFd>> {
        let Some(fd) = fd else { return Ok(None) };
        // SAFETY: duplicates an fd check_fds found open.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min as libc::c_int) };
        if copy < 0 {
            return Err(last(Step::Fds, "fcntl", "fcntl(F_DUPFD_CLOEXEC)"));
        }
        Ok(Some(unsafe_owned(copy)))
    };
    let block_fd = dup(plan.block_fd, n)?;
    let userns_block_fd = dup(plan.userns_block_fd, n)?;
    let sync_hold = dup(plan.sync_fd, 0)?;
    // Waiting on either, the child outlives this call (it returns once the child waits).
    let outlives = block_fd.is_some() || userns_block_fd.is_some();
    let (err_read, err_write) = pipe()?;
    let err_read = unsafe_owned(err_read);
    let err_write = unsafe_owned(above(err_write, n)?);
    let (sync_read, sync_write) = pipe()?;
    let sync_read = unsafe_owned(above(sync_read, n)?);
    let sync_write = unsafe_owned(sync_write);
    // The child sends fds back over this: the forwarded ports' sockets (made in its network
    // namespace), then the pty master (it opens the pty itself: only there is the /dev/ptmx of
    // its own devpts in sight).
    let nforwards = plan.forwards.as_ref().map_or(0, Vec::len);
    let tty = match plan.terminal.is_some() || nforwards > 0 {
        true => {
            let (mine, theirs) = socketpair()?;
            Some((unsafe_owned(mine), unsafe_owned(above(theirs, n)?)))
        }
        false => None,
    };

    let new_user = plan.namespaces & libc::CLONE_NEWUSER as u32 != 0;
    let maps =
        new_user && (plan.uid_map.is_some() || plan.gid_map.is_some() || plan.setgroups.is_some());
    let want_cgroup = cgroup.is_some();
    let mut prepared = plan::prepare(
        plan,
        child_fds,
        sync_read.as_raw_fd(),
        err_write.as_raw_fd(),
        tty.as_ref().map_or(-1, |t| t.1.as_raw_fd()),
        // With CLONE_INTO_CGROUP the child starts in its cgroup: it waits only for id maps, or
        // for the parent to move it where clone3 is refused (set below).
        maps,
    )?;
    // A joined pid or time namespace needs a grandchild (child.rs, step 3b), on the lower half;
    // so does a new pid namespace made after joins (step 3a, with a new user namespace).
    let joined = plan.join.iter().fold(0, |mask, j| mask | j.nstype);
    let joins_time = joined & libc::CLONE_NEWTIME as u32 != 0;
    let late_user = new_user && !plan.join.is_empty();
    let needs_grandchild = joined & libc::CLONE_NEWPID as u32 != 0
        || joins_time
        || (late_user && plan.namespaces & libc::CLONE_NEWPID as u32 != 0);
    // The child runs on the top region; a grandchild below it; a program under a reaper on
    // the lowest.
    let reaper = plan.reaper.unwrap_or(false);
    let regions = 1 + needs_grandchild as usize + reaper as usize;
    let stack = Stack::new(regions * STACK)?;
    let record = RecordPage::new()?;
    prepared.child.record = record.0;
    prepared.child.block_fd = block_fd.as_ref().map_or(-1, |f| f.as_raw_fd());
    prepared.child.userns_block_fd = userns_block_fd.as_ref().map_or(-1, |f| f.as_raw_fd());
    if needs_grandchild {
        prepared.child.grandchild_stack = stack.top() - STACK;
        prepared.child.grandchild_copies = joins_time;
    }
    if reaper {
        prepared.child.program_stack = stack.low() + STACK;
        // The reaper outlives this call: it gets a copy of the memory (no CLONE_VM) and, once
        // the program has exec'd, unmaps all of it but its stack and this addon's code.
        let image = vm::image();
        prepared.child.reaper_keep = [
            (stack.low() - GUARD, stack.top()),
            image.unwrap_or((0, 0)),
            vm::rseq_area(),
        ];
        prepared.child.reaper_trim = vm::shared() && image.is_some();
    }
    // With joins, a new user namespace comes after them (step 3a): clone() makes none.
    let clone_ns = if late_user {
        prepared.child.late_unshare = plan.namespaces & CLONE_NS;
        0
    } else {
        plan.namespaces & CLONE_NS
    };
    let exit_signal = plan.exit_signal as u32 & 0xff;

    // Probed before signals are blocked: the probe waits for a child of its own. Where children
    // cannot share memory (qemu-user), clone() takes no CLONE_PIDFD either: pidfd_open after.
    let shared = vm::shared();
    // A child that outlives this call (a reaper, or one that waits on a block fd after spawn()
    // returned) gets a copy of the memory: ours, its plan and stack included, is freed.
    let vm_flag = if reaper || outlives {
        0
    } else {
        vm::clone_vm()
    };
    let pidfd_flag = if shared { libc::CLONE_PIDFD as u32 } else { 0 };
    let mut pidfd: i32 = -1;
    let mut via_procs = false;
    let mut arg = &*prepared.child as *const child::ChildPlan as *mut c_void;
    let started_at = std::time::Instant::now();
    let rc = {
        let _blocked = Blocked::all();
        let mut rc = -(libc::ENOSYS as isize);
        if let Some((cgroup, _)) = &cgroup {
            let cgroup = *cgroup;
            let args = CloneArgs {
                flags: vm_flag as u64
                    | (libc::CLONE_PIDFD as u64)
                    | clone_ns as u64
                    | CLONE_INTO_CGROUP,
                pidfd: &mut pidfd as *mut i32 as u64,
                exit_signal: exit_signal as u64,
                stack: stack.low() as u64,
                stack_size: (stack.top() - stack.low()) as u64,
                cgroup: cgroup as u64,
                ..Default::default()
            };
            // SAFETY: the stack is ours and unused; child_main follows the trampoline's rules.
            rc = unsafe {
                sys::clone_into(
                    libc::SYS_clone3,
                    [
                        &args as *const CloneArgs as usize,
                        std::mem::size_of::<CloneArgs>(),
                        0,
                        0,
                        0,
                    ],
                    child::child_main,
                    arg,
                )
            };
            // Refused (an old kernel, or a container's seccomp profile that answers EPERM for
            // clone3): clone(), and the parent writes cgroup.procs while the child waits.
            if matches!(-rc as i32, libc::ENOSYS | libc::EPERM | libc::E2BIG) {
                via_procs = true;
                pidfd = -1;
                prepared.child.wait_for_parent = true;
                arg = &*prepared.child as *const child::ChildPlan as *mut c_void;
            }
        }
        if cgroup.is_none() || via_procs {
            let flags = vm_flag | pidfd_flag | clone_ns | exit_signal;
            // SAFETY: as above.
            rc = unsafe {
                sys::clone_into(
                    libc::SYS_clone,
                    [
                        flags as usize,
                        stack.top(),
                        &mut pidfd as *mut i32 as usize,
                        0,
                        0,
                    ],
                    child::child_main,
                    arg,
                )
            };
        }
        rc
    };
    if rc < 0 {
        let errno = Errno::from_raw(-rc as i32);
        return Err(Failure::Spawn {
            errno,
            step: Step::Clone.name(),
            index: None,
            syscall: if want_cgroup && !via_procs {
                "clone3"
            } else {
                "clone"
            },
            call: format!(
                "clone({}{})",
                match (vm_flag != 0, pidfd_flag != 0) {
                    (true, true) => "VM|PIDFD|",
                    (false, true) => "PIDFD|",
                    (true, false) => "VM|",
                    (false, false) => "",
                },
                crate::flags::unshare_flag_names(clone_ns)
            ),
            cause: parent::clone_cause(errno, plan.namespaces),
            path: None,
        });
    }
    let mut pid = rc as i32;
    if pidfd < 0 {
        // No CLONE_PIDFD: the child is ours and unreaped, so its pid cannot be reused yet.
        match crate::pidfd::open_pidfd(pid.into()) {
            Ok(fd) => pidfd = fd,
            Err(failure) => {
                // SAFETY: our own unreaped child, by pid.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, ptr::null_mut(), libc::__WALL);
                }
                return Err(failure);
            }
        }
    }
    // SAFETY: CLONE_PIDFD or pidfd_open made this fd, and nothing else owns it.
    let mut pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // The child has its own copies now.
    drop(theirs);
    drop(err_write);
    drop(sync_read);
    drop(block_fd);
    drop(userns_block_fd);
    let tty_mine = tty.map(|(mine, _theirs)| mine);

    let moved_by_parent = if via_procs { cgroup.as_ref() } else { None };
    // A user namespace made at step 3a: its maps can be written once the child says it exists
    // (or it failed before, and that is the outcome).
    let early = if late_user && (maps || via_procs) {
        match read_report(err_read.as_raw_fd()) {
            Ok(Some(r)) if r.step == 0 && r.detail == child::READY => None,
            Ok(Some(r)) => Some(Ok(Some(report_failure(plan, &prepared.tree, r, 0)))),
            Ok(None) => None,
            Err(f) => Some(Err(f)),
        }
    } else {
        None
    };
    let parent_part = match &early {
        Some(_) => Ok(()),
        None => parent::parent_part(plan, pid, moved_by_parent),
    };
    let mut grandchild = None;
    let mut waiting = false;
    let outcome = match (early, parent_part) {
        (Some(outcome), _) => outcome,
        (None, Ok(())) => {
            if maps || via_procs {
                // SAFETY: one byte to a pipe we own.
                unsafe { libc::write(sync_write.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            }
            read_reports(
                err_read.as_raw_fd(),
                &mut grandchild,
                &mut waiting,
                needs_grandchild,
            )
            .map(|r| {
                // A filter may have refused the report's write: the record has it then. Not
                // after a wait on a block fd: a failure past it, which the record may already
                // hold, is the late one (`late_failure`), not this call's.
                let left = record.read();
                let r = match waiting {
                    false => r.or((left.failed != 0).then_some(left.report)),
                    true => r,
                };
                r.map(|r| report_failure(plan, &prepared.tree, r, left.refused))
            })
        }
        (None, Err(f)) => Ok(Some(f)),
    };
    // Until here the child may still be running on its stack and checking that we are alive.
    // Waiting on a block fd, the child checks at step 19 that we are alive: keep it open.
    let sync_write = waiting.then_some(sync_write);
    if let Some(gpid) = grandchild {
        // The child only made the grandchild (a child of this thread too) and exited: reap it
        // and hold the grandchild instead, which cannot be reaped (and its pid reused) before
        // pidfd_open.
        reap_now(&pidfd);
        pid = gpid;
        match crate::pidfd::open_pidfd(gpid.into()) {
            Ok(fd) => pidfd = unsafe_owned(fd),
            Err(failure) => {
                // SAFETY: waits for our own child by pid; nobody else can reap it.
                unsafe { libc::waitpid(gpid, ptr::null_mut(), libc::__WALL) };
                return Err(failure);
            }
        }
    }
    let outcome = match (outcome, &tty_mine) {
        (Ok(None), Some(sock)) => receive(plan, sock.as_raw_fd(), nforwards),
        (Ok(r), _) => Ok((r, None, Vec::new())),
        (Err(f), _) => Err(f),
    };
    match outcome {
        Ok((None, terminal, forwards)) => {
            drop(stack);
            let mut held: Vec<OwnedFd> = sync_hold.into_iter().collect();
            held.extend(sync_write);
            let late = waiting.then_some(err_read);
            // The parent's ends now belong to the caller.
            ours.0.clear();
            Ok(Started {
                pid,
                pidfd,
                parent_fds,
                terminal,
                forwards,
                run: Run {
                    started: started_at,
                    cgroup: run_cgroup,
                },
                held,
                late,
            })
        }
        Ok((Some(failure), _, _)) | Err(failure) => {
            // Kill and reap, so a failed spawn leaves no zombie; only then is the stack free.
            // SAFETY: signals our own child through its pidfd.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    ptr::null::<c_void>(),
                    0,
                )
            };
            reap_now(&pidfd);
            drop(stack);
            Err(failure)
        }
    }
}

/// What a started child sent over the fd socket: `nforwards` listening sockets, then the pty
/// master with a terminal. A failure to receive is the spawn's failure (the child is killed).
#[allow(clippy::type_complexity)]
fn receive(
    plan: &SpawnPlan,
    sock: RawFd,
    nforwards: usize,
) -> Outcome<(Option<Failure>, Option<OwnedFd>, Vec<OwnedFd>)> {
    let forwards = match nforwards {
        0 => Vec::new(),
        n => match terminal::receive_fds(sock, n, Step::Forward, "forwarded ports' sockets") {
            Ok(fds) => fds,
            Err(failure) => return Ok((Some(failure), None, Vec::new())),
        },
    };
    if plan.terminal.is_none() {
        return Ok((None, None, forwards));
    }
    match terminal::receive_fd(sock, Step::Terminal, "terminal's master") {
        Ok(master) => Ok((None, Some(master), forwards)),
        Err(failure) => Ok((Some(failure), None, Vec::new())),
    }
}

fn unsafe_owned(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes an fd it just created and owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Blocks until the child behind `pidfd` has exited, and reaps it: `(pid, raw status)`.
pub(crate) fn reap_now(pidfd: &OwnedFd) -> Option<(i32, i32)> {
    reaper::reap(0, pidfd.as_raw_fd(), 0).ok()
}

/// The child's reports until EOF (it exec'd or failed), or until it says it waits on a block
/// fd (`waiting`): the program starts when the caller releases it, after spawn() returned.
/// With a grandchild to come (a joined pid or time namespace), both its pid and its wait.
fn read_reports(
    fd: RawFd,
    grandchild: &mut Option<i32>,
    waiting: &mut bool,
    expect_grandchild: bool,
) -> Outcome<Option<Report>> {
    let mut failure = None;
    while let Some(report) = read_report(fd)? {
        if report.step == 0 {
            // READY was read before the maps were written; only a grandchild's pid is left.
            if report.detail != child::READY {
                *grandchild = Some(report.index as i32);
            }
        } else if report.errno == 0 {
            *waiting = true;
        } else {
            failure = Some(report);
        }
        if *waiting && (grandchild.is_some() || !expect_grandchild) {
            break;
        }
    }
    Ok(failure)
}

/// One report, or None at EOF.
fn read_report(fd: RawFd) -> Outcome<Option<Report>> {
    let mut report = Report::default();
    let size = std::mem::size_of::<Report>();
    let mut got = 0;
    loop {
        // SAFETY: reads into the report's remaining bytes.
        let rc = unsafe {
            libc::read(
                fd,
                (&mut report as *mut Report as *mut u8).add(got).cast(),
                size - got,
            )
        };
        if rc < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(last(Step::Sync, "read", "read(error pipe)"));
        }
        if rc == 0 {
            return Ok((got == size).then_some(report));
        }
        got += rc as usize;
        if got == size {
            return Ok(Some(report));
        }
    }
}

fn report_failure(plan: &SpawnPlan, tree: &tree::Tree, r: Report, refused: u32) -> Failure {
    let step = Step::from_u32(r.step).unwrap_or(Step::Execve);
    let errno = Errno::from_raw(r.errno as i32);
    parent::filter_refused(
        parent::describe(plan, tree, step, r.index, r.detail, errno),
        refused,
    )
}

/// The native half of `spawn()`: starts the program and returns its pid, pidfd and the parent's
/// ends of the pipes. The TypeScript layer wraps this; it is not part of the public surface.
#[napi(object)]
pub struct NativeSpawned {
    pub pid: i32,
    pub pidfd: i32,
    pub fds: Vec<i32>,
    /// With `terminal`: this process's end of the socket relaying the pty master.
    pub terminal: Option<i32>,
    /// With `terminal`: a duplicate of `terminal`, for a runtime that writes through a stream
    /// of its own (the caller closes it otherwise).
    pub terminal_writer: Option<i32>,
    /// With `terminal`: the master itself, for TIOCSWINSZ only.
    pub terminal_control: Option<i32>,
    /// fds to close once the child has exited (syncFd's duplicate, and the pipe a child
    /// waiting on blockFd still checks).
    pub held: Vec<i32>,
    /// When spawn() returned while the child waits on a block fd: the error pipe, for
    /// `_lateFailure` once the child has exited; then closed by the caller.
    pub late: Option<i32>,
    /// With `forwards`: each forwarded port's listening socket (non-blocking, close-on-exec).
    pub forwards: Vec<i32>,
    /// The reaper's wait for it, already under way: `_watchExit(watch, callback)` says whom to
    /// tell. Made here, in the same call as the child, so that no JavaScript runs between the
    /// two (a Worker terminated there would leave the child unreaped for good).
    pub watch: f64,
}

#[napi(js_name = "_spawn")]
pub fn native_spawn(env: Env, plan: SpawnPlan) -> napi::Result<NativeSpawned> {
    let started = to_js(
        &env,
        refuse_in_callback("spawn").and_then(|()| start_for_process(plan)),
    )?;
    let relayed = match started.terminal {
        Some(master) => match terminal::relay(master) {
            Ok(r) => Some(r),
            Err(failure) => {
                // Nothing will read the program's terminal: end it, leaving no zombie.
                // SAFETY: signals our own child through its pidfd.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        started.pidfd.as_raw_fd(),
                        libc::SIGKILL,
                        ptr::null::<c_void>(),
                        0,
                    )
                };
                reap_now(&started.pidfd);
                for fd in started.parent_fds.into_iter().filter(|fd| *fd >= 0) {
                    drop(unsafe_owned(fd));
                }
                return Err(failure.into_napi(&env));
            }
        },
        None => None,
    };
    let pidfd = std::os::fd::IntoRawFd::into_raw_fd(started.pidfd);
    let until_exit: Vec<i32> = started
        .held
        .into_iter()
        .map(std::os::fd::IntoRawFd::into_raw_fd)
        .collect();
    let forwards: Vec<i32> = started
        .forwards
        .into_iter()
        .map(std::os::fd::IntoRawFd::into_raw_fd)
        .collect();
    usage::register(started.pid, started.run);
    let watch = reaper::watch(
        &env,
        started.pid,
        pidfd,
        Notify::Pending,
        usage::take(started.pid),
    )?;
    let watch = to_js(&env, watch)?;
    // The terminal's fds too: closed with the pipes' if JavaScript never takes them.
    let late = started.late.map(std::os::fd::IntoRawFd::into_raw_fd);
    let mut held = started.parent_fds.clone();
    held.extend(&until_exit);
    held.extend(late);
    if let Some(r) = &relayed {
        held.extend([r.socket, r.writer, r.control]);
    }
    held.extend(&forwards);
    reaper::hold(watch, &held);
    Ok(NativeSpawned {
        pid: started.pid,
        pidfd,
        fds: started.parent_fds,
        terminal: relayed.as_ref().map(|r| r.socket),
        terminal_writer: relayed.as_ref().map(|r| r.writer),
        terminal_control: relayed.as_ref().map(|r| r.control),
        held: until_exit,
        late,
        forwards,
        watch: watch as f64,
    })
}

/// start(), made so that a pdeathsig follows this process rather than the calling thread.
///
/// The kernel sends the parent-death signal when the *thread* that cloned the child exits. The
/// main thread lives as long as the process, but a Worker's thread does not: from a Worker, the
/// clone is made by a thread of its own, started from the Worker's thread (so it has the same
/// namespaces, root and working directory), which stays until the child has exited.
fn start_for_process(plan: SpawnPlan) -> Outcome<Started> {
    let main_thread = crate::sys::gettid() == crate::sys::getpid();
    if plan.pdeathsig == 0 || main_thread {
        return start(&plan);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("linux-clone parent".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let outcome = start(&plan);
            let keep = match &outcome {
                Ok(started) => started.pidfd.try_clone().ok(),
                Err(_) => None,
            };
            let _ = tx.send(outcome);
            if let Some(pidfd) = keep {
                // Without reaping (the reaper does that): just outlive the child.
                let _ = reaper::reap(0, pidfd.as_raw_fd(), libc::WNOWAIT);
            }
        })
        .map_err(|e| Failure::Spawn {
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)),
            step: Step::Clone.name(),
            index: None,
            syscall: "pthread_create",
            call: "pthread_create(parent thread for pdeathsig)".into(),
            cause: Some("no thread could be started to be the child's parent".into()),
            path: None,
        })?;
    rx.recv().unwrap_or_else(|_| {
        Err(Failure::Spawn {
            errno: Errno::EAGAIN,
            step: Step::Clone.name(),
            index: None,
            syscall: "clone",
            call: "clone()".into(),
            cause: Some("the parent thread ended before it could spawn".into()),
            path: None,
        })
    })
}

fn refuse_in_callback(what: &str) -> Outcome<()> {
    if crate::clone::in_clone_child() {
        return Err(Failure::State {
            code: "ERR_UNSAFE_IN_CLONE_CALLBACK",
            message: format!(
                "{what}() inside a clone() callback would make the program a child of the clone \
                 child, which nobody reaps: call execve() there, or {what}() after clone() returns"
            ),
        });
    }
    Ok(())
}

/// Says whom the wait `_spawn` started tells: `callback(error, result)` is called on this
/// thread when the child exits (the pidfd is the reaper's, closed just before the call). The
/// pipe ends `_spawn` returned are the caller's from now on (until then, a teardown closes them).
/// Returns the wait's id, for `_exitRef`; false if there is no such wait.
#[napi(
    js_name = "_watchExit",
    ts_args_type = "watch: number, callback: (error: Error | null, result?: WaitResult, report?: RunReport) => void"
)]
pub fn watch_exit(
    env: Env,
    watch: f64,
    callback: Function<'_, Unknown<'_>, ()>,
) -> napi::Result<bool> {
    let mut reference = ptr::null_mut();
    // SAFETY: callback is a live function of env.
    let status =
        unsafe { napi::sys::napi_create_reference(env.raw(), callback.raw(), 1, &mut reference) };
    napi::check_status!(status)?;
    Ok(reaper::claim(
        &env,
        watch as u64,
        Notify::Callback(reference),
    ))
}

/// Whether the wait `id` keeps the event loop alive.
#[napi(js_name = "_exitRef")]
pub fn exit_ref(env: Env, id: f64, keep_alive: bool) -> bool {
    reaper::set_ref(&env, id as u64, keep_alive)
}

/// What spawnSync() collected.
#[napi(object)]
pub struct NativeSpawnSync {
    pub pid: i32,
    pub status: i32,
    pub output: Vec<Option<Buffer>>,
    /// 'ETIMEDOUT' or 'ENOBUFS' when the child was killed for the timeout or maxBuffer.
    pub error: Option<String>,
    /// What the program took and why it ended.
    pub report: RunReport,
    /// As NativeSpawned's `late`.
    pub late: Option<i32>,
}

#[napi(js_name = "_spawnSync")]
pub fn native_spawn_sync(
    env: Env,
    plan: SpawnPlan,
    input: Option<Buffer>,
    timeout_ms: f64,
    kill_signal: i32,
    max_buffer: f64,
) -> napi::Result<NativeSpawnSync> {
    let mut late = None;
    let outcome = refuse_in_callback("spawnSync")
        .and_then(|()| start_for_process(plan))
        .and_then(|mut started| {
            late = started.late.take();
            parent::run_to_exit(
                started,
                input.as_deref(),
                timeout_ms,
                kill_signal,
                max_buffer,
            )
        });
    let done = to_js(&env, outcome)?;
    Ok(NativeSpawnSync {
        pid: done.pid,
        status: done.status,
        output: done
            .output
            .into_iter()
            .map(|o| o.map(Buffer::from))
            .collect(),
        error: done.error.map(str::to_string),
        report: done.report,
        late: late.map(std::os::fd::IntoRawFd::into_raw_fd),
    })
}

/// For a child that spawn() or spawnSync() left waiting on blockFd or usernsBlockFd, once it
/// has exited: throws the failure it reported on `fd` (their `late`) after the wait, as a
/// failed step is thrown; returns if it reported none (it exec'd). `plan` is the spawn's.
#[napi(js_name = "_lateFailure")]
pub fn late_failure(env: Env, plan: SpawnPlan, fd: i32) -> napi::Result<()> {
    // Non-blocking: the writers are gone with the child, but nothing here may hang.
    // SAFETY: fcntl on the caller's fd.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    match read_report(fd) {
        Ok(Some(r)) if r.step != 0 && r.errno != 0 => {
            // The mount ops again, for a mount step's words (usernsBlockFd waits before them).
            let tree = tree::of_plan(&plan).unwrap_or_default();
            to_js(&env, Err(report_failure(&plan, &tree, r, 0)))
        }
        _ => Ok(()),
    }
}

/// Whether user namespaces can be made here, and if not, why.
#[napi(object)]
pub struct UserNamespaceSupport {
    pub ok: bool,
    pub cause: Option<String>,
}

/// Whether Landlock works here, and which ABI version the kernel has.
#[napi(object)]
pub struct LandlockSupport {
    /// The kernel's Landlock ABI version (0: none). Each adds rights: 2 refer (Linux 5.19), 3
    /// truncate (6.2), 4 TCP bind/connect (6.7), 5 ioctl on devices (6.10), 6 abstract unix
    /// socket and signal scopes (6.12).
    pub abi: u32,
    /// Why Landlock cannot be used, where it cannot.
    pub cause: Option<String>,
}

/// What spawn() can use on this host.
#[napi(object)]
pub struct SpawnSupport {
    /// The kernel release, as uname -r prints it.
    pub kernel: String,
    /// clone3(2) (Linux 5.3+), needed for `cgroup` without the cgroup.procs fallback.
    pub clone3: bool,
    /// pidfds (Linux 5.3+ pidfd_open, 5.4+ waitid(P_PIDFD)): spawn() needs them.
    pub pidfd: bool,
    /// close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11+); without it the child lists
    /// /proc/self/fd.
    pub close_range: bool,
    /// CLONE_INTO_CGROUP (Linux 5.7+ with a cgroup2 mount).
    pub into_cgroup: bool,
    /// Time namespaces (Linux 5.6+).
    pub time_namespace: bool,
    /// Whether this process can create a user namespace with capabilities in it.
    pub user_namespaces: UserNamespaceSupport,
    /// Landlock (Linux 5.13+): confinement that needs no namespace and no privilege.
    pub landlock: LandlockSupport,
    /// Whether children can share the parent's memory (CLONE_VM); false under qemu-user, where
    /// spawn() copies the address space instead (slower with a large heap).
    pub shared_memory_clone: bool,
    /// sysctl dev.tty.legacy_tiocsti (Linux 6.2+): true where the kernel lets a program push
    /// input into its terminal (TIOCSTI), false where only CAP_SYS_ADMIN may; undefined on
    /// older kernels (true, in effect). spawn()'s filter refuses it either way where it applies.
    pub legacy_tiocsti: Option<bool>,
    /// Whether `limits` can work here, under which parent cgroup, and if not, why.
    pub limits: crate::cgroup::LimitsSupport,
}

fn raw(nr: i64, a: [usize; 4]) -> isize {
    // SAFETY: only called with arguments that are valid for the probes below.
    unsafe { sys::syscall(nr, a[0], a[1], a[2], a[3]) }
}

/// What works on this host, and why not.
#[napi(js_name = "_probe")]
pub fn probe() -> SpawnSupport {
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let clone3 = raw(libc::SYS_clone3, [0, 0, 0, 0]) != -(libc::ENOSYS as isize);
    let pidfd = {
        let fd = raw(libc::SYS_pidfd_open, [std::process::id() as usize, 0, 0, 0]);
        if fd >= 0 {
            // SAFETY: the fd just opened.
            unsafe { libc::close(fd as i32) };
        }
        fd >= 0
    };
    let close_range = raw(
        libc::SYS_close_range,
        [
            u32::MAX as usize,
            u32::MAX as usize,
            libc::CLOSE_RANGE_CLOEXEC as usize,
            0,
        ],
    ) == 0;
    let version: Vec<u32> = kernel
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|p| p.parse().ok())
        .collect();
    let at_least_5_7 = version.len() == 2 && (version[0], version[1]) >= (5, 7);
    let cgroup2 = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.contains(" - cgroup2 ")))
        .unwrap_or(false);
    SpawnSupport {
        kernel,
        clone3,
        pidfd,
        close_range,
        into_cgroup: clone3 && at_least_5_7 && cgroup2,
        time_namespace: std::path::Path::new("/proc/self/ns/time").exists(),
        user_namespaces: vm::user_namespaces(),
        landlock: match crate::landlock::kernel_abi() {
            Ok(abi) => LandlockSupport { abi, cause: None },
            Err(e) => LandlockSupport {
                abi: 0,
                cause: Some(crate::landlock::unavailable_cause(e)),
            },
        },
        shared_memory_clone: vm::shared(),
        legacy_tiocsti: terminal::legacy_tiocsti(),
        limits: crate::cgroup::probe(),
    }
}
