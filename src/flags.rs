//! Flag and constant values, with their names for error messages.
//!
//! Values are the kernel's (linux/sched.h, linux/kcmp.h, linux/nsfs.h, linux/wait.h,
//! asm/signal.h), written out rather than taken from libc so that every target exports the same
//! numbers, including flags newer than the C library it was built against.

use napi_derive::napi;

/// Mask of the exit-signal byte of `clone()`'s flags.
#[napi]
pub const CSIGNAL: u32 = 0x0000_00ff;
/// Share the address space (implies SIGHAND in unshare).
#[napi]
pub const VM: u32 = 0x0000_0100;
/// Share root, cwd and umask.
#[napi]
pub const FS: u32 = 0x0000_0200;
/// Share the file descriptor table.
#[napi]
pub const FILES: u32 = 0x0000_0400;
/// Share signal handlers.
#[napi]
pub const SIGHAND: u32 = 0x0000_0800;
/// clone(): return a pidfd for the child through `ptid`.
#[napi]
pub const PIDFD: u32 = 0x0000_1000;
/// clone(): let the tracer trace the child too.
#[napi]
pub const PTRACE: u32 = 0x0000_2000;
/// clone(): the parent waits until the child exits or execs.
#[napi]
pub const VFORK: u32 = 0x0000_4000;
/// clone(): the child's parent is the caller's parent, not the caller.
#[napi]
pub const PARENT: u32 = 0x0000_8000;
/// Same thread group (implies VM and SIGHAND).
#[napi]
pub const THREAD: u32 = 0x0001_0000;
/// New mount namespace (implies FS in unshare).
#[napi]
pub const NEWNS: u32 = 0x0002_0000;
/// Share System V semaphore undo values.
#[napi]
pub const SYSVSEM: u32 = 0x0004_0000;
/// clone(): set the TLS descriptor.
#[napi]
pub const SETTLS: u32 = 0x0008_0000;
/// clone(): store the child's tid in the parent's memory (`ptid`).
#[napi]
pub const PARENT_SETTID: u32 = 0x0010_0000;
/// clone(): clear the child's tid in its memory when it exits.
#[napi]
pub const CHILD_CLEARTID: u32 = 0x0020_0000;
/// Ignored by the kernel since Linux 2.6.2; kept for compatibility.
#[napi]
pub const DETACHED: u32 = 0x0040_0000;
/// clone(): a tracer cannot force PTRACE on the child.
#[napi]
pub const UNTRACED: u32 = 0x0080_0000;
/// clone(): store the child's tid in the child's memory.
#[napi]
pub const CHILD_SETTID: u32 = 0x0100_0000;
/// New cgroup namespace.
#[napi]
pub const NEWCGROUP: u32 = 0x0200_0000;
/// New UTS namespace (hostname, domain name).
#[napi]
pub const NEWUTS: u32 = 0x0400_0000;
/// New IPC namespace (System V IPC, POSIX message queues).
#[napi]
pub const NEWIPC: u32 = 0x0800_0000;
/// New user namespace.
#[napi]
pub const NEWUSER: u32 = 0x1000_0000;
/// New pid namespace (for the children of the caller).
#[napi]
pub const NEWPID: u32 = 0x2000_0000;
/// New network namespace.
#[napi]
pub const NEWNET: u32 = 0x4000_0000;
/// clone(): share the I/O context.
#[napi]
pub const IO: u32 = 0x8000_0000;
/// New time namespace (for the children of the caller). Shares its value with the exit-signal
/// byte, so clone(2) cannot take it; unshare(2) and setns(2) can.
#[napi]
pub const NEWTIME: u32 = 0x0000_0080;

