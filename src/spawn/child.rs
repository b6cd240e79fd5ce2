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

use crate::sys::{exit_group, syscall};

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
    Groups,
    Setgid,
    Setuid,
    Chdir,
    Setsid,
    Pdeathsig,
    Fds,
    Signals,
    Execve,
}

impl Step {
    pub const ALL: [Step; 18] = [
        Step::Clone,
        Step::Sync,
        Step::Idmap,
        Step::Setns,
        Step::Unshare,
        Step::Timens,
        Step::Hostname,
        Step::Loopback,
        Step::Cgroup,
        Step::Groups,
        Step::Setgid,
        Step::Setuid,
        Step::Chdir,
        Step::Setsid,
        Step::Pdeathsig,
        Step::Fds,
        Step::Signals,
        Step::Execve,
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
            Step::Groups => "groups",
            Step::Setgid => "setgid",
            Step::Setuid => "setuid",
            Step::Chdir => "chdir",
            Step::Setsid => "setsid",
            Step::Pdeathsig => "pdeathsig",
            Step::Fds => "fds",
            Step::Signals => "signals",
            Step::Execve => "execve",
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
}

/// A namespace to enter: an open fd and its CLONE_NEW* type (0: whatever it is).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Join {
    pub fd: i32,
    pub nstype: i32,
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
const TIMENS_OFFSETS: &[u8] = b"/proc/self/timens_offsets\0";
const LO: [u8; 3] = *b"lo\0";

/// Reports the failed step and exits.
fn fail(plan: &ChildPlan, step: Step, index: usize, rc: isize) -> ! {
    let report = Report {
        step: step as u32,
        index: index as u32,
        errno: (-rc) as u32,
    };
    // SAFETY: writes the report from this stack frame to the error pipe.
    unsafe {
        syscall(
            libc::SYS_write,
            plan.err_fd as usize,
            &report as *const Report as usize,
            std::mem::size_of::<Report>(),
            0,
        )
    };
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

/// The child. `arg` is the `ChildPlan`.
///
/// # Safety
/// Runs only as the entry of a spawn() clone, with every signal blocked and the plan alive.
pub unsafe extern "C" fn child_main(arg: *mut c_void) -> ! {
    // SAFETY: passed on.
    unsafe { walk(arg, false) }
}

/// The grandchild made at step 3 to enter a joined pid namespace: it goes on from step 4.
unsafe extern "C" fn grandchild_main(arg: *mut c_void) -> ! {
    // SAFETY: passed on.
    unsafe { walk(arg, true) }
}

/// Every step, in order. `resumed`: this is the grandchild of step 3, which starts at step 4.
unsafe fn walk(arg: *mut c_void, resumed: bool) -> ! {
    // SAFETY: the parent passes its plan and keeps it alive until we exec or exit.
    let p = unsafe { &*(arg as *const ChildPlan) };
    // SAFETY: each call below is a raw system call on the plan's data or this stack.
    unsafe {
        if !resumed {
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
            if p.wait_for_parent {
                let mut byte = 0u8;
                let rc = retry(|| {
                    syscall(
                        libc::SYS_read,
                        p.sync_fd as usize,
                        &mut byte as *mut u8 as usize,
                        1,
                        0,
                    )
                });
                if rc != 1 {
                    // The parent gave up (and reports why itself) or is gone.
                    exit_group(127);
                }
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
                    fail(p, Step::Setns, i, rc);
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
                let flags = vm | libc::CLONE_VFORK | libc::CLONE_PARENT;
                let rc = crate::sys::clone_into(
                    libc::SYS_clone,
                    [flags as usize, p.grandchild_stack, 0, 0, 0],
                    grandchild_main,
                    arg,
                );
                if rc < 0 {
                    fail(p, Step::Setns, p.njoins, rc);
                }
                let forward = Report {
                    step: 0,
                    index: rc as u32,
                    errno: 0,
                };
                syscall(
                    libc::SYS_write,
                    p.err_fd as usize,
                    &forward as *const Report as usize,
                    std::mem::size_of::<Report>(),
                    0,
                );
                exit_group(0);
            }
        } else {
            // 3c. (the grandchild) the time namespace joins left by step 3.
            for i in 0..p.njoins {
                let j = *p.joins.add(i);
                if j.nstype & libc::CLONE_NEWTIME == 0 {
                    continue;
                }
                let rc = syscall(libc::SYS_setns, j.fd as usize, j.nstype as usize, 0, 0);
                if rc < 0 {
                    fail(p, Step::Setns, i, rc);
                }
            }
        }

        // 4. unshare: namespaces clone() cannot make (time), after joins, so they are owned by
        // the user namespace we are now in.
        if p.unshare != 0 {
            let rc = syscall(libc::SYS_unshare, p.unshare as usize, 0, 0, 0);
            if rc < 0 {
                fail(p, Step::Unshare, 0, rc);
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
                fail(p, Step::Timens, 0, fd);
            }
            let rc = syscall(
                libc::SYS_write,
                fd as usize,
                p.timens as usize,
                p.timens_len,
                0,
            );
            if rc < 0 {
                fail(p, Step::Timens, 0, rc);
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
                fail(p, Step::Hostname, 0, rc);
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
                fail(p, Step::Hostname, 1, rc);
            }
        }

        // 7. loopback: lo up in a new network namespace; needs CAP_NET_ADMIN, so before setuid.
        if p.loopback {
            let rc = loopback_up();
            if rc < 0 {
                fail(p, Step::Loopback, 0, rc);
            }
        }

        // 8-10. groups, gid, uid: in that order, since setuid gives up the capability the
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
                fail(p, Step::Groups, 0, rc);
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
                fail(p, Step::Setgid, 0, rc);
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
                fail(p, Step::Setuid, 0, rc);
            }
        }

        // 11. chdir: after setuid, so the directory is checked with the program's own ids.
        if !p.cwd.is_null() {
            let rc = syscall(libc::SYS_chdir, p.cwd as usize, 0, 0, 0);
            if rc < 0 {
                fail(p, Step::Chdir, 0, rc);
            }
        }

        // 12. setsid: a session (and process group) of its own for a detached child.
        if p.setsid {
            let rc = syscall(libc::SYS_setsid, 0, 0, 0, 0);
            if rc < 0 {
                fail(p, Step::Setsid, 0, rc);
            }
        }

        // 13. pdeathsig: after setuid/setgid, which clear it. Then make sure the parent did not
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
                fail(p, Step::Pdeathsig, 0, rc);
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

        // 14. fds: the caller's stdio mapping, then close-on-exec for every other fd. Late, so
        // that nothing above opens an fd into the mapped range.
        let rc = arrange_fds(p);
        if rc < 0 {
            fail(p, Step::Fds, 0, rc);
        }

        // 15. signals: an empty mask for the program, as the very last thing before execve: from
        // here a signal only has its default action.
        let empty = 0u64;
        let rc = syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        );
        if rc < 0 {
            fail(p, Step::Signals, 0, rc);
        }

