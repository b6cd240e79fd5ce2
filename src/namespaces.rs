//! unshare(2), setns(2) and the nsfs ioctls, with the checks Node's threads make necessary.
//!
//! Node.js is always multithreaded (V8 platform threads, libuv's threadpool, Workers), and the
//! kernel keeps namespaces per thread. These calls therefore change the calling thread only.
//! Some changes would leave that thread unable to create threads, which Node needs at unknown
//! later moments; those are refused here before the syscall, with an error that says why.

use std::os::fd::RawFd;

use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::args;
use crate::clone::{child_shares_fs, in_clone_child};
use crate::errors::{to_js, Failure, Outcome, UNSAFE_WITH_THREADS};
use crate::flags::*;

/// Hint for the calls that would stop a thread from creating threads.
const OWN_PROCESS: &str = "do it in a process of its own instead: inside a clone() callback, or \
     with child_process.spawn('unshare', [...]) or 'nsenter'";

nix::ioctl_none_bad!(ns_get_userns, NS_GET_USERNS);
nix::ioctl_none_bad!(ns_get_parent, NS_GET_PARENT);
nix::ioctl_none_bad!(ns_get_nstype, NS_GET_NSTYPE);
nix::ioctl_read_bad!(ns_get_owner_uid, NS_GET_OWNER_UID, libc::uid_t);

/// Moves the calling thread into new namespaces, or stops sharing attributes with the other
/// threads: unshare(2).
///
/// `flags` is a bitwise OR of NEWNS, NEWUTS, NEWIPC, NEWNET, NEWCGROUP, FS, SYSVSEM (and the
/// kernel's other unshare flags); any integer in [-2^31, 2^32) is read as an unsigned 32-bit
/// value, so `NEWNET | IO` (negative in JavaScript) is fine.
///
/// Only the calling thread changes. On the main thread that covers synchronous work
/// (`fs.*Sync`, `net` servers and sockets created afterwards, `os.hostname()`,
/// `child_process`); work that libuv runs on its threadpool (async `fs`, `dns.lookup`,
/// `crypto.pbkdf2`) and other Workers keep the old namespaces. In a Worker, only that Worker
/// changes. `/proc/thread-self/ns/*` shows the calling thread's namespaces.
///
/// Refused with code `ERR_UNSAFE_WITH_THREADS`, because they would break Node: NEWPID and
/// NEWTIME (the thread could no longer create threads, and the next threadpool or Worker start
/// aborts the process) and FILES (the threadpool could not use fds opened afterwards; inside a
/// clone() callback, the parent's event loop could not). libuv's threadpool is started first,
/// so that its threads keep the namespaces the process had before.
/// NEWUSER fails with EINVAL: the kernel lets only a single-threaded process enter a user
/// namespace.
#[napi(ts_args_type = "flags: number")]
pub fn unshare(env: Env, flags: Unknown) -> napi::Result<()> {
    crate::threadpool::start(&env);
    to_js(&env, args::flags(&flags, "flags").and_then(unshare_flags))
}

/// Moves the calling thread into the namespace behind `fd`: setns(2).
///
/// `fd` is a file descriptor (or a `FileHandle` from `node:fs/promises`) of a namespace
/// (`/proc/PID/ns/*`, a bind mount of one) or a pidfd (`pidfdOpen()`, Linux 5.8+).
/// `nstype` defaults to 0 (any type); for a namespace fd it may name the expected type, for a
/// pidfd it must be a mask of the NEW* flags to enter, all at once.
///
/// Like `unshare()`, this changes the calling thread only. Entering a pid namespace is refused
/// (`ERR_UNSAFE_WITH_THREADS`: the thread could no longer create threads). Entering a user
/// namespace fails with EINVAL (a multithreaded process cannot), and so does entering a mount
/// namespace while the thread shares its root and cwd with other threads: call `unshare(FS)`
/// first. Through a pidfd, where the kernel would instead move the root and cwd of every thread
/// sharing them, NEWNS is refused (`ERR_UNSAFE_WITH_THREADS`) until then.
#[napi(ts_args_type = "fd: number | { readonly fd: number }, nstype?: number")]
pub fn setns(env: Env, fd: Unknown, nstype: Unknown) -> napi::Result<()> {
    crate::threadpool::start(&env);
    let outcome = args::fd(&fd, "fd")
        .and_then(|fd| Ok((fd, args::opt_flags(&nstype, "nstype", 0)?)))
        .and_then(|(fd, nstype)| setns_fd(fd, nstype));
    to_js(&env, outcome)
}

