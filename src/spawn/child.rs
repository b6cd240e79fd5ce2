//! spawn()'s child: everything it does between clone and execve, in one function.
//!
//! The child shares memory with its parent (CLONE_VM) while the parent's other threads keep
//! running, and has no TLS of its own. So from the clone on, nothing here allocates, takes a
//! lock, panics, sets errno or writes memory other than its own stack and the plan's scratch
//! space, which belongs to this spawn alone. Every step is a raw system call on data the parent
//! prepared before the clone (`ChildPlan`); the first failure is written to the error pipe as
//! `Report { step, index, errno }` and the child exits.

use std::ffi::{c_char, c_void};
use std::ptr;

use crate::sys::{exit_group, syscall, syscall6};

/// The steps, as they are named in errors. The numbers travel through the error pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Clone = 1,
    Sync,
    Idmap,
    Setns,
    Unshare,
    Timens,
    Hostname,
    Loopback,
    Cgroup,
    Propagation,
    Mount,
    Rootfs,
    Rlimit,
    Capabilities,
    Groups,
    Setgid,
    Setuid,
    Chdir,
    Terminal,
    Setsid,
    Pdeathsig,
    Umask,
    NoNewPrivs,
    Landlock,
    Fds,
    Reaper,
    Signals,
    Seccomp,
    Execve,
    /// The run's cgroup, made by the parent before the clone (cgroup.rs); numbered last so
    /// that the child's steps keep their numbers.
    Limits,
    /// A forwarded port's listening socket (step 7b), numbered after the others for the same
    /// reason.
    Forward,
    /// Waiting on the caller's `blockFd` (bwrap's --block-fd), after step 23.
    BlockFd,
}

impl Step {
    pub const ALL: [Step; 32] = [
        Step::Clone,
        Step::Sync,
        Step::Idmap,
        Step::Setns,
        Step::Unshare,
        Step::Timens,
        Step::Hostname,
        Step::Loopback,
        Step::Cgroup,
        Step::Propagation,
        Step::Mount,
        Step::Rootfs,
        Step::Rlimit,
        Step::Capabilities,
        Step::Groups,
        Step::Setgid,
        Step::Setuid,
        Step::Chdir,
        Step::Terminal,
        Step::Setsid,
        Step::Pdeathsig,
        Step::Umask,
        Step::NoNewPrivs,
        Step::Landlock,
        Step::Fds,
        Step::Reaper,
        Step::Signals,
        Step::Seccomp,
        Step::Execve,
        Step::Limits,
        Step::Forward,
        Step::BlockFd,
    ];

    pub fn from_u32(n: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == n)
    }

    /// The name in `SpawnError.step`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Clone => "clone",
            Step::Sync => "sync",
            Step::Idmap => "idmap",
            Step::Setns => "setns",
            Step::Unshare => "unshare",
            Step::Timens => "timens",
            Step::Hostname => "hostname",
            Step::Loopback => "loopback",
            Step::Cgroup => "cgroup",
            Step::Propagation => "propagation",
            Step::Mount => "mount",
            Step::Rootfs => "rootfs",
            Step::Rlimit => "rlimit",
            Step::Capabilities => "capabilities",
            Step::Groups => "groups",
            Step::Setgid => "setgid",
            Step::Setuid => "setuid",
            Step::Chdir => "chdir",
            Step::Terminal => "terminal",
            Step::Setsid => "setsid",
            Step::Pdeathsig => "pdeathsig",
            Step::Umask => "umask",
            Step::NoNewPrivs => "no_new_privs",
            Step::Landlock => "landlock",
            Step::Fds => "fds",
            Step::Reaper => "reaper",
            Step::Signals => "signals",
            Step::Seccomp => "seccomp",
            Step::Execve => "execve",
            Step::Limits => crate::cgroup::STEP,
            Step::Forward => "forward",
            Step::BlockFd => "block-fd",
        }
    }
}

/// What a failed child writes to the error pipe.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    pub step: u32,
    pub index: u32,
    pub errno: u32,
    /// Which part of the step failed: for 'mount', the op (`op << 4 | phase`, see `Phase`);
    /// for 'capabilities' and 'rlimit', the sub-step; else 0.
    pub detail: u32,
}

/// What a failed child leaves where the parent reads it whatever the clone shared (a
/// MAP_SHARED page, shared even with a reaper's or a time namespace's copy of the memory):
/// its report, for when a seccomp filter refuses the write to the error pipe, and what the
/// filter refused on the way out (REFUSED_*). Plain stores, which no filter can refuse.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Record {
    pub failed: u32,
    pub refused: u32,
    pub report: Report,
}

/// `Report.detail` of a step-0 report that says the user namespace of step 3a exists (a
/// step-0 report with no detail carries the grandchild's pid in `index`).
pub const READY: u32 = 1;

/// The write of the report to the error pipe failed.
pub const REFUSED_WRITE: u32 = 1;
/// exit_group returned.
pub const REFUSED_EXIT_GROUP: u32 = 2;
/// exit returned too: the child ended with SIGILL.
pub const REFUSED_EXIT: u32 = 4;
/// execve itself is refused (not only the program's path).
pub const REFUSED_EXECVE: u32 = 8;

/// A namespace to enter: an open fd and its CLONE_NEW* type (0: whatever it is).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Join {
    pub fd: i32,
    pub nstype: i32,
}

/// What one mount op does (see `MountOp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum OpKind {
    /// mount(source, target, fstype, flags, data): tmpfs, proc, mqueue, devpts.
    Mount = 1,
    /// A bind mount of `source` (skipped if missing and `optional`), made like it (a directory
    /// or a file) where the target is created.
    Bind,
    /// Mount attributes only (readonly for a remount, or a tmpfs made read-only at the end).
    Setattr,
    /// A directory (with `mode` if we create it).
    Dir,
    /// A symlink at target pointing to `source`.
    Symlink,
    /// `data` written to a new file `source` on our own tmpfs, then bound onto target.
    File,
    /// chmod of an existing target to `mode` (bwrap's --chmod).
    Chmod,
}

/// Which part of an op failed, in `Report.detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Phase {
    /// statx of a bind's source.
    Source = 1,
    /// Creating the target (or a directory above it).
    Create,
    /// The target is missing and creating it would leave it on the host.
    Host,
    /// mount(2) itself.
    Mount,
    /// mount_setattr(2) (or the remount that stands in for it).
    Setattr,
    /// symlink(2), or an existing symlink pointing elsewhere.
    Symlink,
    /// Writing a file entry's content.
    Write,
    /// chmod of a directory we made.
    Chmod,
}

impl Phase {
    pub fn from_u32(n: u32) -> Option<Phase> {
        use Phase::*;
        [Source, Create, Host, Mount, Setattr, Symlink, Write, Chmod]
            .into_iter()
            .find(|p| *p as u32 == n)
    }
}

/// What a missing target is made as.
pub const CREATE_NONE: u8 = 0;
pub const CREATE_DIR: u8 = 1;
pub const CREATE_FILE: u8 = 2;
/// A directory or a file, as the bind's source is.
pub const CREATE_LIKE_SOURCE: u8 = 3;

/// One step of building the child's mounts, prepared with absolute paths as the child sees
/// them at that point (under /newroot and /oldroot while a rootfs is built).
#[repr(C)]
pub struct MountOp {
    pub kind: OpKind,
    /// The entry of `options.mounts` this op belongs to.
    pub entry: u32,
    pub source: *const c_char,
    pub target: *const c_char,
    pub fstype: *const c_char,
    pub flags: usize,
    /// mount(2)'s data (a C string), or a file entry's content.
    pub data: *const u8,
    pub data_len: usize,
    /// MOUNT_ATTR_* to set after mounting (0: none).
    pub attr: u64,
    /// Whether the bind and its attributes cover submounts.
    pub recursive: bool,
    /// A missing bind source skips the op instead of failing.
    pub optional: bool,
    /// CREATE_*: what a missing target is made as.
    pub create: u8,
    /// Where in `target` the part we may create starts (the end of the deepest mount point of
    /// our own above it); 0: nothing may be created, it would be on the host.
    pub create_from: usize,
    /// Mode of a directory or file we create (0: 0755 for directories).
    pub mode: u32,
}

/// A resource limit for prlimit64(2).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
    /// Keep the current hard limit (read before setting).
    pub keep_hard: bool,
}

/// The rootfs to build: none, an empty tmpfs, or a directory of the old root.
pub const ROOTFS_NONE: u32 = 0;
pub const ROOTFS_TMPFS: u32 = 1;
pub const ROOTFS_DIR: u32 = 2;

/// seccomp(2)'s program header.
#[repr(C)]
pub struct SockFprog {
    pub len: u16,
    pub filter: *const u8,
}

/// A Landlock path rule: the path as the program will see it, and the rights beneath it.
#[repr(C)]
pub struct LandlockPath {
    pub path: *const c_char,
    pub access: u64,
}