/// kcmp(): the file referred to by fd idx1 in pid1 and fd idx2 in pid2.
#[napi]
pub const KCMP_FILE: u32 = 0;
/// kcmp(): the address space.
#[napi]
pub const KCMP_VM: u32 = 1;
/// kcmp(): the file descriptor table.
#[napi]
pub const KCMP_FILES: u32 = 2;
/// kcmp(): root, cwd and umask.
#[napi]
pub const KCMP_FS: u32 = 3;
/// kcmp(): the signal handler table.
#[napi]
pub const KCMP_SIGHAND: u32 = 4;
/// kcmp(): the I/O context.
#[napi]
pub const KCMP_IO: u32 = 5;
/// kcmp(): System V semaphore undo lists.
#[napi]
pub const KCMP_SYSVSEM: u32 = 6;
/// kcmp(): whether fd idx1 of pid1 is in the epoll set `idx2` of pid2.
#[napi]
pub const KCMP_EPOLL_TFD: u32 = 7;

/// nsIoctl(): a new fd for the user namespace that owns the namespace.
#[napi]
pub const NS_GET_USERNS: u32 = 0xb701;
/// nsIoctl(): a new fd for the parent of a pid or user namespace.
#[napi]
pub const NS_GET_PARENT: u32 = 0xb702;
/// nsIoctl(): the namespace's type, as one of the NEW* flags.
#[napi]
pub const NS_GET_NSTYPE: u32 = 0xb703;
/// nsIoctl(): the uid of the creator of a user namespace.
#[napi]
pub const NS_GET_OWNER_UID: u32 = 0xb704;

/// waitpid(): return null at once if no child has changed state.
#[napi]
pub const WNOHANG: u32 = 0x0000_0001;
/// waitpid(): also report children stopped by a signal (`stopSignal`).
#[napi]
pub const WUNTRACED: u32 = 0x0000_0002;
/// waitpid(): also report stopped children resumed by SIGCONT (`continued`).
#[napi]
pub const WCONTINUED: u32 = 0x0000_0008;
/// waitpid(): wait for all children, whatever their exit signal. waitpid() adds it unless
/// `__WALL` or `__WCLONE` is given.
// Named as in the C headers: napi-derive's js_name registers a const under its Rust name, so
// the Rust name has to be the JavaScript one.
#[napi]
pub const __WALL: u32 = 0x4000_0000;
/// waitpid(): wait only for "clone" children, whose exit signal is not SIGCHLD (or none).
#[napi]
pub const __WCLONE: u32 = 0x8000_0000;
/// The usual exit signal for clone()'s low flags byte: the parent is sent SIGCHLD when the
/// child exits, as after fork().
#[napi]
pub const SIGCHLD: u32 = 17;

/// waitpid(2) only: wait for children of the calling thread, not of its whole process.
pub const __WNOTHREAD: u32 = 0x2000_0000;

/// Every option bit waitpid(2) accepts, with its name for messages.
pub const WAIT_OPTION_NAMES: &[(u32, &str)] = &[
    (WNOHANG, "WNOHANG"),
    (WUNTRACED, "WUNTRACED"),
    (WCONTINUED, "WCONTINUED"),
    (__WNOTHREAD, "__WNOTHREAD"),
    (__WALL, "__WALL"),
    (__WCLONE, "__WCLONE"),
];

/// Every named clone/unshare flag bit, in the order names are printed.
const FLAG_NAMES: &[(u32, &str)] = &[
    (NEWNS, "NEWNS"),
    (NEWUTS, "NEWUTS"),
    (NEWIPC, "NEWIPC"),
    (NEWNET, "NEWNET"),
    (NEWPID, "NEWPID"),
    (NEWUSER, "NEWUSER"),
    (NEWCGROUP, "NEWCGROUP"),
    (NEWTIME, "NEWTIME"),
    (VM, "VM"),
    (FS, "FS"),
    (FILES, "FILES"),
    (SIGHAND, "SIGHAND"),
    (PIDFD, "PIDFD"),
    (PTRACE, "PTRACE"),
    (VFORK, "VFORK"),
    (PARENT, "PARENT"),
    (THREAD, "THREAD"),
    (SYSVSEM, "SYSVSEM"),
    (SETTLS, "SETTLS"),
    (PARENT_SETTID, "PARENT_SETTID"),
    (CHILD_CLEARTID, "CHILD_CLEARTID"),
    (DETACHED, "DETACHED"),
    (UNTRACED, "UNTRACED"),
    (CHILD_SETTID, "CHILD_SETTID"),
    (IO, "IO"),
];