/// Asks the namespace behind `fd` about itself: ioctl(2) with one of NS_GET_USERNS,
/// NS_GET_PARENT (both return a new fd, close it with `fs.closeSync`), NS_GET_NSTYPE (returns
/// the NEW* flag of its type) or NS_GET_OWNER_UID (returns the uid that created a user
/// namespace).
#[napi(ts_args_type = "fd: number | { readonly fd: number }, request: number")]
pub fn ns_ioctl(env: Env, fd: Unknown, request: Unknown) -> napi::Result<u32> {
    let outcome = args::fd(&fd, "fd").and_then(|fd| {
        let request = args::flags(&request, "request")?;
        ns_query(fd, request)
    });
    to_js(&env, outcome)
}

fn unshare_flags(flags: u32) -> Outcome<()> {
    let call = format!("unshare({})", unshare_flag_names(flags));
    // A clone() child is a process of its own: most of what would break Node's threads is fine
    // there, but not a fd table of its own (see child_refusal).
    let refusal = if in_clone_child() {
        child_refusal(flags)
    } else {
        unshare_refusal(flags)
    };
    if let Some(why) = refusal {
        return Err(Failure::Refused {
            code: UNSAFE_WITH_THREADS,
            syscall: "unshare",
            call,
            why,
        });
    }
    nix::sched::unshare(CloneFlags::from_bits_retain(flags as i32))
        .map_err(|e| Failure::sys(e, "unshare", call, unshare_cause(flags, e)))
}

fn no_more_threads(after: &str) -> String {
    format!(
        "after {after} this thread can no longer create threads, and the next start of libuv's \
         threadpool or of a Worker would abort Node.js; {OWN_PROCESS}"
    )
}

fn single_threaded_only(namespace: &str) -> String {
    // A clone() child is alone in its thread group but shares Node's memory, which is what the
    // kernel checks for a time namespace.
    if in_clone_child() {
        return format!(
            "a clone() child shares its memory with Node.js, and {namespace} can only be \
             entered by a process that shares its memory with no one: call unshare(NEWTIME) in \
             the callback (the processes it then creates start in the new time namespace), or \
             execve() a program that enters it"
        );
    }
    let instead = if namespace.contains("user") {
        "clone(callback, 0, NEWUSER) runs a callback in a new one, or use a new process \
         (child_process.spawn('unshare', ['--user', ...]) or 'nsenter')"
    } else {
        "use a new process (child_process.spawn('nsenter', [...]))"
    };
    format!(
        "Node.js is multithreaded, and {namespace} can only be entered by a single-threaded \
         process: {instead}"
    )
}

/// Why `flags` would break Node if taken outside a child of its own, if it would.
pub fn unshare_refusal(flags: u32) -> Option<String> {
    if flags & NEWPID != 0 {
        return Some(no_more_threads("unshare(NEWPID)"));
    }
    if flags & NEWTIME != 0 {
        return Some(no_more_threads("unshare(NEWTIME)"));
    }
    if flags & FILES != 0 {
        return Some(
            "after unshare(FILES) this thread has a file descriptor table of its own: fds it \
             opens afterwards do not exist for libuv's threadpool (async fs would fail with \
             EBADF), and fds the threadpool opens do not exist here"
                .into(),
        );
    }
    None
}