/// Everything the child needs, built before the clone. Pointers point into the `Prepared`
/// that owns this plan (see plan.rs) and stay valid until the child has exec'd or exited.
#[repr(C)]
pub struct ChildPlan {
    /// Candidate paths to execve, in PATH order; NULL-terminated.
    pub paths: *const *const c_char,
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    pub cwd: *const c_char,
    /// Child fd i gets `fds[i]` (-1: closed). `scratch` has room for a copy.
    pub fds: *const i32,
    pub nfds: usize,
    pub scratch: *mut i32,
    pub joins: *const Join,
    pub njoins: usize,
    /// Namespaces to unshare in the child (those clone() cannot create: time).
    pub unshare: u32,
    /// `/proc/self/timens_offsets` text, written after unshare(NEWTIME); NULL if none.
    pub timens: *const u8,
    pub timens_len: usize,
    pub hostname: *const u8,
    pub hostname_len: usize,
    pub domainname: *const u8,
    pub domainname_len: usize,
    pub loopback: bool,
    pub groups: *const u32,
    /// -1: leave the supplementary groups alone.
    pub ngroups: isize,
    pub gid: i64,
    pub uid: i64,
    pub setsid: bool,
    pub pdeathsig: i32,
    /// The parent's end of the sync pipe: a byte means "go on", EOF means "the parent is gone
    /// or gave up". Above every fd in `fds`.
    pub sync_fd: i32,
    /// Whether to wait for the parent's byte (it writes id maps or a cgroup first).
    pub wait_for_parent: bool,
    /// CLONE_NEW* flags unshared at step 3a rather than by clone(): a new user namespace with
    /// joins, which must be entered with the caller's privileges, before it exists. 0: none.
    pub late_unshare: u32,
    /// Close-on-exec; above every fd in `fds`.
    pub err_fd: i32,
    /// Where a grandchild's stack starts (its top), when a joined pid namespace needs one; 0
    /// otherwise.
    pub grandchild_stack: usize,
    /// Whether the grandchild gets a copy of the memory rather than sharing it (to join a time
    /// namespace).
    pub grandchild_copies: bool,
    /// Directory listing buffer for marking fds close-on-exec without close_range().
    pub dirents: *mut u8,
    pub dirents_len: usize,
    /// mount(NULL, "/", NULL, flags): MS_REC | MS_PRIVATE or MS_SLAVE; 0 leaves it.
    pub propagation: usize,
    /// ROOTFS_*; with a rootfs the build happens in a tmpfs at `base` (see step 9).
    pub rootfs: u32,
    /// The directory that becomes the root (ROOTFS_DIR), as seen from the build root.
    pub rootfs_dir: *const c_char,
    /// MOUNT_ATTR_* set on it (recursively).
    pub rootfs_attr: u64,
    /// An existing directory the build root is mounted on, and its newroot and oldroot.
    pub base: *const c_char,
    pub base_new: *const c_char,
    pub base_old: *const c_char,
    pub ops: *const MountOp,
    pub nops: usize,
    /// Room for a path while making the directories above a target.
    pub path_buf: *mut u8,
    pub path_buf_len: usize,
    /// After mounts, chdir to `cwd` failing back to "/" (no cwd was asked for).
    pub cwd_fallback: bool,
    pub rlimits: *const Rlimit,
    pub nrlimits: usize,
    /// Whether to set capabilities at all.
    pub caps: bool,
    /// The capabilities kept (permitted, effective, inheritable); `caps_all`: all we have.
    pub caps_keep: u64,
    pub caps_all: bool,
    pub caps_ambient: u64,
    pub caps_bounding: u64,
    pub cap_last: u32,
    /// -1: leave it.
    pub umask: i32,
    pub no_new_privs: bool,
    /// NULL: no filter.
    pub seccomp: *const SockFprog,
    /// A pty for the program: step 17b opens it, step 24b makes it the controlling terminal.
    pub terminal: bool,
    /// Where fds go to the parent (SCM_RIGHTS): the forwarded ports' sockets (step 7b), then
    /// the pty master (step 17b). Close-on-exec, above every fd in `fds`.
    pub send_sock: i32,
    /// Forwarded ports: listening sockets made in the program's network namespace at step 7b.
    pub forwards: *const crate::listen::ListenAt,
    pub nforwards: usize,
    /// Their SCM_RIGHTS control message, its header written by the parent; the child puts the
    /// fds in its data at `forward_fds`.
    pub forward_cmsg: *mut u8,
    pub forward_cmsg_len: usize,
    pub forward_fds: *mut i32,
    /// struct winsize: rows, columns, and two unused pixel counts.
    pub winsize: [u16; 4],
    /// Scratch: the slave's fd from step 17b to step 24b, which under a reaper runs in the
    /// program (sharing the reaper's memory), not in the process that opened it.
    pub tty_slave: *mut i32,
    /// The package's filter refusing TIOCSTI and TIOCLINUX; NULL: none.
    pub tty_filter: *const SockFprog,
    /// A Landlock ruleset made by the parent (-1: none), and the path rules to add to it.
    pub landlock_fd: i32,
    pub landlock_paths: *const LandlockPath,
    pub nlandlock: usize,
    /// The rights that apply to a file that is not a directory.
    pub landlock_file_rights: u64,
    /// Stay as pid 1 and run the program as our child (options.pidns.init 'reaper').
    pub reaper: bool,
    /// This spawn's `Record`.
    pub record: *mut Record,
    /// Under a reaper: no program; the init holds the namespaces until it is killed.
    pub hold: bool,
    /// Where the program's stack starts (its top) under a reaper.
    pub program_stack: usize,
    /// What the reaper keeps of its copy of the memory (its stack, this addon's code), and
    /// whether it unmaps the rest.
    pub reaper_keep: [(usize, usize); 3],
    pub reaper_trim: bool,
    /// The caller's usernsBlockFd and blockFd, duplicated close-on-exec above every fd in
    /// `fds` (-1: none). Waiting on either, the child first sends `Report { step, errno: 0 }`
    /// so that spawn() returns while it waits.
    pub userns_block_fd: i32,
    pub block_fd: i32,
}

/// The kernel's sigaction, as rt_sigaction(2) takes it (not the C library's).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: usize,
    restorer: usize,
    mask: u64,
}

const PROC_SELF_FD: &[u8] = b"/proc/self/fd\0";
const DEV_PTMX: &[u8] = b"/dev/ptmx\0";
const TIMENS_OFFSETS: &[u8] = b"/proc/self/timens_offsets\0";
const LO: [u8; 3] = *b"lo\0";
const ROOT: &[u8] = b"/\0";
const DOT: &[u8] = b".\0";
const TMPFS: &[u8] = b"tmpfs\0";
const MODE_0755: &[u8] = b"mode=0755\0";
const NEWROOT: &[u8] = b"/newroot\0";
const OLDROOT: &[u8] = b"/oldroot\0";
const NOSUID_NODEV: usize = (libc::MS_NOSUID | libc::MS_NODEV) as usize;

/// mount_setattr(2)'s attributes (linux/mount.h).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// capget(2)/capset(2)'s header and data, version 3 (64 capabilities in two halves).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// Steps 2 and 3a: waits for the parent's byte on the sync pipe; exits if it gave up (and
/// reports why itself) or is gone.
fn wait_for_parent(p: &ChildPlan) {
    let mut byte = 0u8;
    // SAFETY: a read into this stack.
    let rc = retry(|| unsafe {
        syscall(
            libc::SYS_read,
            p.sync_fd as usize,
            &mut byte as *mut u8 as usize,
            1,
            0,
        )
    });
    if rc != 1 {
        exit_group(127);
    }
}

/// Reports the failed step and exits.
fn fail(plan: &ChildPlan, step: Step, index: usize, detail: u32, rc: isize) -> ! {
    let report = Report {
        step: step as u32,
        index: index as u32,
        errno: (-rc) as u32,
        detail,
    };
    // SAFETY: the record is this spawn's alone; then the report from this stack frame to the
    // error pipe.
    unsafe {
        if !plan.record.is_null() {
            ptr::write_volatile(&raw mut (*plan.record).report, report);
            ptr::write_volatile(&raw mut (*plan.record).failed, 1);
        }
        if send_report(plan, &report) < 0 {
            refused(plan, REFUSED_WRITE);
        }
    }
    end(plan)
}

/// Writes `report` to the error pipe: the byte count, or -errno.
fn send_report(p: &ChildPlan, report: &Report) -> isize {
    // SAFETY: a report from the caller's frame to our end of the error pipe.
    unsafe {
        syscall(
            libc::SYS_write,
            p.err_fd as usize,
            report as *const Report as usize,
            std::mem::size_of::<Report>(),
            0,
        )
    }
}

/// Notes in the record what a seccomp filter refused.
unsafe fn refused(plan: &ChildPlan, what: u32) {
    if plan.record.is_null() {
        return;
    }
    // SAFETY: the record is this spawn's alone.
    unsafe {
        let at = &raw mut (*plan.record).refused;
        ptr::write_volatile(at, ptr::read_volatile(at) | what);
    }
}

/// Step 27's failure. Under a filter, first whether it is execve itself that is refused:
/// without a path the kernel answers EFAULT, so anything else is the filter's answer.
fn execve_failed(p: &ChildPlan, index: usize, rc: isize) -> ! {
    // SAFETY: execve with no path fails before it reads anything.
    unsafe {
        if !p.seccomp.is_null() && syscall(libc::SYS_execve, 0, 0, 0, 0) != -(libc::EFAULT as isize)
        {
            refused(p, REFUSED_EXECVE);
        }
    }
    fail(p, Step::Execve, index, 0, rc)
}

/// exit_group, noting in the record what a filter refused before `sys::exit_group` falls back
/// to exit and then to a fault.
fn end(plan: &ChildPlan) -> ! {
    // SAFETY: plain integers; returns only if a filter refuses the call.
    unsafe {
        syscall(libc::SYS_exit_group, 127, 0, 0, 0);
        refused(plan, REFUSED_EXIT_GROUP);
        syscall(libc::SYS_exit, 127, 0, 0, 0);
        refused(plan, REFUSED_EXIT);
    }
    exit_group(127)
}

/// Retries a call interrupted by a signal (none should arrive: all are blocked).
fn retry(mut f: impl FnMut() -> isize) -> isize {
    loop {
        let rc = f();
        if rc != -(libc::EINTR as isize) {
            return rc;
        }
    }
}

/// Where a process enters `walk`.
const FROM_CLONE: u32 = 0;
/// The grandchild made at step 3b to enter a joined pid or time namespace.
const FROM_JOIN: u32 = 1;
/// The program under a reaper (step 24), which goes on from step 25.
const FROM_REAPER: u32 = 2;

/// The child. `arg` is the `ChildPlan`.
///
/// # Safety
/// Runs only as the entry of a spawn() clone, with every signal blocked and the plan alive.
pub unsafe extern "C" fn child_main(arg: *mut c_void) -> ! {
    // SAFETY: passed on.
    unsafe { walk(arg, FROM_CLONE) }
}

/// The grandchild made at step 3b: it goes on from step 3c.
unsafe extern "C" fn grandchild_main(arg: *mut c_void) -> ! {
    // SAFETY: passed on.
    unsafe { walk(arg, FROM_JOIN) }
}

/// The program under a reaper: it goes on from step 25.
unsafe extern "C" fn program_main(arg: *mut c_void) -> ! {
    // SAFETY: passed on.
    unsafe { walk(arg, FROM_REAPER) }
}

