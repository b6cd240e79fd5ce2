//! mount(2), umount2(2) and pivot_root(2).
//!
//! All three act on the calling thread's mount namespace and resolve paths against its root and
//! cwd. Node's threads share one mount namespace unless a thread left it (unshare(NEWNS),
//! setns), so on a thread that has not, a mount is seen by the whole process, its threadpool
//! included; nothing here can leave a thread unable to work, so nothing is refused.

use std::path::Path;

use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use crate::args;
use crate::errors::{to_js, Failure, Outcome};
use crate::flags::*;

/// Attaches a filesystem (or, with MS_BIND, MS_MOVE, MS_REMOUNT or a propagation flag, changes
/// what is mounted) at `target`: mount(2).
///
/// `source` is the device or name of the filesystem (`null` or any name where it has none, as
/// tmpfs and proc), or the file or directory to bind or the mount to move. `fstype` is the
/// filesystem type (`'tmpfs'`, `'proc'`, `'overlay'`, ...; `null` when changing a mount).
/// `flags` is a bitwise OR of the MS_* flags; other bits are refused. `data` is the
/// filesystem's own options, as `mount -o` takes them (`'size=16m,mode=755'`).
///
/// It acts on the calling thread's mount namespace: in a clone() callback with NEWNS, the
/// child's own, gone when the child ends; on a thread that called unshare(NEWNS), that thread's
/// (libuv's threadpool, and so async `fs`, keeps the old one and does not see the mount);
/// otherwise the namespace the whole process shares. In a new mount namespace, make the mounts
/// private first (`mount(null, '/', null, MS_REC | MS_PRIVATE)`): copied from a shared `/`,
/// they would carry new mounts back to the namespace they came from.
///
/// Needs CAP_SYS_ADMIN in the user namespace that owns the mount namespace: as any user, in a
/// clone() callback with NEWUSER | NEWNS.
#[napi(
    ts_args_type = "source: string | null, target: string, fstype: string | null, flags: number, data?: string | null"
)]
pub fn mount(
    env: Env,
    source: Unknown,
    target: Unknown,
    fstype: Unknown,
    flags: Unknown,
    data: Unknown,
) -> napi::Result<()> {
    let outcome = args::nullable_path(&source, "source").and_then(|source| {
        let request = MountRequest {
            source,
            target: args::path(&target, "target")?,
            fstype: args::nullable_path(&fstype, "fstype")?,
            flags: args::known_flags(
                args::flags(&flags, "flags")?,
                "flags",
                MOUNT_FLAG_NAMES,
                "the MS_* mount flags",
            )?,
            data: args::opt_nullable_path(&data, "data")?,
        };
        mount_request(&request)
    });
    to_js(&env, outcome)
}

/// Detaches the filesystem mounted at `target`: umount2(2).
///
/// `flags` is 0 (the default) or a bitwise OR of MNT_FORCE, MNT_DETACH, MNT_EXPIRE and
/// UMOUNT_NOFOLLOW; other bits are refused. A mount still in use is EBUSY; MNT_DETACH detaches
/// it at once and lets the kernel free it when its last user is gone.
///
/// Like mount(), it acts on the calling thread's mount namespace.
#[napi(ts_args_type = "target: string, flags?: number")]
pub fn umount(env: Env, target: Unknown, flags: Unknown) -> napi::Result<()> {
    let outcome = args::path(&target, "target").and_then(|target| {
        let flags = args::opt_flags(&flags, "flags", 0)?;
        let flags = args::known_flags(
            flags,
            "flags",
            UMOUNT_FLAG_NAMES,
            "MNT_FORCE, MNT_DETACH, MNT_EXPIRE and UMOUNT_NOFOLLOW",
        )?;
        umount_target(target, flags)
    });
    to_js(&env, outcome)
}

/// Makes `newRoot` the root of the calling thread's mount namespace and moves the old root to
/// `putOld` (a directory at or under `newRoot`): pivot_root(2).
///
/// Do it in a mount namespace of its own (`unshare(NEWNS)`, or in a clone callback), after
/// making the mounts private (`mount(null, '/', null, MS_REC | MS_PRIVATE)`); `newRoot` must be
/// a mount point (bind-mount a directory onto itself to make it one: `mount(dir, dir, null,
/// MS_BIND)`). Every thread and process of that mount
/// namespace whose root or cwd was the old root moves to the new one.
#[napi(ts_args_type = "newRoot: string, putOld: string")]
pub fn pivot_root(env: Env, new_root: Unknown, put_old: Unknown) -> napi::Result<()> {
    let outcome = args::path(&new_root, "newRoot").and_then(|new_root| {
        let put_old = args::path(&put_old, "putOld")?;
        pivot(new_root, put_old)
    });
    to_js(&env, outcome)
}