/// Flags unshare(2) accepts; any other bit is EINVAL from the kernel.
pub const UNSHARE_ACCEPTS: u32 = THREAD
    | FS
    | NEWNS
    | SIGHAND
    | VM
    | FILES
    | SYSVSEM
    | NEWUTS
    | NEWIPC
    | NEWNET
    | NEWUSER
    | NEWPID
    | NEWCGROUP
    | NEWTIME;

/// Every namespace type; for a pidfd, setns's nstype is a mask of these.
pub const NAMESPACES: u32 =
    NEWNS | NEWUTS | NEWIPC | NEWNET | NEWPID | NEWUSER | NEWCGROUP | NEWTIME;

/// Names `flags` for unshare/setns, where 0x80 means NEWTIME: `NEWNET|NEWUTS`, `0`, or
/// `NEWNET|0x1`-style hex for bits without a name.
pub fn unshare_flag_names(flags: u32) -> String {
    bit_names(FLAG_NAMES, flags)
}

/// Names the bits of `flags` from `table`, in its order: `A|B`, `0`, or `A|0x1`-style hex for
/// bits without a name.
pub fn bit_names(table: &[(u32, &str)], flags: u32) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = flags;
    for &(bit, name) in table {
        if rest & bit != 0 {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join("|")
    }
}

/// The name of one namespace type (a single NEW* flag) in the words of /proc/PID/ns.
pub fn ns_type_name(nstype: u32) -> &'static str {
    match nstype {
        NEWNS => "mount",
        NEWUTS => "uts",
        NEWIPC => "ipc",
        NEWNET => "net",
        NEWPID => "pid",
        NEWUSER => "user",
        NEWCGROUP => "cgroup",
        NEWTIME => "time",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_bits_in_order() {
        assert_eq!(unshare_flag_names(NEWUTS | NEWNET), "NEWUTS|NEWNET");
        assert_eq!(unshare_flag_names(NEWNS | NEWTIME), "NEWNS|NEWTIME");
        assert_eq!(unshare_flag_names(0), "0");
        assert_eq!(unshare_flag_names(IO | NEWUTS), "NEWUTS|IO");
    }

    #[test]
    fn names_unknown_bits_in_hex() {
        assert_eq!(unshare_flag_names(NEWNET | 0x1), "NEWNET|0x1");
    }

    #[test]
    fn flag_values_match_the_kernel_headers() {
        assert_eq!(NEWNET, libc::CLONE_NEWNET as u32);
        assert_eq!(NEWUSER, libc::CLONE_NEWUSER as u32);
        assert_eq!(NEWCGROUP, libc::CLONE_NEWCGROUP as u32);
        assert_eq!(IO, libc::CLONE_IO as u32);
        assert_eq!(PIDFD, libc::CLONE_PIDFD as u32);
        assert_eq!(NEWTIME, libc::CLONE_NEWTIME as u32);
        assert_eq!(CHILD_SETTID, libc::CLONE_CHILD_SETTID as u32);
        assert_eq!(PARENT, libc::CLONE_PARENT as u32);
    }

    #[test]
    fn wait_values_match_the_c_library() {
        assert_eq!(WNOHANG, libc::WNOHANG as u32);
        assert_eq!(WUNTRACED, libc::WUNTRACED as u32);
        assert_eq!(WCONTINUED, libc::WCONTINUED as u32);
        assert_eq!(__WALL, libc::__WALL as u32);
        assert_eq!(__WCLONE, libc::__WCLONE as u32);
        assert_eq!(__WNOTHREAD, libc::__WNOTHREAD as u32);
        assert_eq!(SIGCHLD, libc::SIGCHLD as u32);
    }

    #[test]
    fn unshare_accepts_no_clone_only_bits() {
        for bit in [
            IO,
            VFORK,
            PTRACE,
            SETTLS,
            PARENT_SETTID,
            PIDFD,
            CHILD_SETTID,
            CHILD_CLEARTID,
        ] {
            assert_eq!(UNSHARE_ACCEPTS & bit, 0, "{}", unshare_flag_names(bit));
        }
    }
}