/// Every step, in order. `from`: where this process starts (FROM_*).
unsafe fn walk(arg: *mut c_void, from: u32) -> ! {
    // SAFETY: the parent passes its plan and keeps it alive until we exec or exit.
    let p = unsafe { &*(arg as *const ChildPlan) };
    // SAFETY: each call below is a raw system call on the plan's data or this stack.
    unsafe {
        if from == FROM_CLONE {
            // 1. signals: every handler back to default, while every signal is still blocked (the
            // parent blocked them around the clone). Node's handlers must never run here, on memory
            // the parent is using, and an ignored SIGPIPE must not be inherited by the program.
            let dfl = KernelSigaction {
                handler: libc::SIG_DFL,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            for sig in 1..=64usize {
                if sig == libc::SIGKILL as usize || sig == libc::SIGSTOP as usize {
                    continue;
                }
                // EINVAL for the numbers a kernel reserves is harmless: they cannot be handled.
                syscall(libc::SYS_rt_sigaction, sig, &dfl as *const _ as usize, 0, 8);
            }

            // 2. sync: the parent writes the id maps of a new user namespace, or moves us into a
            // cgroup, while we wait here: before any step that depends on our ids or our cgroup.
            // With a user namespace made at step 3a, the wait comes there.
            if p.wait_for_parent && p.late_unshare == 0 {
                wait_for_parent(p);
            }
            // 2b. usernsBlockFd: as bwrap, wait in the new user namespace, its maps unwritten,
            // for the caller to write them from outside; before any step that uses our ids.
            if p.userns_block_fd >= 0 {
                block(p, p.userns_block_fd, Step::Sync);
            }

            // 3. setns: enter existing namespaces, the user namespace first (the list is in that
            // order), so that the capabilities it grants apply to joining the others. A time
            // namespace is left to the grandchild of 3b: the kernel lets only a process whose
            // memory no other shares enter one.
            for i in 0..p.njoins {
                let j = *p.joins.add(i);
                if j.nstype & libc::CLONE_NEWTIME != 0 {
                    continue;
                }
                let rc = syscall(libc::SYS_setns, j.fd as usize, j.nstype as usize, 0, 0);
                if rc < 0 {
                    fail(p, Step::Setns, i, 0, rc);
                }
            }

            // 3a. unshare: a new user namespace (with the other new ones, which it then owns)
            // after the joins, which needed the caller's privileges in the namespaces' owners.
            // Then the parent writes its maps, told by a READY report, while we wait as at step 2.
            // A new pid namespace made here takes only our children: step 3b makes one.
            if p.late_unshare != 0 {
                let rc = syscall(libc::SYS_unshare, p.late_unshare as usize, 0, 0, 0);
                if rc < 0 {
                    fail(p, Step::Unshare, 1, 0, rc);
                }
                if p.wait_for_parent {
                    let ready = Report {
                        step: 0,
                        index: 0,
                        errno: 0,
                        detail: READY,
                    };
                    send_report(p, &ready);
                    wait_for_parent(p);
                }
            }

            // 3b. A joined pid namespace only takes our children, so the rest is done by a
            // grandchild (CLONE_PARENT: a child of the spawning thread, like us) while we wait
            // (CLONE_VFORK); then its pid goes to the parent, which waits for it instead of us.
            // To join a time namespace the grandchild gets a copy of the memory (no CLONE_VM).
            if p.grandchild_stack != 0 {
                let vm = if p.grandchild_copies {
                    0
                } else {
                    libc::CLONE_VM
                };
                // Not waiting for it (no CLONE_VFORK) when it will wait on blockFd: the parent
                // needs its pid before spawn() returns. Our memory is a copy of our own then.
                let vfork = if p.block_fd >= 0 {
                    0
                } else {
                    libc::CLONE_VFORK
                };
                let flags = vm | vfork | libc::CLONE_PARENT;
                let rc = crate::sys::clone_into(
                    libc::SYS_clone,
                    [flags as usize, p.grandchild_stack, 0, 0, 0],
                    grandchild_main,
                    arg,
                );
                if rc < 0 {
                    fail(p, Step::Setns, p.njoins, 0, rc);
                }
                let forward = Report {
                    step: 0,
                    index: rc as u32,
                    errno: 0,
                    detail: 0,
                };
                send_report(p, &forward);
                exit_group(0);
            }
        }
        if from == FROM_JOIN {
            // 3c. (the grandchild) the time namespace joins left by step 3.
            for i in 0..p.njoins {
                let j = *p.joins.add(i);
                if j.nstype & libc::CLONE_NEWTIME == 0 {
                    continue;
                }
                let rc = syscall(libc::SYS_setns, j.fd as usize, j.nstype as usize, 0, 0);
                if rc < 0 {
                    fail(p, Step::Setns, i, 0, rc);
                }
            }
        }

        if from != FROM_REAPER {
            setup(p, arg);
        }

        // 24b. terminal, second half: a session of its own with the pty as its controlling
        // terminal on fds 0-2 and its group in the foreground. In the process that runs the
        // program (under a reaper, not pid 1), after the fds are arranged (23), which left 0-2
        // closed for it.
        if p.terminal {
            let r = take_terminal(p);
            if r.1 < 0 {
                fail(p, Step::Terminal, r.0, 0, r.1);
            }
        }

        // 25. signals: an empty mask for the program, as late as possible: from here a signal
        // only has its default action.
        let empty = 0u64;
        let rc = syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        );
        if rc < 0 {
            fail(p, Step::Signals, 0, 0, rc);
        }

        // 26. seccomp: the caller's filter, as the very last step before execve, so that it
        // only has to allow execve; it stacks on the TIOCSTI filter of step 12b (the kernel
        // applies the strictest answer of all). Without CAP_SYS_ADMIN the kernel insists on
        // no_new_privs (EACCES): then it is set, and the filter installed again.
        if !p.seccomp.is_null() {
            install_filter(p, p.seccomp, 0);
        }

        // 27. execve: each candidate in PATH order, as execvp does: a missing file or directory
        // moves on to the next; EACCES is remembered in case nothing else is found.
        let mut last = -(libc::ENOENT as isize);
        let mut seen_eacces = false;
        let mut i = 0;
        loop {
            let path = *p.paths.add(i);
            if path.is_null() {
                break;
            }
            let rc = syscall(
                libc::SYS_execve,
                path as usize,
                p.argv as usize,
                p.envp as usize,
                0,
            );
            match -rc as i32 {
                libc::EACCES => seen_eacces = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => execve_failed(p, i, rc),
            }
            last = rc;
            i += 1;
        }
        if seen_eacces {
            last = -(libc::EACCES as isize);
        }
        execve_failed(p, 0, last)
    }
}