fn pivot(new_root: String, put_old: String) -> Outcome<()> {
    nix::unistd::pivot_root(new_root.as_str(), put_old.as_str()).map_err(|errno| Failure::Sys {
        errno,
        syscall: "pivot_root",
        call: format!("pivot_root({new_root:?}, {put_old:?})"),
        cause: pivot_root_cause(errno),
        path: Some(new_root),
        dest: Some(put_old),
    })
}

/// The likely cause of pivot_root's `errno`, in words.
pub fn pivot_root_cause(errno: Errno) -> Option<String> {
    let cause = match errno {
        Errno::EINVAL => {
            "newRoot must be a mount point (bind-mount it onto itself), putOld must be at or \
             under newRoot, and neither the current root nor newRoot's mounts may be shared: \
             in a new mount namespace, make them private first (mount(null, '/', null, \
             MS_REC | MS_PRIVATE), as mount --make-rprivate / does), and the current root must \
             not be the initramfs rootfs"
        }
        Errno::EBUSY => {
            "newRoot and putOld must not be on the current root's mount: make newRoot a mount \
             point of its own (bind-mount it onto itself)"
        }
        Errno::ENOTDIR => "newRoot and putOld must both be directories",
        Errno::ENOENT => "newRoot or putOld does not exist",
        Errno::EPERM => {
            "pivot_root needs CAP_SYS_ADMIN in the user namespace that owns the caller's mount \
             namespace"
        }
        _ => return None,
    };
    Some(cause.into())
}

/// A mount() call, its arguments checked.
struct MountRequest {
    source: Option<String>,
    target: String,
    fstype: Option<String>,
    flags: u32,
    data: Option<String>,
}

/// A string argument as a message shows it: quoted, cut if long, or `null`.
fn shown(s: Option<&str>) -> String {
    s.map_or_else(|| "null".into(), |s| format!("{:?}", args::quote(s)))
}

fn mount_request(r: &MountRequest) -> Outcome<()> {
    // The flags are checked to be known bits, so widening them to unsigned long is exact.
    let flags = MsFlags::from_bits_retain(r.flags.into());
    nix::mount::mount(
        r.source.as_deref(),
        r.target.as_str(),
        r.fstype.as_deref(),
        flags,
        r.data.as_deref(),
    )
    .map_err(|errno| {
        let mut call = format!(
            "mount({}, {}, {}, {}",
            shown(r.source.as_deref()),
            shown(Some(&r.target)),
            shown(r.fstype.as_deref()),
            bit_names(MOUNT_FLAG_NAMES, r.flags)
        );
        if let Some(data) = &r.data {
            call.push_str(&format!(", {}", shown(Some(data))));
        }
        call.push(')');
        Failure::Sys {
            errno,
            syscall: "mount",
            call,
            cause: mount_cause(errno, r),
            path: r
                .source
                .clone()
                .filter(|_| r.flags & (MS_BIND | MS_MOVE) != 0),
            dest: Some(r.target.clone()),
        }
    })
}

/// Needs the capability, said once for mount and umount.
const NEEDS_CAP: &str = "needs CAP_SYS_ADMIN in the user namespace that owns the calling \
     thread's mount namespace: run as root, or as any user in a clone() callback with NEWUSER | \
     NEWNS (the user namespace must own the mount namespace, so both are new together)";