        // 16. execve: each candidate in PATH order, as execvp does: a missing file or directory
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
                _ => fail(p, Step::Execve, i, rc),
            }
            last = rc;
            i += 1;
        }
        if seen_eacces {
            last = -(libc::EACCES as isize);
        }
        fail(p, Step::Execve, 0, last)
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
    // SAFETY: openat, getdents64 into the plan's buffer, fcntl, close.
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
            let got = syscall(
                libc::SYS_getdents64,
                dir as usize,
                p.dirents as usize,
                p.dirents_len,
                0,
            );
            if got <= 0 {
                syscall(libc::SYS_close, dir as usize, 0, 0, 0);
                return got;
            }
            let mut off = 0usize;
            while off < got as usize {
                let ent = p.dirents.add(off);
                let reclen = ptr::read_unaligned(ent.add(16) as *const u16) as usize;
                let name = ent.add(19);
                let mut fd = 0usize;
                let mut k = 0;
                let mut digits = true;
                while *name.add(k) != 0 {
                    let c = *name.add(k);
                    if !c.is_ascii_digit() {
                        digits = false;
                        break;
                    }
                    fd = fd.wrapping_mul(10).wrapping_add((c - b'0') as usize);
                    k += 1;
                }
                if digits && k > 0 && fd >= n && fd != dir as usize {
                    syscall(
                        libc::SYS_fcntl,
                        fd,
                        libc::F_SETFD as usize,
                        libc::FD_CLOEXEC as usize,
                        0,
                    );
                }
                if reclen == 0 {
                    break;
                }
                off += reclen;
            }
        }
    }
}