/// Steps 4 to 24: the namespaces, the filesystem, ids and limits, as one process; under a
/// reaper, this process stays as pid 1 at step 24 and the program goes on alone.
unsafe fn setup(p: &ChildPlan, arg: *mut c_void) {
    // SAFETY: raw system calls on the plan's data or this stack.
    unsafe {
        // 4. unshare: namespaces clone() cannot make (time), after joins, so they are owned by
        // the user namespace we are now in.
        if p.unshare != 0 {
            let rc = syscall(libc::SYS_unshare, p.unshare as usize, 0, 0, 0);
            if rc < 0 {
                fail(p, Step::Unshare, 0, 0, rc);
            }
        }

        // 5. timens: a new time namespace's clock offsets, which can only be set before any
        // process is in it; we enter it at execve.
        if !p.timens.is_null() {
            let fd = syscall(
                libc::SYS_openat,
                libc::AT_FDCWD as usize,
                TIMENS_OFFSETS.as_ptr() as usize,
                (libc::O_WRONLY | libc::O_CLOEXEC) as usize,
                0,
            );
            if fd < 0 {
                fail(p, Step::Timens, 0, 0, fd);
            }
            let rc = syscall(
                libc::SYS_write,
                fd as usize,
                p.timens as usize,
                p.timens_len,
                0,
            );
            if rc < 0 {
                fail(p, Step::Timens, 0, 0, rc);
            }
            syscall(libc::SYS_close, fd as usize, 0, 0, 0);
        }

        // 6. hostname and domain name: need CAP_SYS_ADMIN over the UTS namespace, so before
        // setuid drops capabilities.
        if !p.hostname.is_null() {
            let rc = syscall(
                libc::SYS_sethostname,
                p.hostname as usize,
                p.hostname_len,
                0,
                0,
            );
            if rc < 0 {
                fail(p, Step::Hostname, 0, 0, rc);
            }
        }
        if !p.domainname.is_null() {
            let rc = syscall(
                libc::SYS_setdomainname,
                p.domainname as usize,
                p.domainname_len,
                0,
                0,
            );
            if rc < 0 {
                fail(p, Step::Hostname, 1, 0, rc);
            }
        }

        // 7. loopback: lo up in a new network namespace; needs CAP_NET_ADMIN, so before setuid.
        if p.loopback {
            let rc = loopback_up();
            if rc < 0 {
                fail(p, Step::Loopback, 0, 0, rc);
            }
        }

        // 7b. forward: the forwarded ports' listening sockets, made here because this is the
        // first point where we are in the program's network namespace with lo up, and before
        // setuid and capabilities (a port below 1024 needs CAP_NET_BIND_SERVICE), Landlock
        // (which may refuse bind) and seccomp (which may refuse socket). All go to the parent
        // in one message (the parent reads it only once we have exec'd: message by message, a
        // full socket buffer would block us for good); then our copies are closed.
        if p.nforwards > 0 {
            let slots = p.forward_fds;
            for i in 0..p.nforwards {
                let at = &*p.forwards.add(i);
                match crate::listen::listen_tcp(at) {
                    Ok(fd) => *slots.add(i) = fd as i32,
                    Err((stage, rc)) => fail(p, Step::Forward, i, stage, rc),
                }
            }
            let rc = send_control(p.send_sock, p.forward_cmsg, p.forward_cmsg_len);
            for i in 0..p.nforwards {
                syscall(libc::SYS_close, *slots.add(i) as usize, 0, 0, 0);
            }
            if rc < 0 {
                fail(p, Step::Forward, 0, crate::listen::SEND, rc);
            }
        }

        // 8. propagation: our copy of the mounts stops sharing events with the host's before we
        // mount anything, or our mounts would appear there. In a chroot "/" is no mount point
        // (EINVAL, index 1) and the mount holding it is out of sight, so whether our mounts
        // would leave the chroot cannot be known: we stop.
        if p.propagation != 0 {
            let rc = syscall6(
                libc::SYS_mount,
                [0, ROOT.as_ptr() as usize, 0, p.propagation, 0, 0],
            );
            if rc < 0 {
                let index = if rc == -(libc::EINVAL as isize) { 1 } else { 0 };
                fail(p, Step::Propagation, index, 0, rc);
            }
        }

        // 9. rootfs, first half (as bubblewrap builds a root): a tmpfs of our own at `base`
        // becomes the root, the old root goes under it at /oldroot (where bind sources are
        // read), the new root is made at /newroot (where targets go). File entries need this
        // tmpfs for their content, so without a rootfs they get the old root bound as the new.
        if p.rootfs != ROOTFS_NONE {
            let r = build_root(p);
            if r.1 < 0 {
                fail(p, Step::Rootfs, r.0, 0, r.1);
            }
        }

        // 10. mount: each op in order (an entry of options.mounts is one or more ops; read-only
        // tmpfs entries come last, so that entries below them could be created first).
        for i in 0..p.nops {
            let op = &*p.ops.add(i);
            if let Err((phase, rc)) = run_op(p, op) {
                fail(
                    p,
                    Step::Mount,
                    op.entry as usize,
                    (i as u32) << 4 | phase as u32,
                    rc,
                );
            }
        }
        // 11. rootfs, second half: the old root detached (nothing of the host stays reachable,
        // so no chroot escape), then /newroot made the root with pivot_root(".", ".") and the
        // build root under it detached too.
        if p.rootfs != ROOTFS_NONE {
            let r = enter_root();
            if r.1 < 0 {
                fail(p, Step::Rootfs, r.0, 0, r.1);
            }
        }

        // 12. rlimit: before setuid, which gives up the CAP_SYS_RESOURCE a raised hard limit
        // needs.
        for i in 0..p.nrlimits {
            let r = *p.rlimits.add(i);
            let mut limit = [r.soft, r.hard];
            if r.keep_hard {
                let mut old = [0u64; 2];
                let rc = syscall(
                    libc::SYS_prlimit64,
                    0,
                    r.resource as usize,
                    0,
                    old.as_mut_ptr() as usize,
                );
                if rc < 0 {
                    fail(p, Step::Rlimit, i, 0, rc);
                }
                limit[1] = old[1];
            }
            let rc = syscall(
                libc::SYS_prlimit64,
                0,
                r.resource as usize,
                limit.as_ptr() as usize,
                0,
            );
            if rc < 0 {
                fail(p, Step::Rlimit, i, 0, rc);
            }
        }

        // 12b. the filter refusing TIOCSTI and TIOCLINUX: before capabilities and ids are given
        // up, while we hold CAP_SYS_ADMIN (in our user namespace, or as root), so that the
        // kernel takes it without no_new_privs, which would change what execve grants the
        // program. It refuses two ioctls that no step below uses; before the caller's filter,
        // which cannot keep it out by refusing seccomp(2).
        if !p.tty_filter.is_null() {
            install_filter(p, p.tty_filter, 1);
        }

        // 13. capabilities, first half: the bounding set (dropping needs CAP_SETPCAP, which
        // setuid may take away), and keep-caps so that a setuid to another user keeps the
        // permitted set the second half chooses from.
        if p.caps {
            for cap in 0..=p.cap_last as usize {
                if cap < 64 && p.caps_bounding & (1u64 << cap) != 0 {
                    continue;
                }
                let rc = syscall(libc::SYS_prctl, libc::PR_CAPBSET_DROP as usize, cap, 0, 0);
                if rc < 0 {
                    fail(p, Step::Capabilities, 0, cap as u32, rc);
                }
            }
            if p.uid >= 0 {
                let rc = syscall(libc::SYS_prctl, libc::PR_SET_KEEPCAPS as usize, 1, 0, 0);
                if rc < 0 {
                    fail(p, Step::Capabilities, 1, 0, rc);
                }
            }
        }

        // 14-16. groups, gid, uid: in that order, since setuid gives up the capability the
        // other two need.
        if p.ngroups >= 0 {
            let rc = syscall(
                libc::SYS_setgroups,
                p.ngroups as usize,
                p.groups as usize,
                0,
                0,
            );
            if rc < 0 {
                fail(p, Step::Groups, 0, 0, rc);
            }
        }
        if p.gid >= 0 {
            let rc = syscall(
                libc::SYS_setresgid,
                p.gid as usize,
                p.gid as usize,
                p.gid as usize,
                0,
            );
            if rc < 0 {
                fail(p, Step::Setgid, 0, 0, rc);
            }
        }
        if p.uid >= 0 {
            let rc = syscall(
                libc::SYS_setresuid,
                p.uid as usize,
                p.uid as usize,
                p.uid as usize,
                0,
            );
            if rc < 0 {
                fail(p, Step::Setuid, 0, 0, rc);
            }
        }

        // 17. chdir: after setuid, so the directory is checked with the program's own ids, and
        // after the root is built, so it is found there. Without a cwd asked for, mounts make us
        // go to the same path in the new tree, or to / if it is not there (as bubblewrap does).
        if !p.cwd.is_null() {
            let mut rc = syscall(libc::SYS_chdir, p.cwd as usize, 0, 0, 0);
            if rc < 0 && p.cwd_fallback {
                rc = syscall(libc::SYS_chdir, ROOT.as_ptr() as usize, 0, 0, 0);
            }
            if rc < 0 {
                fail(p, Step::Chdir, 0, 0, rc);
            }
        }

        // 17b. terminal, first half: a pty from the /dev/ptmx this process sees. After the root
        // is built (11), so that it comes from the sandbox's own devpts where a `dev` entry made
        // one, and after setuid (16), so that the slave belongs to the program's user (as
        // login(1) would chown it). The master goes to the parent at once; the slave waits for
        // step 24b.
        if p.terminal {
            let r = open_terminal(p);
            if r.1 < 0 {
                fail(p, Step::Terminal, r.0, 0, r.1);
            }
        }

        // 18. setsid: a session (and process group) of its own for a detached child.
        if p.setsid {
            let rc = syscall(libc::SYS_setsid, 0, 0, 0, 0);
            if rc < 0 {
                fail(p, Step::Setsid, 0, 0, rc);
            }
        }

        // 19. pdeathsig: after setuid/setgid, which clear it. Then make sure the parent did not
        // die before it was set: the parent holds the sync pipe's write end open until we exec,
        // so a hang-up on our end means it is gone (getppid() cannot tell: it is 0 in a new pid
        // namespace).
        if p.pdeathsig != 0 {
            let rc = syscall(
                libc::SYS_prctl,
                libc::PR_SET_PDEATHSIG as usize,
                p.pdeathsig as usize,
                0,
                0,
            );
            if rc < 0 {
                fail(p, Step::Pdeathsig, 0, 0, rc);
            }
            let mut pfd = libc::pollfd {
                fd: p.sync_fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let rc = syscall(
                libc::SYS_ppoll,
                &mut pfd as *mut _ as usize,
                1,
                &ZERO as *const _ as usize,
                0,
            );
            if rc > 0 && pfd.revents & libc::POLLHUP != 0 {
                exit_group(127);
            }
        }

        // 20. umask: after every file and directory of the mounts was made with the parent's.
        if p.umask >= 0 {
            syscall(libc::SYS_umask, p.umask as usize, 0, 0, 0);
        }

        // 21. capabilities, second half: after setuid (which clears the effective set), the
        // sets the program keeps (inheritable only within the bounding set, as the kernel
        // wants), then its ambient ones (which must be permitted and inheritable first).
        if p.caps {
            let header = CapHeader {
                version: CAP_V3,
                pid: 0,
            };
            let mut data = [CapData::default(); 2];
            let mut keep = p.caps_keep;
            if p.caps_all {
                let rc = syscall(
                    libc::SYS_capget,
                    &header as *const _ as usize,
                    data.as_mut_ptr() as usize,
                    0,
                    0,
                );
                if rc < 0 {
                    fail(p, Step::Capabilities, 2, 0, rc);
                }
                keep = data[0].permitted as u64 | (data[1].permitted as u64) << 32;
            }
            // The kernel keeps the inheritable set inside the bounding set.
            let inheritable = keep & p.caps_bounding;
            for (k, d) in data.iter_mut().enumerate() {
                let half = (keep >> (32 * k)) as u32;
                *d = CapData {
                    effective: half,
                    permitted: half,
                    inheritable: (inheritable >> (32 * k)) as u32,
                };
            }
            let rc = syscall(
                libc::SYS_capset,
                &header as *const _ as usize,
                data.as_ptr() as usize,
                0,
                0,
            );
            if rc < 0 {
                fail(p, Step::Capabilities, 2, 0, rc);
            }
            syscall(
                libc::SYS_prctl,
                libc::PR_CAP_AMBIENT as usize,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as usize,
                0,
                0,
            );
            for cap in 0..64usize {
                if p.caps_ambient & (1u64 << cap) == 0 {
                    continue;
                }
                let rc = syscall6(
                    libc::SYS_prctl,
                    [
                        libc::PR_CAP_AMBIENT as usize,
                        libc::PR_CAP_AMBIENT_RAISE as usize,
                        cap,
                        0,
                        0,
                        0,
                    ],
                );
                if rc < 0 {
                    fail(p, Step::Capabilities, 3, cap as u32, rc);
                }
            }
        }

        // 22. no_new_privs: execve will not grant privileges (setuid bits, file capabilities).
        if p.no_new_privs {
            let rc = syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0, 0);
            if rc < 0 {
                fail(p, Step::NoNewPrivs, 0, 0, rc);
            }
        }

        // 22b. landlock: the path rules, opened here because only now are the paths what the
        // program will see (after its mounts, new root and ids: a path its user cannot reach
        // fails here), then the ruleset enforced. After no_new_privs, which the kernel wants
        // first; before fds, which could reuse the ruleset's fd number; before the reaper, so
        // that an init is confined too; before seccomp, whose filter need not allow these calls.
        if p.landlock_fd >= 0 {
            for i in 0..p.nlandlock {
                let rule = &*p.landlock_paths.add(i);
                if rule.access == 0 {
                    // Only rights this kernel cannot enforce: nothing to add (the kernel
                    // refuses an empty rule).
                    continue;
                }
                let fd = syscall6(
                    libc::SYS_openat,
                    [
                        libc::AT_FDCWD as usize,
                        rule.path as usize,
                        (libc::O_PATH | libc::O_CLOEXEC) as usize,
                        0,
                        0,
                        0,
                    ],
                );
                if fd < 0 {
                    fail(p, Step::Landlock, i, 0, fd);
                }
                let mut st: libc::stat = std::mem::zeroed();
                let is_dir = syscall(
                    libc::SYS_fstat,
                    fd as usize,
                    &mut st as *mut _ as usize,
                    0,
                    0,
                ) < 0
                    || st.st_mode & libc::S_IFMT == libc::S_IFDIR;
                let attr = crate::landlock::PathBeneathAttr {
                    allowed_access: if is_dir {
                        rule.access
                    } else {
                        rule.access & p.landlock_file_rights
                    },
                    parent_fd: fd as i32,
                };
                let rc = syscall(
                    libc::SYS_landlock_add_rule,
                    p.landlock_fd as usize,
                    crate::landlock::RULE_PATH_BENEATH,
                    &attr as *const _ as usize,
                    0,
                );
                syscall(libc::SYS_close, fd as usize, 0, 0, 0);
                if rc < 0 {
                    fail(p, Step::Landlock, i, 1, rc);
                }
            }
            let rc = syscall(
                libc::SYS_landlock_restrict_self,
                p.landlock_fd as usize,
                0,
                0,
                0,
            );
            if rc < 0 {
                fail(p, Step::Landlock, 0, 2, rc);
            }
            syscall(libc::SYS_close, p.landlock_fd as usize, 0, 0, 0);
        }

        // 23. fds: the caller's stdio mapping, then close-on-exec for every other fd. Late, so
        // that nothing above opens an fd into the mapped range.
        let rc = arrange_fds(p);
        if rc < 0 {
            fail(p, Step::Fds, 0, 0, rc);
        }

        // 23b. block-fd: wait for the caller's byte (or EOF) on blockFd, as bwrap's --block-fd.
        // After everything that builds the sandbox and after the fds (23), whose close-on-exec
        // copies of this process's fds are closed first, so that a writer's end held here cannot
        // keep EOF from coming; before the reaper (24), so that one process waits, and before
        // the caller's filter (26), which need not allow poll or read.
        if p.block_fd >= 0 {
            close_others(p);
            block(p, p.block_fd, Step::BlockFd);
        }

        // 24. reaper: we are pid 1 of a new pid namespace and stay, as its init; the program
        // becomes our child (sharing our copy of the memory until it execs) and goes on from
        // step 25. Last, so that it inherits everything above. Holding (a sandbox), there is no
        // program: the init stays alone, and closing every fd (the error pipe too) tells the
        // parent the sandbox is ready, as an exec would.
        if p.reaper && p.hold {
            init(0, p.reaper_keep, p.reaper_trim);
        }
        if p.reaper {
            let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
            let pid = crate::sys::clone_into(
                libc::SYS_clone,
                [flags as usize, p.program_stack, 0, 0, 0],
                program_main,
                arg,
            );
            if pid < 0 {
                fail(p, Step::Reaper, 0, 0, pid);
            }
            let keep = p.reaper_keep;
            let trim = p.reaper_trim;
            init(pid as i32, keep, trim);
        }
    }
}