/// The likely cause of mount's `errno`, in words.
fn mount_cause(errno: Errno, r: &MountRequest) -> Option<String> {
    let target = &r.target;
    let source = r.source.as_deref().unwrap_or("");
    let fstype = r.fstype.as_deref().unwrap_or("");
    let flags = r.flags;
    let propagation = flags & MS_PROPAGATION;
    let cause = match errno {
        Errno::EPERM if flags & MS_REMOUNT != 0 => format!(
            "mounting {NEEDS_CAP}; and a mount that came from a more privileged user namespace \
             keeps its MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC and atime flags: a remount \
             may add them, not clear them"
        ),
        Errno::EPERM => format!(
            "mounting {NEEDS_CAP}; inside a user namespace only some filesystems may be mounted \
             (tmpfs, proc for a pid namespace it owns, sysfs for a network namespace it owns, \
             overlay, fuse, ...), and no block devices"
        ),
        Errno::EINVAL if flags & MS_REMOUNT != 0 && !is_mount_point(target) => format!(
            "MS_REMOUNT changes an existing mount, and {target} is not a mount point (mount \
             something there first, or bind-mount it onto itself)"
        ),
        Errno::EINVAL if flags & MS_REMOUNT != 0 && flags & MS_BIND == 0 => format!(
            "the filesystem at {target} refused the remount's options ({})",
            shown(r.data.as_deref())
        ),
        Errno::EINVAL if flags & MS_BIND != 0 => format!(
            "{source} cannot be bind-mounted: it is on an unbindable mount (MS_UNBINDABLE), or \
             in a mount namespace other than the calling thread's"
        ),
        Errno::EINVAL
            if propagation != 0
                && (propagation.count_ones() > 1
                    || flags & !(propagation | MS_REC | MS_SILENT) != 0) =>
        {
            format!(
                "a propagation change takes exactly one of MS_SHARED, MS_PRIVATE, MS_SLAVE and \
                 MS_UNBINDABLE, with MS_REC at most, not {}: make other changes with another \
                 mount() call",
                bit_names(MOUNT_FLAG_NAMES, flags)
            )
        }
        Errno::EINVAL if propagation != 0 => format!(
            "propagation belongs to mounts, and {target} is not a mount point (bind-mount it \
             onto itself first)"
        ),
        Errno::EINVAL if flags & MS_MOVE != 0 => format!(
            "MS_MOVE moves a mount: {source} must be a mount point, {target} must not lie \
             beneath it, and neither the mount {source} is on nor the one {target} is on may be \
             shared (make them private first)"
        ),
        Errno::EINVAL if r.fstype.is_none() => "a new mount needs fstype; to change an existing \
             mount, pass MS_REMOUNT, MS_BIND, MS_MOVE or a propagation flag"
            .into(),
        Errno::EINVAL => format!(
            "the {fstype} filesystem refused its options ({}) or its source ({})",
            shown(r.data.as_deref()),
            shown(r.source.as_deref())
        ),
        Errno::ENOENT if !exists(target) => format!("the target {target} does not exist"),
        Errno::ENOENT if !source.is_empty() && !exists(source) => {
            format!("the source {source} does not exist")
        }
        Errno::ENODEV => format!(
            "the filesystem type {} is not known to this kernel (/proc/filesystems lists those it \
             knows; its module may need loading)",
            shown(r.fstype.as_deref())
        ),
        Errno::ENOTBLK => format!("{fstype} mounts a block device, and {source} is not one"),
        Errno::ENOTDIR => format!(
            "{target} or a directory on a path is not a directory (a directory mounts on a \
             directory, a file on a file)"
        ),
        Errno::EBUSY if flags & MS_REMOUNT != 0 => {
            format!("{target} cannot become read-only while files on it are open for writing")
        }
        Errno::EBUSY => format!(
            "{source} is mounted already (a block device mounts once: bind-mount it instead), \
             or {target} is busy"
        ),
        Errno::ELOOP if flags & MS_MOVE != 0 => {
            format!("{target} lies beneath {source}: a mount cannot move beneath itself")
        }
        Errno::EROFS => format!("{source} is read-only: mount it with MS_RDONLY"),
        Errno::EACCES => format!(
            "a directory on a path is not searchable, or {source} is a block device on a mount \
             with MS_NODEV"
        ),
        _ => return None,
    };
    Some(cause)
}

fn umount_target(target: String, flags: u32) -> Outcome<()> {
    // The flags are checked to be known bits, all below 2^31.
    let mnt = MntFlags::from_bits_retain(flags as libc::c_int);
    nix::mount::umount2(target.as_str(), mnt).map_err(|errno| Failure::Sys {
        errno,
        syscall: "umount2",
        call: format!(
            "umount2({}, {})",
            shown(Some(&target)),
            bit_names(UMOUNT_FLAG_NAMES, flags)
        ),
        cause: umount_cause(errno, &target, flags),
        path: Some(target),
        dest: None,
    })
}