/// Why `flags` would break Node if taken inside a clone() callback, if it would.
pub fn child_refusal(flags: u32) -> Option<String> {
    (flags & FILES != 0).then(|| {
        "inside a clone() callback, unshare(FILES) gives the child a fd table of its own while \
         it keeps running on Node's heap: a server, socket or file it then opens has a fd only \
         the child has, and the parent's event loop aborts on it; execve() already gives a \
         program a fd table of its own"
            .into()
    })
}

/// Whether the calling thread shares root, cwd and umask with another thread: kcmp(KCMP_FS)
/// against every other thread of its process (a clone() child with FS shares them with the
/// thread that made it). If kcmp cannot tell, the answer is yes.
fn shares_fs() -> bool {
    if in_clone_child() {
        return child_shares_fs();
    }
    let me = crate::sys::gettid();
    let Ok(tasks) = std::fs::read_dir("/proc/thread-self/..") else {
        return true;
    };
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        if tid == me {
            continue;
        }
        // SAFETY: kcmp reads its integer arguments.
        let rc = unsafe { libc::syscall(libc::SYS_kcmp, me, tid, KCMP_FS as libc::c_int, 0, 0) };
        // A thread that has exited meanwhile is ESRCH and shares nothing.
        if rc == 0 || (rc < 0 && Errno::last() != Errno::ESRCH) {
            return true;
        }
    }
    false
}

/// The likely cause of unshare's `errno`, in words.
pub fn unshare_cause(flags: u32, errno: Errno) -> Option<String> {
    match errno {
        Errno::EINVAL if flags & !UNSHARE_ACCEPTS != 0 => Some(format!(
            "unshare(2) does not accept {} (clone(2) flags or unknown bits)",
            unshare_flag_names(flags & !UNSHARE_ACCEPTS)
        )),
        Errno::EINVAL if flags & NEWUSER != 0 && !in_clone_child() => {
            Some(single_threaded_only("a user namespace"))
        }
        Errno::EINVAL if flags & (THREAD | SIGHAND | VM) != 0 => Some(format!(
            "Node.js is multithreaded, and only a single-threaded process can stop sharing its \
             address space, signal handlers or thread group ({})",
            unshare_flag_names(flags & (THREAD | SIGHAND | VM))
        )),
        Errno::EPERM => {
            let new = flags & NAMESPACES;
            (new != 0).then(|| {
                format!(
                    "creating namespaces ({}) needs CAP_SYS_ADMIN: run as root, or in a process \
                     that owns a user namespace (which in Node.js means a new process)",
                    unshare_flag_names(new)
                )
            })
        }
        Errno::ENOSPC | Errno::EUSERS => Some(
            "a namespace limit is reached: see /proc/sys/user/max_*_namespaces (a nesting depth \
             of 32 is the kernel's maximum for pid and user namespaces)"
                .into(),
        ),
        _ => None,
    }
}

/// What an fd passed to setns refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A namespace file of this type (a NEW* flag).
    Namespace(u32),
    Pidfd,
    /// Not an open fd.
    Closed,
    /// Something else: a regular file, a socket, ...
    Other,
}

fn target_of(fd: RawFd) -> Target {
    if fd < 0 {
        return Target::Closed;
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd; a wrong fd is an error.
    match unsafe { ns_get_nstype(fd) } {
        Ok(t) => Target::Namespace(t as u32),
        Err(Errno::EBADF) => Target::Closed,
        Err(_) => match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
            Ok(link) if link.to_string_lossy().contains("pidfd") => Target::Pidfd,
            Ok(_) => Target::Other,
            Err(_) => Target::Closed,
        },
    }
}

/// The namespace types setns(fd, nstype) would enter.
fn entered(target: Target, nstype: u32) -> u32 {
    match target {
        Target::Namespace(t) if nstype == 0 || nstype == t => t,
        Target::Pidfd => nstype,
        _ => 0,
    }
}

