//! Flag and constant values, with their names for error messages.
//!
//! Values are the kernel's (linux/sched.h, linux/kcmp.h, linux/nsfs.h, linux/wait.h,
//! asm/signal.h, linux/mount.h, sys/mount.h), written out rather than taken from libc so that every target exports the same
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

/// mount(): read-only.
#[napi]
pub const MS_RDONLY: u32 = 0x0000_0001;
/// mount(): set-user-ID and set-group-ID bits and file capabilities are ignored when running
/// programs from it.
#[napi]
pub const MS_NOSUID: u32 = 0x0000_0002;
/// mount(): device files on it cannot be opened.
#[napi]
pub const MS_NODEV: u32 = 0x0000_0004;
/// mount(): programs on it cannot be executed.
#[napi]
pub const MS_NOEXEC: u32 = 0x0000_0008;
/// mount(): writes are synchronous, as if every file were opened with O_SYNC.
#[napi]
pub const MS_SYNCHRONOUS: u32 = 0x0000_0010;
/// mount(): change an existing mount's flags and data (with MS_BIND: its per-mount flags only).
#[napi]
pub const MS_REMOUNT: u32 = 0x0000_0020;
/// mount(): permit mandatory locks; mandatory locking is gone since Linux 5.15.
#[napi]
pub const MS_MANDLOCK: u32 = 0x0000_0040;
/// mount(): directory changes are synchronous.
#[napi]
pub const MS_DIRSYNC: u32 = 0x0000_0080;
/// mount(): symbolic links are not followed when resolving paths on it (Linux 5.10+).
#[napi]
pub const MS_NOSYMFOLLOW: u32 = 0x0000_0100;
/// mount(): access times are not updated.
#[napi]
pub const MS_NOATIME: u32 = 0x0000_0400;
/// mount(): access times of directories are not updated.
#[napi]
pub const MS_NODIRATIME: u32 = 0x0000_0800;
/// mount(): a bind mount: the file or directory `source` is seen at `target` too.
#[napi]
pub const MS_BIND: u32 = 0x0000_1000;
/// mount(): move the mount at `source` to `target`.
#[napi]
pub const MS_MOVE: u32 = 0x0000_2000;
/// mount(): with MS_BIND, bind the mounts beneath `source` too; with a propagation flag,
/// change every mount beneath `target` too.
#[napi]
pub const MS_REC: u32 = 0x0000_4000;
/// mount(): leave out some of the kernel's log messages about this mount.
#[napi]
pub const MS_SILENT: u32 = 0x0000_8000;
/// mount(): the filesystem applies POSIX ACLs rather than the umask (most set it themselves).
#[napi]
pub const MS_POSIXACL: u32 = 0x0001_0000;
/// mount(): make the mount unbindable: private, and never the source of a bind mount.
#[napi]
pub const MS_UNBINDABLE: u32 = 0x0002_0000;
/// mount(): make the mount private: mounts and unmounts beneath it propagate neither in nor out.
#[napi]
pub const MS_PRIVATE: u32 = 0x0004_0000;
/// mount(): make the mount a slave: events propagate into it from its peer group, not out.
#[napi]
pub const MS_SLAVE: u32 = 0x0008_0000;
/// mount(): make the mount shared: events propagate among it and its peers.
#[napi]
pub const MS_SHARED: u32 = 0x0010_0000;
/// mount(): update an access time only if it is older than the modification or change time,
/// or a day old (the default since Linux 2.6.30).
#[napi]
pub const MS_RELATIME: u32 = 0x0020_0000;
/// mount(): count every change of an inode in its i_version, for filesystems that keep one.
#[napi]
pub const MS_I_VERSION: u32 = 0x0080_0000;
/// mount(): always update access times.
#[napi]
pub const MS_STRICTATIME: u32 = 0x0100_0000;
/// mount(): keep timestamp updates in memory, and write them out only when needed (Linux 4.0+).
#[napi]
pub const MS_LAZYTIME: u32 = 0x0200_0000;

/// umount(): unmount even while busy; for NFS and a few others, pending requests then fail.
#[napi]
pub const MNT_FORCE: u32 = 0x0000_0001;
/// umount(): detach the mount at once, and free the filesystem when it is no longer in use
/// (a lazy unmount).
#[napi]
pub const MNT_DETACH: u32 = 0x0000_0002;
/// umount(): mark the mount expired (EAGAIN); a second call unmounts it if unused meanwhile.
#[napi]
pub const MNT_EXPIRE: u32 = 0x0000_0004;
/// umount(): do not follow `target` if it is a symbolic link.
#[napi]
pub const UMOUNT_NOFOLLOW: u32 = 0x0000_0008;

