//! The words for a failed confinement step (propagation, mount, rootfs, rlimit, capabilities,
//! umask, no_new_privs, reaper, seccomp): which call, on what, and the likely cause.

use nix::errno::Errno;

use super::child::{Phase, Step};
use super::tree::Tree;
use super::SpawnPlan;
use crate::errors::Failure;

/// Capability names by number, as capabilities(7) lists them.
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap_name(cap: u32) -> String {
    CAP_NAMES
        .get(cap as usize)
        .map_or_else(|| format!("capability {cap}"), |n| n.to_string())
}

/// A file made by an id the child's user namespace does not map would have no owner there.
fn unmapped() -> &'static str {
    "the child's uid or gid has no mapping in its user namespace, so nothing can be created: \
     give gidMap as well as uidMap"
}

fn mount_admin(plan: &SpawnPlan) -> String {
    if plan.namespaces & libc::CLONE_NEWUSER as u32 != 0 {
        "mounting needs CAP_SYS_ADMIN over the user namespace that owns the child's mount \
         namespace, which the child's new user namespace gives unless a joined namespace \
         (join) is owned by another"
            .into()
    } else {
        "mounting needs CAP_SYS_ADMIN over the user namespace that owns the child's mount \
         namespace: add 'user' to namespaces (with uidMap) when this process is not root"
            .into()
    }
}