fn setns_fd(fd: RawFd, nstype: u32) -> Outcome<()> {
    let call = format!("setns({fd}, {})", unshare_flag_names(nstype));
    let target = target_of(fd);
    let entering = entered(target, nstype);
    if entering & NEWPID != 0 && !in_clone_child() {
        return Err(Failure::Refused {
            code: UNSAFE_WITH_THREADS,
            syscall: "setns",
            call,
            why: no_more_threads("entering a pid namespace"),
        });
    }
    // Through a pidfd the kernel would move the root and cwd of every thread sharing them;
    // through a mount-namespace fd it refuses (EINVAL). Both get the same rule here.
    if target == Target::Pidfd && nstype & NEWNS != 0 && shares_fs() {
        return Err(Failure::Refused {
            code: UNSAFE_WITH_THREADS,
            syscall: "setns",
            call,
            why: format!(
                "this thread shares its filesystem attributes (root, cwd, umask) with Node's \
                 other threads, and entering a mount namespace through a pidfd would move the \
                 root and cwd of all of them, libuv's threadpool's included, with no way back: \
                 call unshare(FS) first{}",
                if in_clone_child() {
                    " (or clone() without FS)"
                } else {
                    ""
                }
            ),
        });
    }
    // libc rather than nix: nix wants a BorrowedFd, which must not be made from an fd the
    // caller may have closed or never opened; the kernel checks raw fds itself.
    // SAFETY: setns only reads its arguments.
    let rc = unsafe { libc::setns(fd, nstype as libc::c_int) };
    if rc == 0 {
        return Ok(());
    }
    let errno = Errno::last();
    Err(Failure::sys(
        errno,
        "setns",
        call,
        setns_cause(fd, nstype, target, errno),
    ))
}

/// The likely cause of setns's `errno`, in words.
pub fn setns_cause(fd: RawFd, nstype: u32, target: Target, errno: Errno) -> Option<String> {
    let entering = entered(target, nstype);
    let cause = match (errno, target) {
        (Errno::EBADF, _) => format!("{fd} is not an open file descriptor"),
        (Errno::EINVAL, Target::Other | Target::Closed) => format!(
            "fd {fd} refers to neither a namespace nor a pidfd (open /proc/PID/ns/TYPE, or use \
             pidfdOpen(pid))"
        ),
        (Errno::EINVAL, Target::Namespace(t)) if nstype != 0 && nstype != t => format!(
            "fd {fd} refers to a {} namespace, but nstype asks for {}",
            ns_type_name(t),
            unshare_flag_names(nstype)
        ),
        (Errno::EINVAL, Target::Pidfd) if nstype == 0 => format!(
            "fd {fd} is a pidfd: nstype must name the namespaces to enter (a mask of NEW* flags)"
        ),
        (Errno::EINVAL, Target::Pidfd) if nstype & !NAMESPACES != 0 => format!(
            "with a pidfd, nstype may hold only NEW* namespace flags, not {}",
            unshare_flag_names(nstype & !NAMESPACES)
        ),
        (Errno::EINVAL, _) if entering & NEWUSER != 0 && !in_clone_child() => {
            single_threaded_only("a user namespace")
        }
        (Errno::EINVAL, _) if entering & NEWNS != 0 => {
            "this thread shares its filesystem attributes \
             (root, cwd, umask) with Node's other threads, and the kernel lets only a thread \
             with its own enter a mount namespace: call unshare(FS) first (the threadpool then \
             keeps the old root and cwd)"
                .into()
        }
        (Errno::EUSERS, _) if entering & NEWTIME != 0 => single_threaded_only("a time namespace"),
        (Errno::EPERM, _) => "entering a namespace needs CAP_SYS_ADMIN both in the caller's user \
             namespace and in the user namespace that owns the target"
            .into(),
        (Errno::ESRCH, Target::Pidfd) => format!("the process behind pidfd {fd} has exited"),
        _ => return None,
    };
    Some(cause)
}