/// Tells the parent that we wait (it returns from spawn()), then waits until `fd` has data or
/// is at EOF, reads one byte of it (as bwrap does: the byte is consumed) and closes it. Any
/// outcome of the read releases us, as in bwrap.
unsafe fn block(p: &ChildPlan, fd: i32, step: Step) {
    let waiting = Report {
        step: step as u32,
        index: 0,
        errno: 0,
        detail: 0,
    };
    send_report(p, &waiting);
    // SAFETY: a pollfd and a byte on this stack, our own fd.
    unsafe {
        // Signals unblocked while we wait, so that the caller's kill() (or timeout) ends us
        // with its default action: every handler is the default since step 1, and our memory
        // is a copy of our own.
        let empty = 0u64;
        let mut old = 0u64;
        let sigmask = |set: *const u64, old: *mut u64| {
            syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as usize,
                set as usize,
                old as usize,
                8,
            )
        };
        sigmask(&empty, &mut old);
        // poll, then read: a non-blocking fd would otherwise return EAGAIN at once.
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        retry(|| syscall(libc::SYS_ppoll, &mut pfd as *mut _ as usize, 1, 0, 0));
        let mut byte = 0u8;
        retry(|| {
            syscall(
                libc::SYS_read,
                fd as usize,
                &mut byte as *mut u8 as usize,
                1,
                0,
            )
        });
        sigmask(&old, ptr::null_mut());
        syscall(libc::SYS_close, fd as usize, 0, 0, 0);
    }
}

/// Closes every fd from `nfds` up but those this process still needs (the pipes to the
/// parent, the terminal's, blockFd): all of them would close at execve anyway.
unsafe fn close_others(p: &ChildPlan) {
    let slave = if p.terminal && !p.tty_slave.is_null() {
        // SAFETY: the plan's scratch, written by step 17b.
        unsafe { *p.tty_slave }
    } else {
        -1
    };
    let mut keep = [p.err_fd, p.sync_fd, p.send_sock, slave, p.block_fd];
    keep.sort_unstable();
    let mut from = p.nfds;
    // SAFETY: closes our own fds.
    unsafe {
        for fd in keep {
            if fd < 0 || (fd as usize) < from {
                continue;
            }
            if fd as usize > from && syscall(libc::SYS_close_range, from, fd as usize - 1, 0, 0) < 0
            {
                break;
            }
            from = fd as usize + 1;
        }
        if syscall(libc::SYS_close_range, from, u32::MAX as usize, 0, 0) < 0 {
            // Before Linux 5.9: by listing /proc/self/fd, where it can be read.
            each_fd(p.dirents, p.dirents_len, |n| {
                if n >= p.nfds && !keep.contains(&(n as i32)) {
                    syscall(libc::SYS_close, n, 0, 0, 0);
                }
            });
        }
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER) with no_new_privs set where the kernel asks for it.
unsafe fn install_filter(p: &ChildPlan, prog: *const SockFprog, index: usize) {
    // SAFETY: a program the parent prepared, alive until we exec.
    unsafe {
        let mut rc = syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as usize,
            0,
            prog as usize,
            0,
        );
        if rc == -(libc::EACCES as isize) {
            let set = syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0, 0);
            if set < 0 {
                fail(p, Step::NoNewPrivs, 1, 0, set);
            }
            rc = syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as usize,
                0,
                prog as usize,
                0,
            );
        }
        if rc < 0 {
            fail(p, Step::Seccomp, index, 0, rc);
        }
    }
}