/// A failure at one of the confinement steps; None for the other steps.
pub fn describe(
    plan: &SpawnPlan,
    tree: &Tree,
    step: Step,
    index: u32,
    detail: u32,
    errno: Errno,
) -> Option<Failure> {
    let mut path = None;
    let mut index_out = Some(index);
    let (syscall, call, cause): (&'static str, String, Option<String>) = match step {
        Step::Propagation => {
            index_out = None;
            let how = plan.propagation.clone().unwrap_or_default();
            (
                "mount",
                format!("mount(NULL, '/', NULL, MS_REC|MS_{})", how.to_uppercase()),
                Some(match errno {
                    Errno::EPERM => mount_admin(plan),
                    Errno::EINVAL if index == 1 => format!(
                        "this process's root is not a mount point (a chroot), so the mount \
                         around it cannot be made {how} from here, and mounts made in the child \
                         could appear outside it: run from a root that is a mount point, or, \
                         if the mounts around the chroot are private already (as `unshare \
                         --mount --propagation private` makes them), say so with propagation: \
                         'unchanged'"
                    ),
                    _ => format!("the mounts could not be made {how}"),
                }),
            )
        }
        Step::Mount => {
            let op = (detail >> 4) as usize;
            let phase = Phase::from_u32(detail & 0xf);
            let info = tree.info.get(op);
            let target = info.map_or_else(String::new, |i| i.target.clone());
            let source = info.and_then(|i| i.source.clone()).unwrap_or_default();
            let what = info.map_or("mount", |i| i.what);
            let flags = info.map_or("", |i| i.flags);
            path = Some(target.clone());
            let entry = plan
                .mounts
                .as_ref()
                .and_then(|m| m.get(index as usize))
                .map_or("mount", |m| m.kind.as_str());
            let of_entry = if what == entry {
                String::new()
            } else {
                format!(" (part of the {entry} entry)")
            };
            match phase {
                Some(Phase::Source) => (
                    "statx",
                    format!("statx({source:?})"),
                    Some(match errno {
                        Errno::ENOENT => format!(
                            "the bind source {source} does not exist (optional: true skips a \
                             missing source){of_entry}"
                        ),
                        Errno::EACCES => format!("the bind source {source} may not be reached"),
                        _ => format!("the bind source {source} could not be read{of_entry}"),
                    }),
                ),
                Some(Phase::Host) => (
                    "mkdir",
                    format!("mkdir({target:?})"),
                    Some(format!(
                        "{target} does not exist, and creating it would leave it on the host's \
                         filesystem (nothing is created there): mount a tmpfs on a directory \
                         above it first, or use rootfs: 'tmpfs'{of_entry}"
                    )),
                ),
                Some(Phase::Create) => (
                    "mkdir",
                    format!("mkdir({target:?})"),
                    Some(match errno {
                        Errno::EROFS => format!(
                            "a directory above {target} is read-only: create it before the \
                             entry that makes it read-only"
                        ),
                        Errno::ENOTDIR => format!("a part of {target} is not a directory"),
                        Errno::EEXIST => format!("{target} exists as something else"),
                        Errno::EOVERFLOW => unmapped().into(),
                        _ => format!("{target} could not be created{of_entry}"),
                    }),
                ),
                Some(Phase::Setattr) => (
                    "mount_setattr",
                    format!("mount_setattr({target:?})"),
                    Some(match errno {
                        Errno::EPERM => mount_admin(plan),
                        Errno::EINVAL => format!("{target} is not a mount point"),
                        _ => format!("the mount at {target} could not be changed{of_entry}"),
                    }),
                ),
                Some(Phase::Symlink) => {
                    let to = source;
                    (
                        "symlink",
                        format!("symlink({to:?}, {target:?})"),
                        Some(match errno {
                            Errno::EEXIST => {
                                format!("{target} exists and is not a symlink to {to}")
                            }
                            _ => format!("the symlink {target} could not be made{of_entry}"),
                        }),
                    )
                }
                Some(Phase::Chmod) if what == "chmod" => (
                    "fchmodat",
                    format!("fchmodat({target:?})"),
                    Some(match errno {
                        Errno::ENOENT => {
                            format!("{target} does not exist (chmod changes only an existing path)")
                        }
                        Errno::EROFS => format!(
                            "{target} is on a read-only mount: put the chmod entry before the \
                             entry that makes it read-only"
                        ),
                        Errno::EPERM => {
                            format!("{target} is not owned by the program's user, nor mapped to it")
                        }
                        _ => format!("the mode of {target} could not be changed"),
                    }),
                ),
                Some(Phase::Write) | Some(Phase::Chmod) => (
                    "write",
                    format!("write({target:?} content)"),
                    Some(match errno {
                        Errno::EOVERFLOW => unmapped().into(),
                        _ => format!("the content of {target} could not be written{of_entry}"),
                    }),
                ),
                _ => {
                    let call = match what {
                        "bind" => format!("mount({source:?}, {target:?}, NULL, {flags})"),
                        "file" => format!("mount(<data>, {target:?}, NULL, {flags})"),
                        _ => format!("mount({what:?}, {target:?}, {what:?}, {flags})"),
                    };
                    let cause = match errno {
                        Errno::EPERM if what == "proc" => format!(
                            "a procfs needs CAP_SYS_ADMIN over the user namespace that owns the \
                             pid namespace: add 'pid' to namespaces{of_entry}"
                        ),
                        Errno::EPERM if what == "mqueue" => "an mqueue filesystem needs \
                            CAP_SYS_ADMIN over the user namespace that owns the IPC namespace: \
                            add 'ipc' to namespaces"
                            .into(),
                        Errno::EPERM => mount_admin(plan),
                        Errno::ENOENT if what == "overlay" => format!(
                            "a lower, upper or work directory of the overlay at {target} does \
                             not exist"
                        ),
                        Errno::ENOENT => format!("{target} does not exist"),
                        Errno::ENOTDIR => format!(
                            "{target} and its source must both be directories or both files"
                        ),
                        Errno::EINVAL if what == "overlay" => format!(
                            "the kernel refused the overlay at {target}: its lower directories \
                             must exist (two at least without an upper one), the upper and work \
                             directories must be on the same filesystem, and none of them may \
                             overlap another overlay in use"
                        ),
                        Errno::ENODEV => {
                            format!("this kernel has no {what} filesystem{of_entry}")
                        }
                        Errno::EINVAL => format!(
                            "the kernel refused the {what} mount at {target} (a source that is \
                             unbindable, or not in this mount namespace){of_entry}"
                        ),
                        _ => format!("the {what} mount at {target} failed{of_entry}"),
                    };
                    ("mount", call, Some(cause))
                }
            }
        }
        Step::Rootfs => {
            let root = plan.rootfs.clone().unwrap_or_else(|| "/".into());
            // 'tmpfs' is no path.
            path = (root != "tmpfs").then(|| root.clone());
            let (syscall, call) = match index {
                0 => ("mount", "mount('tmpfs', <build root>)".to_string()),
                1 => ("mkdir", "mkdir(<build root>/newroot, oldroot)".into()),
                2 | 5 => ("pivot_root", "pivot_root()".into()),
                3 => (
                    "mount",
                    format!("mount({root:?}, '/newroot', MS_BIND|MS_REC)"),
                ),
                _ => ("umount2", "umount2(<old root>, MNT_DETACH)".into()),
            };
            let cause = match (index, errno) {
                (_, Errno::EPERM) => mount_admin(plan),
                (3, Errno::ENOENT) => format!("the rootfs directory {root} does not exist"),
                (3, Errno::ENOTDIR) => format!("the rootfs {root} is not a directory"),
                (_, Errno::EOVERFLOW) => unmapped().into(),
                (2 | 5, Errno::EINVAL) => "pivot_root refused: the mounts are shared with \
                    another namespace, or this process's root is not a mount point (a chroot, \
                    which pivot_root cannot leave) or is the initramfs (switch_root out of it \
                    first)"
                    .into(),
                _ => "the new root could not be built".into(),
            };
            index_out = None;
            (syscall, call, Some(cause))
        }
        Step::Rlimit => {
            let r = plan.rlimits.as_ref().and_then(|l| l.get(index as usize));
            let name = r.map_or_else(|| "?".into(), |r| r.name.clone());
            let shown = |v: f64| {
                if v < 0.0 {
                    "unlimited".to_string()
                } else {
                    format!("{v}")
                }
            };
            let soft = r.map_or(0.0, |r| r.soft);
            let hard = r.and_then(|r| r.hard);
            (
                "prlimit64",
                format!(
                    "prlimit64({name}, {{ soft: {}, hard: {} }})",
                    shown(soft),
                    hard.map_or_else(|| "(unchanged)".into(), shown)
                ),
                Some(match errno {
                    Errno::EPERM => format!(
                        "raising the hard limit of {name} needs CAP_SYS_RESOURCE in the initial \
                         user namespace"
                    ),
                    Errno::EINVAL => {
                        format!("the soft limit of {name} is above its hard limit")
                    }
                    _ => format!("the kernel refused the limit on {name}"),
                }),
            )
        }
        Step::Capabilities => {
            index_out = None;
            match index {
                0 => (
                    "prctl",
                    format!("prctl(PR_CAPBSET_DROP, {})", cap_name(detail)),
                    Some(match errno {
                        Errno::EPERM => "dropping from the bounding set needs CAP_SETPCAP: \
                                         add 'user' to namespaces, or run as root"
                            .into(),
                        _ => format!("{} could not be dropped", cap_name(detail)),
                    }),
                ),
                1 => ("prctl", "prctl(PR_SET_KEEPCAPS, 1)".into(), None),
                2 => (
                    "capset",
                    "capset(keep)".into(),
                    Some(match errno {
                        Errno::EPERM => "capabilities.keep names a capability the child does not \
                                         have (in its user namespace): add 'user' to namespaces, \
                                         or keep fewer"
                            .into(),
                        _ => "the kernel refused the capability sets".into(),
                    }),
                ),
                _ => (
                    "prctl",
                    format!("prctl(PR_CAP_AMBIENT_RAISE, {})", cap_name(detail)),
                    Some(match errno {
                        Errno::EPERM => format!(
                            "an ambient capability must be permitted and inheritable: add {} \
                             to capabilities.keep",
                            cap_name(detail)
                        ),
                        _ => format!("{} could not be made ambient", cap_name(detail)),
                    }),
                ),
            }
        }
        Step::Umask => {
            index_out = None;
            (
                "umask",
                format!("umask({:o})", plan.umask.unwrap_or(0)),
                None,
            )
        }
        Step::NoNewPrivs => {
            index_out = None;
            ("prctl", "prctl(PR_SET_NO_NEW_PRIVS, 1)".into(), None)
        }
        Step::Landlock => {
            let rule = plan
                .landlock
                .as_ref()
                .and_then(|l| l.paths.get(index as usize));
            match (detail, rule) {
                (0, Some(rule)) => {
                    path = Some(rule.path.clone());
                    (
                        "open",
                        format!("open('{}', O_PATH)", rule.path),
                        Some(crate::landlock::path_cause(errno)),
                    )
                }
                (1, Some(rule)) => {
                    path = Some(rule.path.clone());
                    (
                        "landlock_add_rule",
                        format!("landlock_add_rule(PATH_BENEATH, '{}')", rule.path),
                        Some(crate::landlock::add_rule_cause(errno)),
                    )
                }
                _ => {
                    index_out = None;
                    (
                        "landlock_restrict_self",
                        "landlock_restrict_self()".into(),
                        Some(crate::landlock::restrict_cause(errno)),
                    )
                }
            }
        }
        Step::Reaper => {
            index_out = None;
            (
                "clone",
                "clone(VM|VFORK) (the program under the reaper)".into(),
                Some(match errno {
                    Errno::EAGAIN => "the process limit (RLIMIT_NPROC) was reached".into(),
                    _ => "the reaper could not start the program".into(),
                }),
            )
        }
        Step::Seccomp if index == 1 => {
            index_out = None;
            (
                "seccomp",
                "seccomp(SECCOMP_SET_MODE_FILTER, the filter refusing TIOCSTI)".into(),
                Some(
                    "the kernel refused the filter that keeps the program from pushing input into a terminal (tiocsti: 'allow' leaves it out)"
                        .into(),
                ),
            )
        }
        Step::Seccomp => {
            index_out = None;
            let n = plan.seccomp.as_ref().map_or(0, |s| s.len() / 8);
            (
                "seccomp",
                format!("seccomp(SECCOMP_SET_MODE_FILTER, {n} instructions)"),
                Some(match errno {
                    Errno::EINVAL => "the kernel's verifier refused the program: not a valid \
                                      classic BPF filter (every path must end in a return, \
                                      jumps must stay inside, at most 4096 instructions)"
                        .into(),
                    Errno::EACCES => "a filter needs CAP_SYS_ADMIN or no_new_privs".into(),
                    Errno::ENOMEM => "the filters of this process add up to more than the \
                                      kernel allows (32768 instructions)"
                        .into(),
                    _ => "the kernel refused the filter".into(),
                }),
            )
        }
        _ => return None,
    };
    Some(Failure::Spawn {
        errno,
        step: step.name(),
        index: index_out,
        syscall,
        call,
        cause,
        path,
    })
}