fn ns_query(fd: RawFd, request: u32) -> Outcome<u32> {
    let name = match request {
        NS_GET_USERNS => "NS_GET_USERNS",
        NS_GET_PARENT => "NS_GET_PARENT",
        NS_GET_NSTYPE => "NS_GET_NSTYPE",
        NS_GET_OWNER_UID => "NS_GET_OWNER_UID",
        _ => {
            return Err(Failure::ArgRange(format!(
                "The value of \"request\" is out of range. It must be one of NS_GET_USERNS, \
                 NS_GET_PARENT, NS_GET_NSTYPE or NS_GET_OWNER_UID. Received {request}"
            )))
        }
    };
    let call = format!("ioctl({fd}, {name})");
    // SAFETY: each request only reads the fd; NS_GET_OWNER_UID writes one uid_t into `uid`.
    let result = unsafe {
        match request {
            NS_GET_USERNS => ns_get_userns(fd),
            NS_GET_PARENT => ns_get_parent(fd),
            NS_GET_NSTYPE => ns_get_nstype(fd),
            _ => {
                let mut uid: libc::uid_t = 0;
                ns_get_owner_uid(fd, &mut uid).map(|_| uid as i32)
            }
        }
    };
    result.map(|v| v as u32).map_err(|errno| {
        let cause = match errno {
            Errno::EBADF => Some(format!("{fd} is not an open file descriptor")),
            Errno::ENOTTY => Some(format!("fd {fd} does not refer to a namespace")),
            Errno::EINVAL if request == NS_GET_PARENT => {
                Some("only pid and user namespaces have a parent".into())
            }
            Errno::EINVAL if request == NS_GET_OWNER_UID => {
                Some("only a user namespace has an owner uid".into())
            }
            Errno::EPERM => Some(
                "the namespace asked for lies outside the caller's namespace (at or above its \
                 root)"
                    .into(),
            ),
            _ => None,
        };
        Failure::sys(errno, "ioctl", call, cause)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_breaks_threads() {
        assert!(unshare_refusal(NEWPID).is_some_and(|m| m.contains("NEWPID")));
        assert!(unshare_refusal(NEWTIME | NEWNET).is_some_and(|m| m.contains("NEWTIME")));
        assert!(unshare_refusal(FILES).is_some_and(|m| m.contains("EBADF")));
        assert_eq!(
            unshare_refusal(NEWNET | NEWUTS | NEWNS | FS | SYSVSEM),
            None
        );
    }

    #[test]
    fn explains_einval() {
        let io = unshare_cause(IO | NEWUTS, Errno::EINVAL).unwrap_or_default();
        assert!(io.contains("does not accept IO"), "{io}");
        let user = unshare_cause(NEWUSER, Errno::EINVAL).unwrap_or_default();
        assert!(
            user.contains("multithreaded") && user.contains("user namespace"),
            "{user}"
        );
        assert_eq!(unshare_cause(NEWNET, Errno::EINVAL), None);
    }

    #[test]
    fn explains_eperm_with_the_capability() {
        let m = unshare_cause(NEWNET, Errno::EPERM).unwrap_or_default();
        assert!(m.contains("CAP_SYS_ADMIN") && m.contains("NEWNET"), "{m}");
        assert_eq!(unshare_cause(FS, Errno::EPERM), None);
    }

    #[test]
    fn setns_causes() {
        let m =
            setns_cause(3, NEWUTS, Target::Namespace(NEWNET), Errno::EINVAL).unwrap_or_default();
        assert!(m.contains("net namespace") && m.contains("NEWUTS"), "{m}");
        let m = setns_cause(3, 0, Target::Other, Errno::EINVAL).unwrap_or_default();
        assert!(m.contains("neither a namespace nor a pidfd"), "{m}");
        let m = setns_cause(3, 0, Target::Namespace(NEWNS), Errno::EINVAL).unwrap_or_default();
        assert!(m.contains("unshare(FS)"), "{m}");
        let m = setns_cause(3, NEWNET | NEWUSER, Target::Pidfd, Errno::EINVAL).unwrap_or_default();
        assert!(m.contains("user namespace"), "{m}");
        let m = setns_cause(-1, 0, Target::Closed, Errno::EBADF).unwrap_or_default();
        assert!(m.contains("not an open file descriptor"), "{m}");
    }
}