/// Step 17b: a pty from /dev/ptmx, sized; the master sent to the parent, the slave left in
/// `tty_slave` above the stdio range. `(index, rc)`: which call failed (the parent names it).
unsafe fn open_terminal(p: &ChildPlan) -> (usize, isize) {
    // SAFETY: raw calls on the plan's data and this stack.
    unsafe {
        let master = syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as usize,
            DEV_PTMX.as_ptr() as usize,
            (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as usize,
            0,
        );
        if master < 0 {
            return (0, master);
        }
        let unlock = 0i32;
        let rc = syscall(
            libc::SYS_ioctl,
            master as usize,
            libc::TIOCSPTLCK as usize,
            &unlock as *const i32 as usize,
            0,
        );
        if rc < 0 {
            return (1, rc);
        }
        let rc = syscall(
            libc::SYS_ioctl,
            master as usize,
            libc::TIOCSWINSZ as usize,
            p.winsize.as_ptr() as usize,
            0,
        );
        if rc < 0 {
            return (2, rc);
        }
        // The peer by the master itself, not by a path that could name another pty.
        let slave = syscall(
            libc::SYS_ioctl,
            master as usize,
            libc::TIOCGPTPEER as usize,
            (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as usize,
            0,
        );
        if slave < 0 {
            return (3, slave);
        }
        // Above every fd step 23 fills, so that the shuffle cannot overwrite it.
        let moved = syscall(
            libc::SYS_fcntl,
            slave as usize,
            libc::F_DUPFD_CLOEXEC as usize,
            p.nfds.max(3),
            0,
        );
        if moved < 0 {
            return (3, moved);
        }
        syscall(libc::SYS_close, slave as usize, 0, 0, 0);
        let rc = send_fd(p.send_sock, master as i32);
        if rc < 0 {
            return (4, rc);
        }
        syscall(libc::SYS_close, master as usize, 0, 0, 0);
        *p.tty_slave = moved as i32;
        (0, 0)
    }
}

/// Sends `fd` over the unix socket `sock` (SCM_RIGHTS, one byte of data): -errno on failure.
unsafe fn send_fd(sock: i32, fd: i32) -> isize {
    let mut control = RightsMsg {
        len: std::mem::size_of::<RightsMsg>() - 4,
        level: libc::SOL_SOCKET,
        kind: libc::SCM_RIGHTS,
        fd,
        _pad: 0,
    };
    // SAFETY: the control message is on this stack.
    unsafe {
        send_control(
            sock,
            &mut control as *mut RightsMsg as *mut u8,
            std::mem::size_of::<RightsMsg>(),
        )
    }
}

/// Sends one byte with the control message `control` (`len` bytes) over `sock`: -errno on
/// failure.
unsafe fn send_control(sock: i32, control: *mut u8, len: usize) -> isize {
    // SAFETY: sendmsg of buffers on this stack and the caller's control message.
    unsafe {
        let mut byte = 0u8;
        let mut iov = libc::iovec {
            iov_base: &mut byte as *mut u8 as *mut c_void,
            iov_len: 1,
        };
        // Zeroed, not a literal: some C libraries' msghdr has padding the kernel reads as part
        // of a 64-bit length.
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control as *mut c_void;
        msg.msg_controllen = len as _;
        retry(|| {
            syscall(
                libc::SYS_sendmsg,
                sock as usize,
                &msg as *const libc::msghdr as usize,
                libc::MSG_NOSIGNAL as usize,
                0,
            )
        })
    }
}

/// A cmsghdr carrying one fd, laid out as CMSG_SPACE(sizeof(int)) on 64-bit Linux.
#[repr(C)]
struct RightsMsg {
    len: usize,
    level: i32,
    kind: i32,
    fd: i32,
    _pad: i32,
}

/// Step 24b: setsid, TIOCSCTTY, the slave on fds 0-2, TIOCSPGRP to our own group.
unsafe fn take_terminal(p: &ChildPlan) -> (usize, isize) {
    // SAFETY: raw calls on our own fds and this stack.
    unsafe {
        let slave = *p.tty_slave as usize;
        let rc = syscall(libc::SYS_setsid, 0, 0, 0, 0);
        if rc < 0 {
            return (5, rc);
        }
        let rc = syscall(libc::SYS_ioctl, slave, libc::TIOCSCTTY as usize, 0, 0);
        if rc < 0 {
            return (6, rc);
        }
        for fd in 0..3usize {
            let rc = syscall(libc::SYS_dup3, slave, fd, 0, 0);
            if rc < 0 {
                return (7, rc);
            }
        }
        syscall(libc::SYS_close, slave, 0, 0, 0);
        // The session leader's group is ours (setsid made it): in the foreground, so that the
        // program reads its terminal without SIGTTIN.
        let pgrp = syscall(libc::SYS_getpid, 0, 0, 0, 0) as i32;
        let rc = syscall(
            libc::SYS_ioctl,
            0,
            libc::TIOCSPGRP as usize,
            &pgrp as *const i32 as usize,
            0,
        );
        if rc < 0 {
            return (8, rc);
        }
        (0, 0)
    }
}

static ZERO: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// Sets lo up: SIOCGIFFLAGS, add IFF_UP, SIOCSIFFLAGS.
unsafe fn loopback_up() -> isize {
    // SAFETY: socket, ioctl and close on a local ifreq.
    unsafe {
        let fd = syscall(
            libc::SYS_socket,
            libc::AF_INET as usize,
            (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as usize,
            0,
            0,
        );
        if fd < 0 {
            return fd;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        ptr::copy_nonoverlapping(
            LO.as_ptr() as *const c_char,
            req.ifr_name.as_mut_ptr(),
            LO.len(),
        );
        let mut rc = syscall(
            libc::SYS_ioctl,
            fd as usize,
            libc::SIOCGIFFLAGS as usize,
            &mut req as *mut _ as usize,
            0,
        );
        if rc >= 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as i16;
            rc = syscall(
                libc::SYS_ioctl,
                fd as usize,
                libc::SIOCSIFFLAGS as usize,
                &mut req as *mut _ as usize,
                0,
            );
        }
        syscall(libc::SYS_close, fd as usize, 0, 0, 0);
        rc
    }
}

/// Child fd i becomes `fds[i]`, in two passes that survive any permutation (2>&1, 1<>2): first
/// every source that a later dup onto a lower number would overwrite is moved above the
/// mapped range, then each is dup'd into place. Then every other fd is closed at execve.
unsafe fn arrange_fds(p: &ChildPlan) -> isize {
    let n = p.nfds;
    // SAFETY: fds and scratch each hold nfds entries; scratch is this spawn's alone.
    unsafe {
        for i in 0..n {
            *p.scratch.add(i) = *p.fds.add(i);
        }
        // Pass 1: a source below n (other than its own slot) could be overwritten before it is
        // used: duplicate it above the range.
        for i in 0..n {
            let src = *p.scratch.add(i);
            if src >= 0 && (src as usize) < n && src as usize != i {
                let moved = syscall(
                    libc::SYS_fcntl,
                    src as usize,
                    libc::F_DUPFD_CLOEXEC as usize,
                    n,
                    0,
                );
                if moved < 0 {
                    return moved;
                }
                // Every slot that names this source uses the copy.
                for k in 0..n {
                    if *p.scratch.add(k) == src {
                        *p.scratch.add(k) = moved as i32;
                    }
                }
            }
        }
        // Pass 2: into place. dup3 clears close-on-exec on the new fd; a source already in its
        // slot only needs that flag cleared (Node marks 0-2 close-on-exec).
        for i in 0..n {
            let src = *p.scratch.add(i);
            let rc = if src < 0 {
                let rc = syscall(libc::SYS_close, i, 0, 0, 0);
                if rc == -(libc::EBADF as isize) {
                    0
                } else {
                    rc
                }
            } else if src as usize == i {
                syscall(libc::SYS_fcntl, i, libc::F_SETFD as usize, 0, 0)
            } else {
                syscall(libc::SYS_dup3, src as usize, i, 0, 0)
            };
            if rc < 0 {
                return rc;
            }
        }
        // Everything from n up closes at execve: fds other threads of the parent opened without
        // O_CLOEXEC must not leak into the program. The error pipe stays open until then.
        let rc = syscall(
            libc::SYS_close_range,
            n,
            u32::MAX as usize,
            libc::CLOSE_RANGE_CLOEXEC as usize,
            0,
        );
        if rc == 0 {
            return 0;
        }
        cloexec_by_listing(p, n)
    }
}

/// close_range(CLOSE_RANGE_CLOEXEC) needs Linux 5.11: older kernels get /proc/self/fd read
/// with getdents64 into the plan's buffer.
unsafe fn cloexec_by_listing(p: &ChildPlan, n: usize) -> isize {
    // SAFETY: the plan's listing buffer, and fcntl on our own fds.
    unsafe {
        each_fd(p.dirents, p.dirents_len, |fd| {
            if fd >= n {
                syscall(
                    libc::SYS_fcntl,
                    fd,
                    libc::F_SETFD as usize,
                    libc::FD_CLOEXEC as usize,
                    0,
                );
            }
        })
    }
}

/// Calls `visit` with each open fd but the listing's own, from /proc/self/fd read with
/// getdents64 into `buf`; 0, or the first failure.
unsafe fn each_fd(buf: *mut u8, len: usize, mut visit: impl FnMut(usize)) -> isize {
    // SAFETY: openat, getdents64 into `buf` (len bytes), close.
    unsafe {
        let dir = syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as usize,
            PROC_SELF_FD.as_ptr() as usize,
            (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as usize,
            0,
        );
        if dir < 0 {
            return dir;
        }
        loop {
            let got = syscall(libc::SYS_getdents64, dir as usize, buf as usize, len, 0);
            if got <= 0 {
                syscall(libc::SYS_close, dir as usize, 0, 0, 0);
                return got;
            }
            let mut off = 0usize;
            while off < got as usize {
                let ent = buf.add(off);
                let reclen = ptr::read_unaligned(ent.add(16) as *const u16) as usize;
                if let Some(fd) = fd_number(ent.add(19)) {
                    if fd != dir as usize {
                        visit(fd);
                    }
                }
                if reclen == 0 {
                    break;
                }
                off += reclen;
            }
        }
    }
}

/// mount(2), raw.
unsafe fn mount(
    source: *const c_char,
    target: *const c_char,
    fstype: *const c_char,
    flags: usize,
    data: *const u8,
) -> isize {
    // SAFETY: C strings (or NULL) the caller vouches for.
    unsafe {
        syscall6(
            libc::SYS_mount,
            [
                source as usize,
                target as usize,
                fstype as usize,
                flags,
                data as usize,
                0,
            ],
        )
    }
}

/// Whether `path` exists (following symlinks), and if so whether it is a directory:
/// `Ok(is_dir)`, or the kernel's `-errno`.
unsafe fn stat_dir(path: *const c_char) -> Result<bool, isize> {
    // Room for struct statx; only stx_mode (a u16 at byte 28) is read.
    let mut buf = [0u64; 32];
    // SAFETY: statx into a buffer of the size the kernel writes.
    let rc = unsafe {
        syscall6(
            libc::SYS_statx,
            [
                libc::AT_FDCWD as usize,
                path as usize,
                0,
                libc::STATX_TYPE as usize,
                buf.as_mut_ptr() as usize,
                0,
            ],
        )
    };
    if rc < 0 {
        return Err(rc);
    }
    // SAFETY: within the buffer.
    let mode = unsafe { ptr::read_unaligned((buf.as_ptr() as *const u8).add(28) as *const u16) };
    Ok(mode as u32 & libc::S_IFMT == libc::S_IFDIR)
}

unsafe fn mkdir(path: *const c_char, mode: u32) -> isize {
    // SAFETY: a C string the caller vouches for.
    unsafe {
        syscall(
            libc::SYS_mkdirat,
            libc::AT_FDCWD as usize,
            path as usize,
            mode as usize,
            0,
        )
    }
}

/// mount_setattr(2)'s argument.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets MOUNT_ATTR_* on the mount at `target` (and every mount below it if `recursive`). They
/// are only ever added, which the kernel allows even on mounts locked by a more privileged
/// namespace. Before Linux 5.12 (no mount_setattr): a remount of each mount that keeps the
/// flags it has (clearing a locked one would be refused), the submounts found in
/// /proc/self/mountinfo.
unsafe fn set_attr(p: &ChildPlan, target: *const c_char, attr: u64, recursive: bool) -> isize {
    let a = MountAttr {
        attr_set: attr,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let at = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a C string and a local struct of the size given.
    unsafe {
        let rc = syscall6(
            libc::SYS_mount_setattr,
            [
                libc::AT_FDCWD as usize,
                target as usize,
                at as usize,
                &a as *const MountAttr as usize,
                std::mem::size_of::<MountAttr>(),
                0,
            ],
        );
        if rc != -(libc::ENOSYS as isize) {
            return rc;
        }
        let rc = remount(target, attr);
        if rc < 0 || !recursive {
            return rc;
        }
        remount_below(p, target, attr)
    }
}

/// A remount of the one mount at `target` adding `attr`, keeping its flags.
unsafe fn remount(target: *const c_char, attr: u64) -> isize {
    // SAFETY: statfs into a local buffer, then mount(2) with a C string.
    unsafe {
        // struct statfs on 64-bit Linux: eleven words, f_flags the last of them.
        let mut sfs = [0u64; 16];
        let rc = syscall(
            libc::SYS_statfs,
            target as usize,
            sfs.as_mut_ptr() as usize,
            0,
            0,
        );
        if rc < 0 {
            return rc;
        }
        let has = sfs[10];
        let mut flags = (libc::MS_REMOUNT | libc::MS_BIND) as usize;
        // statfs(2)'s ST_* bits (the same on every architecture), and the MS_* flag of each.
        for (st, ms) in [
            (1u64, libc::MS_RDONLY),
            (2, libc::MS_NOSUID),
            (4, libc::MS_NODEV),
            (8, libc::MS_NOEXEC),
            (1024, libc::MS_NOATIME),
            (2048, libc::MS_NODIRATIME),
            (4096, libc::MS_RELATIME),
        ] {
            if has & st != 0 {
                flags |= ms as usize;
            }
        }
        for (ma, ms) in [
            (MOUNT_ATTR_RDONLY, libc::MS_RDONLY),
            (MOUNT_ATTR_NOSUID, libc::MS_NOSUID),
            (MOUNT_ATTR_NODEV, libc::MS_NODEV),
            (MOUNT_ATTR_NOEXEC, libc::MS_NOEXEC),
        ] {
            if attr & ma != 0 {
                flags |= ms as usize;
            }
        }
        mount(ptr::null(), target, ptr::null(), flags, ptr::null())
    }
}

const PROC_SELF_MOUNTINFO: &[u8] = b"/proc/self/mountinfo\0";
/// The same while a root is built: the build root has no /proc, the old root under it does.
const OLDROOT_PROC_SELF_MOUNTINFO: &[u8] = b"/oldroot/proc/self/mountinfo\0";

/// remount() of every mount strictly below `target`, as /proc/self/mountinfo lists them.
unsafe fn remount_below(p: &ChildPlan, target: *const c_char, attr: u64) -> isize {
    // SAFETY: target is a C string; each_mount hands C strings in the plan's buffer.
    unsafe {
        let mut tlen = 0;
        while *target.add(tlen) != 0 {
            tlen += 1;
        }
        each_mount(p, |point, len| {
            // Below the target: its path and a '/' next (every mount is below '/').
            let below = len > tlen && (tlen == 1 || *point.add(tlen) == b'/');
            let mut same = below;
            for i in 0..tlen {
                same = same && *point.add(i) == *(target as *const u8).add(i);
            }
            if same {
                unreachable_is_fine(remount(point as *const c_char, attr))
            } else {
                0
            }
        })
    }
}

/// A mount covered by a later one is listed in mountinfo but cannot be reached (ENOENT, or
/// EINVAL where the path finds no mount point): nothing in the program can reach it either.
fn unreachable_is_fine(rc: isize) -> isize {
    let hidden = [libc::ENOENT, libc::EINVAL, libc::ENOTDIR]
        .iter()
        .any(|&e| rc == -(e as isize));
    if hidden {
        0
    } else {
        rc
    }
}

/// Calls `visit(mount point, its length)` for each line of /proc/self/mountinfo (field 5, octal
/// escapes undone, NUL-terminated in the plan's path buffer); the first negative answer ends
/// the walk and is returned. A mount point too long for the buffer is passed over: no target
/// of ours is that long.
unsafe fn each_mount(p: &ChildPlan, mut visit: impl FnMut(*mut u8, usize) -> isize) -> isize {
    // SAFETY: reads into a local buffer and the plan's path buffer; raw calls.
    unsafe {
        let path = if p.rootfs == ROOTFS_NONE {
            PROC_SELF_MOUNTINFO
        } else {
            OLDROOT_PROC_SELF_MOUNTINFO
        };
        let fd = syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as usize,
            path.as_ptr() as usize,
            (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
            0,
        );
        if fd < 0 {
            return fd;
        }
        let mut chunk = std::mem::MaybeUninit::<[u8; 1024]>::uninit();
        let chunk = chunk.as_mut_ptr() as *mut u8;
        let (mut field, mut len, mut escape, mut code, mut overflow) = (0, 0usize, 0u8, 0u8, false);
        let buf = p.path_buf;
        let room = p.path_buf_len;
        let mut result = 0;
        'read: loop {
            let got = syscall(libc::SYS_read, fd as usize, chunk as usize, 1024, 0);
            if got <= 0 {
                if got < 0 {
                    result = got;
                }
                break;
            }
            for i in 0..got as usize {
                let c = *chunk.add(i);
                if c == b'\n' {
                    field = 0;
                    len = 0;
                    overflow = false;
                    continue;
                }
                if c == b' ' {
                    if field == 4 && !overflow {
                        *buf.add(len) = 0;
                        let rc = visit(buf, len);
                        if rc < 0 {
                            result = rc;
                            break 'read;
                        }
                    }
                    field += 1;
                    continue;
                }
                if field != 4 {
                    continue;
                }
                // \ooo escapes (space, tab, newline, backslash) in three octal digits.
                let byte = if escape > 0 {
                    code = code.wrapping_mul(8).wrapping_add(c.wrapping_sub(b'0'));
                    escape -= 1;
                    if escape > 0 {
                        continue;
                    }
                    code
                } else if c == b'\\' {
                    escape = 3;
                    code = 0;
                    continue;
                } else {
                    c
                };
                if len + 1 < room {
                    *buf.add(len) = byte;
                    len += 1;
                } else {
                    overflow = true;
                }
            }
        }
        syscall(libc::SYS_close, fd as usize, 0, 0, 0);
        result
    }
}

/// Makes the directories between the mount point of our own that ends at `from` and the last
/// component of `target` (which is left to the caller), in the plan's path buffer.
unsafe fn make_parents(p: &ChildPlan, target: *const c_char, from: usize) -> isize {
    // SAFETY: target is a C string; the buffer is this spawn's alone.
    unsafe {
        let mut n = 0;
        while *target.add(n) != 0 {
            n += 1;
        }
        if n + 1 > p.path_buf_len {
            return -(libc::ENAMETOOLONG as isize);
        }
        ptr::copy_nonoverlapping(target as *const u8, p.path_buf, n + 1);
        for i in from + 1..n {
            if *p.path_buf.add(i) != b'/' {
                continue;
            }
            *p.path_buf.add(i) = 0;
            let rc = mkdir(p.path_buf as *const c_char, 0o755);
            *p.path_buf.add(i) = b'/';
            if rc < 0 && rc != -(libc::EEXIST as isize) {
                return rc;
            }
        }
        0
    }
}

/// The op's target, made as `create` (CREATE_DIR or CREATE_FILE) if it is missing, where that
/// is on a mount of our own; never on the host's.
unsafe fn ensure_target(p: &ChildPlan, op: &MountOp, create: u8) -> Result<(), (Phase, isize)> {
    if create == CREATE_NONE {
        return Ok(());
    }
    // SAFETY: raw calls on the op's C strings.
    unsafe {
        match stat_dir(op.target) {
            Ok(_) => return Ok(()),
            Err(rc) if rc != -(libc::ENOENT as isize) => return Err((Phase::Create, rc)),
            Err(_) => {}
        }
        if op.create_from == 0 {
            return Err((Phase::Host, -(libc::ENOENT as isize)));
        }
        let rc = make_parents(p, op.target, op.create_from);
        if rc < 0 {
            return Err((Phase::Create, rc));
        }
        if create == CREATE_DIR {
            let mode = if op.mode != 0 { op.mode } else { 0o755 };
            let rc = mkdir(op.target, mode);
            if rc < 0 {
                return Err((Phase::Create, rc));
            }
            if op.mode != 0 {
                // The exact mode asked for, not what the umask leaves of it.
                let rc = syscall(
                    libc::SYS_fchmodat,
                    libc::AT_FDCWD as usize,
                    op.target as usize,
                    op.mode as usize,
                    0,
                );
                if rc < 0 {
                    return Err((Phase::Chmod, rc));
                }
            }
        } else {
            let fd = syscall(
                libc::SYS_openat,
                libc::AT_FDCWD as usize,
                op.target as usize,
                (libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOCTTY)
                    as usize,
                0o444,
            );
            if fd < 0 {
                return Err((Phase::Create, fd));
            }
            syscall(libc::SYS_close, fd as usize, 0, 0, 0);
        }
        Ok(())
    }
}

/// One mount op (step 10).
unsafe fn run_op(p: &ChildPlan, op: &MountOp) -> Result<(), (Phase, isize)> {
    let check = |phase: Phase, rc: isize| if rc < 0 { Err((phase, rc)) } else { Ok(()) };
    // SAFETY: raw calls on the op's C strings and buffers.
    unsafe {
        match op.kind {
            OpKind::Mount => {
                ensure_target(p, op, op.create)?;
                check(
                    Phase::Mount,
                    mount(op.source, op.target, op.fstype, op.flags, op.data),
                )?;
            }
            OpKind::Bind => {
                let is_dir = match stat_dir(op.source) {
                    Ok(d) => d,
                    Err(rc) if op.optional && rc == -(libc::ENOENT as isize) => return Ok(()),
                    Err(rc) => return Err((Phase::Source, rc)),
                };
                let create = match op.create {
                    CREATE_LIKE_SOURCE if is_dir => CREATE_DIR,
                    CREATE_LIKE_SOURCE => CREATE_FILE,
                    c => c,
                };
                ensure_target(p, op, create)?;
                let rec = if op.recursive { libc::MS_REC } else { 0 };
                check(
                    Phase::Mount,
                    mount(
                        op.source,
                        op.target,
                        ptr::null(),
                        (libc::MS_BIND | rec) as usize,
                        ptr::null(),
                    ),
                )?;
            }
            OpKind::Setattr => {}
            OpKind::Dir => ensure_target(p, op, CREATE_DIR)?,
            OpKind::Chmod => check(
                Phase::Chmod,
                syscall(
                    libc::SYS_fchmodat,
                    libc::AT_FDCWD as usize,
                    op.target as usize,
                    op.mode as usize,
                    0,
                ),
            )?,
            OpKind::Symlink => {
                let exists = match stat_dir(op.target) {
                    Err(rc) => rc != -(libc::ENOENT as isize),
                    Ok(_) => true,
                };
                // A dangling link is "missing" to statx but there to symlink(2): ask readlink.
                let len = syscall(
                    libc::SYS_readlinkat,
                    libc::AT_FDCWD as usize,
                    op.target as usize,
                    p.path_buf as usize,
                    p.path_buf_len,
                );
                if len >= 0 {
                    // There already: fine if it points where we would point it.
                    let mut same = len as usize == op.data_len;
                    let mut i = 0;
                    while same && i < op.data_len {
                        same = *p.path_buf.add(i) == *(op.source as *const u8).add(i);
                        i += 1;
                    }
                    return if same {
                        Ok(())
                    } else {
                        Err((Phase::Symlink, -(libc::EEXIST as isize)))
                    };
                }
                if exists {
                    return Err((Phase::Symlink, -(libc::EEXIST as isize)));
                }
                if op.create_from == 0 {
                    return Err((Phase::Host, -(libc::ENOENT as isize)));
                }
                check(Phase::Create, make_parents(p, op.target, op.create_from))?;
                check(
                    Phase::Symlink,
                    syscall(
                        libc::SYS_symlinkat,
                        op.source as usize,
                        libc::AT_FDCWD as usize,
                        op.target as usize,
                        0,
                    ),
                )?;
            }
            OpKind::File => {
                let fd = syscall(
                    libc::SYS_openat,
                    libc::AT_FDCWD as usize,
                    op.source as usize,
                    (libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC) as usize,
                    op.mode as usize,
                );
                check(Phase::Write, fd)?;
                let mut done = 0;
                while done < op.data_len {
                    let rc = retry(|| {
                        syscall(
                            libc::SYS_write,
                            fd as usize,
                            op.data.add(done) as usize,
                            op.data_len - done,
                            0,
                        )
                    });
                    if rc <= 0 {
                        syscall(libc::SYS_close, fd as usize, 0, 0, 0);
                        return Err((
                            Phase::Write,
                            if rc == 0 { -(libc::EIO as isize) } else { rc },
                        ));
                    }
                    done += rc as usize;
                }
                // The mode asked for exactly (the umask applied at open).
                let rc = syscall(libc::SYS_fchmod, fd as usize, op.mode as usize, 0, 0);
                syscall(libc::SYS_close, fd as usize, 0, 0, 0);
                check(Phase::Chmod, rc)?;
                ensure_target(p, op, CREATE_FILE)?;
                check(
                    Phase::Mount,
                    mount(
                        op.source,
                        op.target,
                        ptr::null(),
                        libc::MS_BIND as usize,
                        ptr::null(),
                    ),
                )?;
            }
        }
        if op.attr != 0 {
            check(
                Phase::Setattr,
                set_attr(p, op.target, op.attr, op.recursive),
            )?;
        }
        Ok(())
    }
}

/// Step 9: the build root (index 0-1), the pivot into it (2), the new root (3).
unsafe fn build_root(p: &ChildPlan) -> (usize, isize) {
    // SAFETY: raw calls on the plan's C strings.
    unsafe {
        let rc = mount(
            TMPFS.as_ptr().cast(),
            p.base,
            TMPFS.as_ptr().cast(),
            NOSUID_NODEV,
            MODE_0755.as_ptr(),
        );
        if rc < 0 {
            return (0, rc);
        }
        for dir in [p.base_new, p.base_old] {
            let rc = mkdir(dir, 0o755);
            if rc < 0 {
                return (1, rc);
            }
        }
        let rc = syscall(
            libc::SYS_pivot_root,
            p.base as usize,
            p.base_old as usize,
            0,
            0,
        );
        if rc < 0 {
            return (2, rc);
        }
        let rc = syscall(libc::SYS_chdir, ROOT.as_ptr() as usize, 0, 0, 0);
        if rc < 0 {
            return (2, rc);
        }
        let new: *const c_char = NEWROOT.as_ptr().cast();
        let rc = if p.rootfs == ROOTFS_TMPFS {
            mount(
                TMPFS.as_ptr().cast(),
                new,
                TMPFS.as_ptr().cast(),
                NOSUID_NODEV,
                MODE_0755.as_ptr(),
            )
        } else {
            let rc = mount(
                p.rootfs_dir,
                new,
                ptr::null(),
                (libc::MS_BIND | libc::MS_REC) as usize,
                ptr::null(),
            );
            if rc < 0 || p.rootfs_attr == 0 {
                rc
            } else {
                set_attr(p, new, p.rootfs_attr, true)
            }
        };
        (3, rc)
    }
}

/// Step 11: the old root detached (4), /newroot made the root (5), the build root under it
/// detached (6).
unsafe fn enter_root() -> (usize, isize) {
    // SAFETY: raw calls on constant paths; the fd is closed before returning.
    unsafe {
        let rc = syscall(
            libc::SYS_umount2,
            OLDROOT.as_ptr() as usize,
            libc::MNT_DETACH as usize,
            0,
            0,
        );
        if rc < 0 {
            return (4, rc);
        }
        let build = syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as usize,
            ROOT.as_ptr() as usize,
            (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as usize,
            0,
        );
        if build < 0 {
            return (5, build);
        }
        let mut rc = syscall(libc::SYS_chdir, NEWROOT.as_ptr() as usize, 0, 0, 0);
        if rc >= 0 {
            // The new root goes to /, the build root on top of it, at the same place.
            rc = syscall(
                libc::SYS_pivot_root,
                DOT.as_ptr() as usize,
                DOT.as_ptr() as usize,
                0,
                0,
            );
        }
        if rc < 0 {
            syscall(libc::SYS_close, build as usize, 0, 0, 0);
            return (5, rc);
        }
        rc = syscall(libc::SYS_fchdir, build as usize, 0, 0, 0);
        if rc >= 0 {
            rc = syscall(
                libc::SYS_umount2,
                DOT.as_ptr() as usize,
                libc::MNT_DETACH as usize,
                0,
                0,
            );
        }
        syscall(libc::SYS_close, build as usize, 0, 0, 0);
        if rc >= 0 {
            rc = syscall(libc::SYS_chdir, ROOT.as_ptr() as usize, 0, 0, 0);
        }
        (6, rc.min(0))
    }
}

/// Pid 1 under a reaper, once the program has exec'd (or failed): forwards every signal it
/// gets to the program, reaps every child (orphans of the namespace come to us), and exits
/// with the program's status (128 + the signal if a signal ended it: pid 1 cannot be killed by
/// its own signal). Holding (`program` 0) it passes no signal on, so that nothing inside can
/// end it: only SIGKILL from outside the namespace does. We run on a copy of the parent's memory: first everything but `keep` (our
/// stack, this addon's code, and the C library's rseq area, which the kernel writes on every
/// return to us and would answer with SIGSEGV if it were gone) is unmapped, so that we hold no
/// copy of the parent's heap however long the program runs. From here nothing calls into the C
/// library.
unsafe fn init(program: i32, keep: [(usize, usize); 3], trim: bool) -> ! {
    // SAFETY: raw calls on this stack only.
    unsafe {
        // Only the program keeps its fds (and the copies of the parent's we were given).
        if syscall(libc::SYS_close_range, 0, u32::MAX as usize, 0, 0) < 0 {
            close_all_by_listing();
        }
        // Named for what it is in `ps` inside the namespace, not after the thread it was
        // copied from.
        syscall(
            libc::SYS_prctl,
            libc::PR_SET_NAME as usize,
            INIT_NAME.as_ptr() as usize,
            0,
            0,
        );
        if trim {
            // Each pass lists the mappings and unmaps those we do not keep; a pass that unmaps
            // nothing ends it (the listing goes on by address, so unmapping while reading is
            // safe, and a second pass catches anything it skipped).
            for _ in 0..4 {
                if unmap_all_but(keep) == 0 {
                    break;
                }
            }
        }
        let all = !0u64;
        // siginfo_t, written by the kernel (never zeroed: that could be a memset call).
        let mut info = std::mem::MaybeUninit::<[u64; 16]>::uninit();
        loop {
            let sig = syscall(
                libc::SYS_rt_sigtimedwait,
                &all as *const u64 as usize,
                info.as_mut_ptr() as usize,
                0,
                8,
            );
            if sig <= 0 {
                continue;
            }
            if sig as i32 != libc::SIGCHLD {
                // kill(0, sig) would signal our whole process group: holding, nobody gets it.
                if program > 0 {
                    syscall(libc::SYS_kill, program as usize, sig as usize, 0, 0);
                }
                continue;
            }
            loop {
                let mut status = 0i32;
                let pid = syscall(
                    libc::SYS_wait4,
                    -1isize as usize,
                    &mut status as *mut i32 as usize,
                    (libc::WNOHANG | libc::__WALL) as usize,
                    0,
                );
                if pid <= 0 {
                    break;
                }
                if program > 0 && pid as i32 == program {
                    let code = if status & 0x7f == 0 {
                        (status >> 8) & 0xff
                    } else {
                        128 + (status & 0x7f)
                    };
                    exit_group(code);
                }
            }
        }
    }
}

const PROC_SELF_MAPS: &[u8] = b"/proc/self/maps\0";
const INIT_NAME: &[u8] = b"init\0";

/// Unmaps every mapping listed in /proc/self/maps that does not overlap `keep`; how many.
unsafe fn unmap_all_but(keep: [(usize, usize); 3]) -> usize {
    // Uninitialised: zeroing would be a memset call into the C library, which may be gone.
    let mut buf = std::mem::MaybeUninit::<[u8; 4096]>::uninit();
    let buf = buf.as_mut_ptr() as *mut u8;
    let mut unmapped = 0;
    // SAFETY: openat, read into the local buffer, munmap of mappings that are not ours.
    unsafe {
        let fd = syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as usize,
            PROC_SELF_MAPS.as_ptr() as usize,
            (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
            0,
        );
        if fd < 0 {
            return 0;
        }
        // Parse "start-end ..." lines, carrying a partial line over to the next read.
        let mut start = 0usize;
        let mut end = 0usize;
        let mut field = 0u8; // 0: start, 1: end, 2: rest of the line
        loop {
            let got = syscall(libc::SYS_read, fd as usize, buf as usize, 4096, 0);
            if got <= 0 {
                break;
            }
            for i in 0..got as usize {
                let c = *buf.add(i);
                match (field, c) {
                    (_, b'\n') => {
                        let overlaps = keep
                            .iter()
                            .any(|&(lo, hi)| lo < hi && start < hi && lo < end);
                        if field == 2 && start < end && !overlaps {
                            let rc = syscall(libc::SYS_munmap, start, end - start, 0, 0);
                            if rc == 0 {
                                unmapped += 1;
                            }
                        }
                        start = 0;
                        end = 0;
                        field = 0;
                    }
                    (0, b'-') => field = 1,
                    (1, b' ') => field = 2,
                    (0, _) => start = start.wrapping_mul(16).wrapping_add(hex(c)),
                    (1, _) => end = end.wrapping_mul(16).wrapping_add(hex(c)),
                    _ => {}
                }
            }
        }
        syscall(libc::SYS_close, fd as usize, 0, 0, 0);
    }
    unmapped
}

fn hex(c: u8) -> usize {
    match c {
        b'0'..=b'9' => (c - b'0') as usize,
        b'a'..=b'f' => (c - b'a' + 10) as usize,
        _ => 0,
    }
}

/// close_range(2) needs Linux 5.9: older kernels list /proc/self/fd, into a buffer on the
/// init's own stack.
unsafe fn close_all_by_listing() {
    let mut buf = [0u64; 128];
    // SAFETY: the listing goes into this stack buffer; closes our own fds.
    unsafe {
        each_fd(
            buf.as_mut_ptr() as *mut u8,
            std::mem::size_of_val(&buf),
            |fd| {
                syscall(libc::SYS_close, fd, 0, 0, 0);
            },
        );
    }
}

/// A /proc/self/fd entry's name as an fd number (None for "." and "..").
unsafe fn fd_number(name: *const u8) -> Option<usize> {
    let mut fd = 0usize;
    let mut k = 0;
    // SAFETY: a NUL-terminated name within a getdents64 record.
    unsafe {
        while *name.add(k) != 0 {
            let c = *name.add(k);
            if !c.is_ascii_digit() {
                return None;
            }
            fd = fd.wrapping_mul(10).wrapping_add((c - b'0') as usize);
            k += 1;
        }
    }
    (k > 0).then_some(fd)
}