/// Every mount flag a caller may pass, with its name for messages. The kernel's other bits
/// (MS_KERNMOUNT, MS_NOUSER, MS_ACTIVE, MS_BORN, ...) are internal, and mount(2) refuses or
/// ignores them; MS_MGC_VAL, the pre-2.4 magic in the high 16 bits, is not needed since.
pub const MOUNT_FLAG_NAMES: &[(u32, &str)] = &[
    (MS_REMOUNT, "MS_REMOUNT"),
    (MS_BIND, "MS_BIND"),
    (MS_MOVE, "MS_MOVE"),
    (MS_REC, "MS_REC"),
    (MS_SHARED, "MS_SHARED"),
    (MS_PRIVATE, "MS_PRIVATE"),
    (MS_SLAVE, "MS_SLAVE"),
    (MS_UNBINDABLE, "MS_UNBINDABLE"),
    (MS_RDONLY, "MS_RDONLY"),
    (MS_NOSUID, "MS_NOSUID"),
    (MS_NODEV, "MS_NODEV"),
    (MS_NOEXEC, "MS_NOEXEC"),
    (MS_SYNCHRONOUS, "MS_SYNCHRONOUS"),
    (MS_MANDLOCK, "MS_MANDLOCK"),
    (MS_DIRSYNC, "MS_DIRSYNC"),
    (MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"),
    (MS_NOATIME, "MS_NOATIME"),
    (MS_NODIRATIME, "MS_NODIRATIME"),
    (MS_RELATIME, "MS_RELATIME"),
    (MS_STRICTATIME, "MS_STRICTATIME"),
    (MS_LAZYTIME, "MS_LAZYTIME"),
    (MS_SILENT, "MS_SILENT"),
    (MS_POSIXACL, "MS_POSIXACL"),
    (MS_I_VERSION, "MS_I_VERSION"),
];

/// The propagation flags: a mount() that changes propagation takes one of them.
pub const MS_PROPAGATION: u32 = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

/// Every umount2 flag, with its name for messages; umount2(2) refuses any other bit.
pub const UMOUNT_FLAG_NAMES: &[(u32, &str)] = &[
    (MNT_FORCE, "MNT_FORCE"),
    (MNT_DETACH, "MNT_DETACH"),
    (MNT_EXPIRE, "MNT_EXPIRE"),
    (UMOUNT_NOFOLLOW, "UMOUNT_NOFOLLOW"),
];

/// The bits of every entry of `table`.
pub const fn mask_of(table: &[(u32, &str)]) -> u32 {
    let mut mask = 0;
    let mut i = 0;
    while i < table.len() {
        mask |= table[i].0;
        i += 1;
    }
    mask
}

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
    fn mount_values_match_the_c_library() {
        let ours = [
            (MS_RDONLY, libc::MS_RDONLY),
            (MS_NOSUID, libc::MS_NOSUID),
            (MS_NODEV, libc::MS_NODEV),
            (MS_NOEXEC, libc::MS_NOEXEC),
            (MS_SYNCHRONOUS, libc::MS_SYNCHRONOUS),
            (MS_REMOUNT, libc::MS_REMOUNT),
            (MS_MANDLOCK, libc::MS_MANDLOCK),
            (MS_DIRSYNC, libc::MS_DIRSYNC),
            (MS_NOSYMFOLLOW, libc::MS_NOSYMFOLLOW),
            (MS_NOATIME, libc::MS_NOATIME),
            (MS_NODIRATIME, libc::MS_NODIRATIME),
            (MS_BIND, libc::MS_BIND),
            (MS_MOVE, libc::MS_MOVE),
            (MS_REC, libc::MS_REC),
            (MS_SILENT, libc::MS_SILENT),
            (MS_POSIXACL, libc::MS_POSIXACL),
            (MS_UNBINDABLE, libc::MS_UNBINDABLE),
            (MS_PRIVATE, libc::MS_PRIVATE),
            (MS_SLAVE, libc::MS_SLAVE),
            (MS_SHARED, libc::MS_SHARED),
            (MS_RELATIME, libc::MS_RELATIME),
            (MS_I_VERSION, libc::MS_I_VERSION),
            (MS_STRICTATIME, libc::MS_STRICTATIME),
            (MS_LAZYTIME, libc::MS_LAZYTIME),
        ];
        for (mine, theirs) in ours {
            assert_eq!(
                libc::c_ulong::from(mine),
                theirs,
                "{}",
                bit_names(MOUNT_FLAG_NAMES, mine)
            );
        }
        assert_eq!(MOUNT_FLAG_NAMES.len(), ours.len());
        assert_eq!(mask_of(MOUNT_FLAG_NAMES) & libc::MS_KERNMOUNT as u32, 0);
        assert_eq!(MNT_FORCE, libc::MNT_FORCE as u32);
        assert_eq!(MNT_DETACH, libc::MNT_DETACH as u32);
        assert_eq!(MNT_EXPIRE, libc::MNT_EXPIRE as u32);
        assert_eq!(UMOUNT_NOFOLLOW, libc::UMOUNT_NOFOLLOW as u32);
    }

    #[test]
    fn mount_flags_are_named_operation_first() {
        assert_eq!(
            bit_names(MOUNT_FLAG_NAMES, MS_RDONLY | MS_BIND | MS_REMOUNT),
            "MS_REMOUNT|MS_BIND|MS_RDONLY"
        );
        assert_eq!(
            bit_names(UMOUNT_FLAG_NAMES, MNT_DETACH | 0x10),
            "MNT_DETACH|0x10"
        );
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