/// The likely cause of umount2's `errno`, in words.
fn umount_cause(errno: Errno, target: &str, flags: u32) -> Option<String> {
    let cause = match errno {
        Errno::EBUSY => format!(
            "{target} is still in use (an open file, a process's cwd or root, a mount beneath \
             it): end that use, or pass MNT_DETACH to detach it now and let the kernel free it \
             when its last user is gone"
        ),
        Errno::EINVAL if flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0 => {
            "MNT_EXPIRE cannot be combined with MNT_FORCE or MNT_DETACH".into()
        }
        Errno::EINVAL if !is_mount_point(target) => {
            format!("{target} is not a mount point (in the calling thread's mount namespace)")
        }
        Errno::EINVAL => format!(
            "the mount at {target} is locked: it came with its mount namespace from a more \
             privileged user namespace, and is unmounted only together with the mount above it"
        ),
        Errno::EAGAIN if flags & MNT_EXPIRE != 0 => "with MNT_EXPIRE, the first call marks the \
             mount expired; a second call unmounts it if nothing used it meanwhile"
            .into(),
        Errno::EPERM => format!("unmounting {NEEDS_CAP}"),
        Errno::ENOENT => format!("{target} does not exist"),
        _ => return None,
    };
    Some(cause)
}

/// Whether `path` exists (a dangling symbolic link does not).
fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

/// Whether `path` is the root of a mount in the calling thread's mount namespace, as its
/// mountinfo lists them. Only asked after a failure, to say which cause it was.
fn is_mount_point(path: &str) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/thread-self/mountinfo") else {
        return false;
    };
    let real = real.to_string_lossy();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|point| unescape_mountinfo(point) == real)
}

/// A mountinfo field with its octal escapes (`\040` for a space, ...) decoded.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(flags: u32) -> MountRequest {
        MountRequest {
            source: None,
            target: "/nonexistent/lc-target".into(),
            fstype: None,
            flags,
            data: None,
        }
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b\\011c"), "/a b\tc");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/end\\04"), "/end\\04");
    }

    #[test]
    fn the_root_is_a_mount_point_and_a_missing_path_is_not() {
        assert!(is_mount_point("/"));
        assert!(!is_mount_point("/nonexistent/lc-target"));
    }

    #[test]
    fn mount_einval_names_the_propagation_rule() {
        let m = mount_cause(Errno::EINVAL, &request(MS_PRIVATE | MS_SHARED)).unwrap_or_default();
        assert!(m.contains("exactly one of MS_SHARED"), "{m}");
        let m = mount_cause(Errno::EINVAL, &request(MS_PRIVATE | MS_NOSUID)).unwrap_or_default();
        assert!(m.contains("MS_PRIVATE|MS_NOSUID"), "{m}");
        let m = mount_cause(Errno::EINVAL, &request(MS_REC | MS_PRIVATE)).unwrap_or_default();
        assert!(m.contains("not a mount point"), "{m}");
    }

    #[test]
    fn mount_einval_says_remount_needs_a_mount_point() {
        let m = mount_cause(Errno::EINVAL, &request(MS_REMOUNT | MS_BIND | MS_RDONLY))
            .unwrap_or_default();
        assert!(
            m.contains("/nonexistent/lc-target is not a mount point"),
            "{m}"
        );
    }

    #[test]
    fn mount_eperm_names_the_capability_and_the_way_to_get_it() {
        let m = mount_cause(Errno::EPERM, &request(0)).unwrap_or_default();
        assert!(
            m.contains("CAP_SYS_ADMIN") && m.contains("NEWUSER | NEWNS"),
            "{m}"
        );
    }

    #[test]
    fn umount_causes() {
        let m = umount_cause(Errno::EBUSY, "/x", 0).unwrap_or_default();
        assert!(m.contains("MNT_DETACH"), "{m}");
        let m = umount_cause(Errno::EINVAL, "/x", MNT_EXPIRE | MNT_DETACH).unwrap_or_default();
        assert!(m.contains("MNT_EXPIRE cannot"), "{m}");
        let m = umount_cause(Errno::EINVAL, "/nonexistent/lc", 0).unwrap_or_default();
        assert!(m.contains("not a mount point"), "{m}");
    }
}
