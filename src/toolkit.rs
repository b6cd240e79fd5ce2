//! The native half of the namespace toolkit (lib/toolkit.ts): opening a namespace by path, pid
//! or pidfd, its identity (type, dev, ino) from an fd, and iproute2's named network namespaces.
//!
//! Nothing here changes the namespaces of a Node thread: a new network namespace for
//! `netnsAdd()` is made by a short-lived thread of our own, which ends right after the bind
//! mount.

use std::ffi::CString;
use std::os::fd::RawFd;

use napi::bindgen_prelude::{BigInt, JsObjectValue, Object, ValueType};
use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::args;
use crate::errors::{to_js, Failure, Outcome};
use crate::flags::*;
use crate::namespaces::{ns_get_nstype, ns_get_owner_uid, ns_get_parent, ns_get_userns};
use crate::pidfd::open_pidfd;

/// `code` of a file that is not a namespace.
pub const NOT_A_NAMESPACE: &str = "ERR_NOT_A_NAMESPACE";
/// `code` of a namespace of another type than the one asked for.
pub const WRONG_NAMESPACE_TYPE: &str = "ERR_NAMESPACE_TYPE_MISMATCH";

/// Where iproute2 keeps named network namespaces (its NETNS_RUN_DIR).
const NETNS_DIR: &str = "/run/netns";
const PID_MAX: i64 = i32::MAX as i64;

/// PIDFD_GET_<TYPE>_NAMESPACE is _IO(0xFF, nr) (Linux 6.11+).
const PIDFS_IOCTL_MAGIC: u64 = 0xFF;

/// Each type as /proc/PID/ns names it, its NEW* flag, and its PIDFD_GET_*_NAMESPACE number.
const TYPES: [(&str, u32, u64); 8] = [
    ("user", NEWUSER, 9),
    ("mnt", NEWNS, 3),
    ("pid", NEWPID, 5),
    ("net", NEWNET, 4),
    ("uts", NEWUTS, 10),
    ("ipc", NEWIPC, 2),
    ("cgroup", NEWCGROUP, 1),
    ("time", NEWTIME, 7),
];
const TYPE_LIST: &str = "'user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup' or 'time'";

/// What a namespace fd refers to: its type and its identity, the (dev, ino) of its nsfs inode.
#[napi(object)]
pub struct NsStat {
    #[napi(ts_type = "'user' | 'mnt' | 'pid' | 'net' | 'uts' | 'ipc' | 'cgroup' | 'time'")]
    pub r#type: String,
    pub dev: BigInt,
    pub ino: BigInt,
}

/// A namespace's identity: the device and inode of its nsfs file.
#[napi(object)]
pub struct NsId {
    pub dev: BigInt,
    pub ino: BigInt,
}

/// One namespace that processes are in, as `listNamespaces()` reports it.
#[napi(object)]
pub struct NsListed {
    #[napi(ts_type = "'user' | 'mnt' | 'pid' | 'net' | 'uts' | 'ipc' | 'cgroup' | 'time'")]
    pub r#type: String,
    pub id: NsId,
    pub nprocs: u32,
    pub pids: Vec<u32>,
    pub owner_uid: Option<u32>,
    pub user_namespace_id: Option<NsId>,
    pub parent_id: Option<NsId>,
}

/// Every namespace a process visible in /proc is in (of `type` only, if given), with the pids
/// in it (lowest first), the uid that created the user namespace owning it (for a user
/// namespace, its own), that user namespace and, for pid and user namespaces, the parent; the
/// last three are left out where they lie beyond the caller's user namespace. The
/// `listNamespaces()` function returns this.
#[napi(ts_args_type = "type?: 'user' | 'mnt' | 'pid' | 'net' | 'uts' | 'ipc' | 'cgroup' | 'time'")]
pub fn ns_list(env: Env, r#type: Unknown) -> napi::Result<Vec<NsListed>> {
    to_js(&env, opt_type(&r#type).and_then(list))
}

/// Opens a namespace and returns a close-on-exec fd for it (close it with `fs.closeSync`); the
/// `openNamespace()` handle wraps this.
///
/// `target` is a pid (with `type`: through the PIDFD_GET_*_NAMESPACE ioctls where the kernel
/// has them, Linux 6.11+, else /proc/PID/ns/TYPE, checked against pid reuse), `{ pidfd }` (the
/// same, for a process held by a pidfd) or a path (a /proc/PID/ns link, or a bind mount of one
/// such as /run/netns/NAME: its type is read from the file and checked against `type` if given).
#[napi(
    ts_args_type = "target: number | string | { readonly pidfd: number }, type?: 'user' | 'mnt' | 'pid' | 'net' | 'uts' | 'ipc' | 'cgroup' | 'time'"
)]
pub fn ns_open(env: Env, target: Unknown, r#type: Unknown) -> napi::Result<i32> {
    to_js(&env, open_target(&target, &r#type))
}

/// The type and identity (dev, ino) of the namespace behind `fd`: fstat(2) and NS_GET_NSTYPE.
#[napi(ts_args_type = "fd: number | { readonly fd: number }")]
pub fn ns_stat(env: Env, fd: Unknown) -> napi::Result<NsStat> {
    to_js(&env, args::fd(&fd, "fd").and_then(stat_fd))
}

/// Creates a network namespace named `name` as `ip netns add NAME` does: a bind mount of it on
/// /run/netns/NAME, with /run/netns made a shared mount point bound on itself, so that
/// `ip netns exec NAME ...` finds it and a mount namespace made later sees its removal.
#[napi(ts_args_type = "name: string")]
pub fn netns_add(env: Env, name: Unknown) -> napi::Result<()> {
    to_js(&env, netns_name(&name).and_then(|name| add_netns(&name)))
}

/// Removes the network namespace named `name` as `ip netns delete NAME` does: detaches the bind
/// mount on /run/netns/NAME and removes the file. The namespace itself lives on while a process
/// is in it or an fd refers to it.
#[napi(ts_args_type = "name: string")]
pub fn netns_delete(env: Env, name: Unknown) -> napi::Result<()> {
    to_js(&env, netns_name(&name).and_then(|name| delete_netns(&name)))
}

fn type_named(name: &str) -> Option<(&'static str, u32, u64)> {
    TYPES.iter().copied().find(|(n, _, _)| *n == name)
}

fn type_of_flag(flag: u32) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(_, f, _)| *f == flag)
        .map(|(n, _, _)| *n)
}

/// The optional `type` argument: undefined, or one of the type names.
fn opt_type(value: &Unknown) -> Outcome<Option<(&'static str, u32, u64)>> {
    if args::is_undefined(value) {
        return Ok(None);
    }
    let bad = || {
        Failure::ArgValue(format!(
            "The argument 'type' must be one of {TYPE_LIST}. {}",
            args::received(value)
        ))
    };
    if value.get_type().ok() != Some(ValueType::String) {
        return Err(Failure::ArgType(format!(
            "The \"type\" argument must be of type string. {}",
            args::received(value)
        )));
    }
    // SAFETY: the type was checked just above.
    let name = unsafe { value.cast::<String>() }.map_err(|_| bad())?;
    type_named(&name).map(Some).ok_or_else(bad)
}

enum Target {
    Pid(i64),
    Pidfd(i32),
    Path(String),
}

fn target_of(value: &Unknown) -> Outcome<Target> {
    match value.get_type() {
        Ok(ValueType::Number) => Ok(Target::Pid(args::integer(value, "target", 1, PID_MAX)?)),
        Ok(ValueType::String) => Ok(Target::Path(args::path(value, "target")?)),
        Ok(ValueType::Object) => {
            // SAFETY: the type was checked just above.
            let obj = unsafe { value.cast::<Object>() }.map_err(|_| target_type_error(value))?;
            match obj.get_named_property::<Unknown>("pidfd") {
                Ok(pidfd) if pidfd.get_type().ok() == Some(ValueType::Number) => Ok(Target::Pidfd(
                    args::integer(&pidfd, "target.pidfd", 0, i32::MAX.into())? as i32,
                )),
                _ => Err(target_type_error(value)),
            }
        }
        _ => Err(target_type_error(value)),
    }
}

fn target_type_error(value: &Unknown) -> Failure {
    Failure::ArgType(format!(
        "The \"target\" argument must be of type number (a pid), string (a path) or an object \
         with a numeric pidfd. {}",
        args::received(value)
    ))
}

fn open_target(target: &Unknown, kind: &Unknown) -> Outcome<i32> {
    let target = target_of(target)?;
    let kind = opt_type(kind)?;
    let needs_type = || {
        Failure::ArgType(
            "The \"type\" argument must be of type string when the target is a process: \
             one of 'user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup' or 'time'. Received \
             undefined"
                .into(),
        )
    };
    match target {
        Target::Path(path) => open_path(&path, kind.map(|(_, flag, _)| flag)),
        Target::Pidfd(pidfd) => open_of_pidfd(pidfd, kind.ok_or_else(needs_type)?),
        Target::Pid(pid) => {
            let kind = kind.ok_or_else(needs_type)?;
            let pidfd = open_pidfd(pid)?;
            let fd = open_of_pidfd(pidfd, kind);
            close(pidfd);
            fd
        }
    }
}

fn close(fd: RawFd) {
    // SAFETY: fd is one this module opened and still owns; an error leaves nothing to undo.
    unsafe { libc::close(fd) };
}

/// The NEW* flag of the namespace behind `fd`, or why it is none.
fn nstype(fd: RawFd) -> Result<u32, Errno> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    unsafe { ns_get_nstype(fd) }.map(|t| t as u32)
}

fn open_path(path: &str, want: Option<u32>) -> Outcome<i32> {
    let sys = |errno: Errno, cause: Option<String>| Failure::Sys {
        errno,
        syscall: "open",
        call: format!("open({path:?})"),
        cause,
        path: Some(path.to_string()),
        dest: None,
    };
    let c_path = CString::new(path).map_err(|_| sys(Errno::EINVAL, None))?;
    // NONBLOCK: a FIFO given by mistake must not hang the open; nsfs ignores the flag.
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
    // SAFETY: c_path is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(c_path.as_ptr(), flags) };
    if fd < 0 {
        let errno = Errno::last();
        let cause = match errno {
            Errno::ENOENT => Some(format!("there is no file {path}")),
            Errno::EACCES => Some(
                "a namespace of another user's process needs ptrace read access to it (the \
                 same user, or CAP_SYS_PTRACE)"
                    .into(),
            ),
            _ => None,
        };
        return Err(sys(errno, cause));
    }
    match check_type(fd, &format!("{path:?}"), want) {
        Ok(()) => Ok(fd),
        Err(f) => {
            close(fd);
            Err(f)
        }
    }
}

/// Fails unless `fd` is a namespace, of type `want` if given.
fn check_type(fd: RawFd, what: &str, want: Option<u32>) -> Outcome<()> {
    let found = nstype(fd).map_err(|errno| not_a_namespace(what, errno))?;
    match want {
        Some(want) if want != found => Err(Failure::State {
            code: WRONG_NAMESPACE_TYPE,
            message: format!(
                "{what} is a {} namespace, not a {} namespace",
                type_of_flag(found).unwrap_or("unknown"),
                type_of_flag(want).unwrap_or("unknown")
            ),
        }),
        _ => Ok(()),
    }
}

fn not_a_namespace(what: &str, errno: Errno) -> Failure {
    Failure::State {
        code: NOT_A_NAMESPACE,
        message: format!(
            "{what} is not a namespace (NS_GET_NSTYPE: {}): a namespace file is \
             /proc/PID/ns/TYPE or a bind mount of one, such as /run/netns/NAME",
            crate::errors::errno_code(errno)
        ),
    }
}

fn open_of_pidfd(pidfd: RawFd, (name, _, nr): (&'static str, u32, u64)) -> Outcome<i32> {
    let request = (PIDFS_IOCTL_MAGIC << 8) | nr;
    // SAFETY: PIDFD_GET_*_NAMESPACE takes no argument (0) and returns a new fd or an error.
    let rc = unsafe { libc::ioctl(pidfd, request as _, 0) };
    if rc >= 0 {
        set_cloexec(rc);
        return Ok(rc);
    }
    let errno = Errno::last();
    match errno {
        // Kernels before 6.11 do not know the request (ENOTTY); a kernel built without the type
        // says EOPNOTSUPP, older ones EINVAL: /proc says the same or says it better.
        Errno::ENOTTY | Errno::EINVAL | Errno::EOPNOTSUPP => open_by_proc(pidfd, name),
        _ => Err(Failure::sys(
            errno,
            "ioctl",
            format!(
                "ioctl({pidfd}, PIDFD_GET_{}_NAMESPACE)",
                name.to_uppercase()
            ),
            pidfd_cause(pidfd, errno),
        )),
    }
}

fn pidfd_cause(pidfd: RawFd, errno: Errno) -> Option<String> {
    Some(match errno {
        Errno::EBADF => format!("{pidfd} is not an open file descriptor"),
        Errno::ESRCH => format!("the process behind pidfd {pidfd} has exited"),
        Errno::EACCES | Errno::EPERM => "opening another process's namespace needs ptrace read \
             access to it (the same user, or CAP_SYS_PTRACE)"
            .into(),
        _ => return None,
    })
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: F_SETFD only changes the fd's close-on-exec flag.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// The /proc fallback: the pid behind the pidfd from fdinfo, its /proc/PID/ns/TYPE, then a check
/// that the pidfd's process still lives, so that a reused pid cannot have answered.
fn open_by_proc(pidfd: RawFd, name: &str) -> Outcome<i32> {
    let call = format!("open(/proc/PID/ns/{name} of pidfd {pidfd})");
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{pidfd}")).map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF));
        Failure::sys(errno, "open", call.clone(), pidfd_cause(pidfd, errno))
    })?;
    let pid = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse::<i64>().ok());
    let pid = match pid {
        Some(pid) if pid > 0 => pid,
        Some(_) => {
            return Err(Failure::sys(
                Errno::ESRCH,
                "open",
                call,
                Some(format!(
                    "the process behind pidfd {pidfd} has exited or is not visible in this pid \
                     namespace"
                )),
            ))
        }
        None => {
            return Err(Failure::sys(
                Errno::EINVAL,
                "open",
                call,
                Some(format!("fd {pidfd} is not a pidfd")),
            ))
        }
    };
    let fd = open_path(&format!("/proc/{pid}/ns/{name}"), None)?;
    // SAFETY: pidfd_send_signal with signal 0 only checks that the process exists.
    let alive = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, 0, 0, 0) };
    if alive < 0 && Errno::last() == Errno::ESRCH {
        close(fd);
        return Err(Failure::sys(
            Errno::ESRCH,
            "open",
            call,
            pidfd_cause(pidfd, Errno::ESRCH),
        ));
    }
    Ok(fd)
}

fn stat_fd(fd: RawFd) -> Outcome<NsStat> {
    // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one struct stat into `st`; a wrong fd is an error.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        let errno = Errno::last();
        let cause = (errno == Errno::EBADF).then(|| format!("{fd} is not an open file descriptor"));
        return Err(Failure::sys(errno, "fstat", format!("fstat({fd})"), cause));
    }
    let found = nstype(fd).map_err(|errno| not_a_namespace(&format!("fd {fd}"), errno))?;
    Ok(NsStat {
        r#type: type_of_flag(found).unwrap_or("unknown").to_string(),
        dev: BigInt::from(st.st_dev),
        ino: BigInt::from(st.st_ino),
    })
}

fn id(dev: u64, ino: u64) -> NsId {
    NsId {
        dev: BigInt::from(dev),
        ino: BigInt::from(ino),
    }
}

fn list(only: Option<(&'static str, u32, u64)>) -> Outcome<Vec<NsListed>> {
    let types: Vec<&'static str> = match only {
        Some((name, _, _)) => vec![name],
        None => TYPES.iter().map(|(n, _, _)| *n).collect(),
    };
    let proc_dir = std::fs::read_dir("/proc").map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        Failure::sys(errno, "open", "open(\"/proc\")".into(), None)
    })?;
    // (type, dev, ino) -> pids, in the order first seen.
    let mut index: std::collections::HashMap<(u64, u64), usize> = std::collections::HashMap::new();
    let mut found: Vec<(&'static str, u64, u64, Vec<u32>)> = Vec::new();
    for entry in proc_dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        for &name in &types {
            // Gone meanwhile, or not ours to look at (ptrace access): skipped, as lsns does.
            let Ok(st) = nix::sys::stat::stat(format!("/proc/{pid}/ns/{name}").as_str()) else {
                continue;
            };
            let key = (st.st_dev, st.st_ino);
            match index.get(&key) {
                Some(&i) => found[i].3.push(pid),
                None => {
                    index.insert(key, found.len());
                    found.push((name, st.st_dev, st.st_ino, vec![pid]));
                }
            }
        }
    }
    let mut listed = Vec::with_capacity(found.len());
    for (name, dev, ino, mut pids) in found {
        pids.sort_unstable();
        // Every process in it may have ended since.
        let Some(fd) = open_one(name, dev, ino, &pids) else {
            continue;
        };
        let (owner_uid, user_namespace_id, parent_id) = relations(fd, name);
        close(fd);
        listed.push(NsListed {
            r#type: name.to_string(),
            id: id(dev, ino),
            nprocs: pids.len() as u32,
            pids,
            owner_uid,
            user_namespace_id,
            parent_id,
        });
    }
    Ok(listed)
}

fn fstat_id(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one struct stat into `st`.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// An fd of the namespace (dev, ino) through the first of `pids` still in it.
fn open_one(name: &str, dev: u64, ino: u64, pids: &[u32]) -> Option<RawFd> {
    for pid in pids {
        let Ok(path) = CString::new(format!("/proc/{pid}/ns/{name}")) else {
            continue;
        };
        // SAFETY: path is a NUL-terminated string that outlives the call.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            continue;
        }
        if fstat_id(fd) == Some((dev, ino)) {
            return Some(fd);
        }
        close(fd); // the pid now belongs to a process elsewhere
    }
    None
}

/// The owner uid, owning user namespace and parent of the namespace behind `fd`; each None
/// where the kernel says EPERM (beyond the caller's user namespace) or the type has none.
fn relations(fd: RawFd, name: &str) -> (Option<u32>, Option<NsId>, Option<NsId>) {
    let owner_uid_of = |fd: RawFd| {
        let mut uid: libc::uid_t = 0;
        // SAFETY: NS_GET_OWNER_UID writes one uid_t into `uid`.
        unsafe { ns_get_owner_uid(fd, &mut uid) }.ok().map(|_| uid)
    };
    // SAFETY: NS_GET_USERNS takes no argument and returns a new fd or an error.
    let owner = unsafe { ns_get_userns(fd) }.ok();
    let user_namespace_id = owner.and_then(fstat_id).map(|(d, i)| id(d, i));
    let owner_uid = if name == "user" {
        owner_uid_of(fd)
    } else {
        owner.and_then(owner_uid_of)
    };
    if let Some(owner) = owner {
        close(owner);
    }
    let parent_id = if name == "pid" || name == "user" {
        // SAFETY: NS_GET_PARENT takes no argument and returns a new fd or an error.
        unsafe { ns_get_parent(fd) }.ok().and_then(|parent| {
            let found = fstat_id(parent);
            close(parent);
            found.map(|(d, i)| id(d, i))
        })
    } else {
        None
    };
    (owner_uid, user_namespace_id, parent_id)
}

/// A netns name: a file name iproute2 would accept.
fn netns_name(value: &Unknown) -> Outcome<String> {
    let name = args::path(value, "name")?;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.len() > 255 {
        return Err(Failure::ArgValue(format!(
            "The argument 'name' must be a file name (not empty, '.' or '..', no '/', at most \
             255 bytes). Received {name:?}"
        )));
    }
    Ok(name)
}

fn mount_failure(errno: Errno, call: String, path: &str) -> Failure {
    let cause = match errno {
        Errno::EPERM => Some("mounting needs CAP_SYS_ADMIN (run as root)".into()),
        _ => None,
    };
    Failure::Sys {
        errno,
        syscall: "mount",
        call,
        cause,
        path: Some(path.to_string()),
        dest: None,
    }
}

/// /run/netns as `ip netns add` leaves it: a directory that is a shared mount point, bound on
/// itself if it was none, so that netns bind mounts propagate to mount namespaces made later
/// and their removal reaches those too.
fn shared_netns_dir() -> Outcome<()> {
    match nix::unistd::mkdir(NETNS_DIR, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => {
            return Err(Failure::Sys {
                errno,
                syscall: "mkdir",
                call: format!("mkdir({NETNS_DIR:?})"),
                cause: None,
                path: Some(NETNS_DIR.into()),
                dest: None,
            })
        }
    }
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    let mut bound = false;
    loop {
        match mount(None::<&str>, NETNS_DIR, None::<&str>, shared, None::<&str>) {
            Ok(()) => return Ok(()),
            // EINVAL: not a mount point yet; bind it on itself once, then share it.
            Err(Errno::EINVAL) if !bound => {
                let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some(NETNS_DIR), NETNS_DIR, None::<&str>, bind, None::<&str>).map_err(
                    |e| {
                        mount_failure(
                            e,
                            format!("mount({NETNS_DIR:?}, {NETNS_DIR:?}, MS_BIND|MS_REC)"),
                            NETNS_DIR,
                        )
                    },
                )?;
                bound = true;
            }
            Err(e) => {
                return Err(mount_failure(
                    e,
                    format!("mount({NETNS_DIR:?}, MS_SHARED|MS_REC)"),
                    NETNS_DIR,
                ))
            }
        }
    }
}

fn add_netns(name: &str) -> Outcome<()> {
    shared_netns_dir()?;
    let path = format!("{NETNS_DIR}/{name}");
    let c_path = CString::new(path.as_str()).map_err(|_| Failure::ArgValue(path.clone()))?;
    // SAFETY: c_path is a NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::open(
            c_path.as_ptr(),
            libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        let errno = Errno::last();
        let cause = (errno == Errno::EEXIST)
            .then(|| format!("a network namespace named {name:?} exists already ({path})"));
        return Err(Failure::Sys {
            errno,
            syscall: "open",
            call: format!("open({path:?}, O_CREAT|O_EXCL)"),
            cause,
            path: Some(path),
            dest: None,
        });
    }
    close(fd);
    // A thread of our own makes the namespace and ends: no thread of Node's changes.
    let target = path.clone();
    let made = std::thread::spawn(move || -> Outcome<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            Failure::sys(
                e,
                "unshare",
                "unshare(NEWNET)".into(),
                crate::namespaces::unshare_cause(NEWNET, e),
            )
        })?;
        let source = "/proc/thread-self/ns/net";
        mount(
            Some(source),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            mount_failure(
                e,
                format!("mount({source:?}, {target:?}, MS_BIND)"),
                &target,
            )
        })
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Failure::State {
            code: "ERR_INTERNAL_ASSERTION",
            message: "the thread that makes the network namespace panicked".into(),
        })
    });
    if made.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    made
}

fn delete_netns(name: &str) -> Outcome<()> {
    let path = format!("{NETNS_DIR}/{name}");
    // EINVAL: not mounted (a stale file); removing it is what is left to do, as in iproute2.
    match umount2(path.as_str(), MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(Errno::ENOENT) => return Err(no_such_netns(name, &path, "umount2")),
        Err(errno) => {
            let cause = (errno == Errno::EPERM)
                .then(|| "unmounting needs CAP_SYS_ADMIN (run as root)".to_string());
            return Err(Failure::Sys {
                errno,
                syscall: "umount2",
                call: format!("umount2({path:?}, MNT_DETACH)"),
                cause,
                path: Some(path),
                dest: None,
            });
        }
    }
    nix::unistd::unlink(path.as_str()).map_err(|errno| {
        if errno == Errno::ENOENT {
            return no_such_netns(name, &path, "unlink");
        }
        Failure::Sys {
            errno,
            syscall: "unlink",
            call: format!("unlink({path:?})"),
            cause: None,
            path: Some(path.clone()),
            dest: None,
        }
    })
}

fn no_such_netns(name: &str, path: &str, syscall: &'static str) -> Failure {
    Failure::Sys {
        errno: Errno::ENOENT,
        syscall,
        call: format!("{syscall}({path:?})"),
        cause: Some(format!("there is no network namespace named {name:?}")),
        path: Some(path.to_string()),
        dest: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_its_flag_and_ioctl() {
        assert_eq!(type_named("mnt").map(|t| t.1), Some(NEWNS));
        assert_eq!(type_named("net").map(|t| t.2), Some(4));
        assert_eq!(type_of_flag(NEWTIME), Some("time"));
        assert_eq!(type_named("mount"), None);
        for (name, flag, _) in TYPES {
            assert_eq!(type_of_flag(flag), Some(name));
            assert!(TYPE_LIST.contains(&format!("'{name}'")));
        }
    }

    /// The /proc fallback for kernels without PIDFD_GET_*_NAMESPACE, run on this one.
    #[test]
    fn the_proc_fallback_opens_the_namespace_of_a_pidfd() -> Result<(), Failure> {
        let pidfd = open_pidfd(i64::from(std::process::id()))?;
        let fd = open_by_proc(pidfd, "net")?;
        let st = stat_fd(fd)?;
        let own = nix::sys::stat::stat("/proc/self/ns/net")
            .map_err(|e| Failure::sys(e, "stat", "stat(/proc/self/ns/net)".into(), None))?;
        assert_eq!(st.r#type, "net");
        assert_eq!(st.ino.get_u64().1, own.st_ino);
        close(fd);
        close(pidfd);
        Ok(())
    }

    #[test]
    fn the_proc_fallback_refuses_a_process_that_has_exited() -> Result<(), Failure> {
        let mut child = std::process::Command::new("true")
            .spawn()
            .map_err(|_| Failure::ArgValue("cannot start true".into()))?;
        let pidfd = open_pidfd(i64::from(child.id()))?;
        let _ = child.wait();
        let f = open_by_proc(pidfd, "net");
        close(pidfd);
        assert!(
            matches!(&f, Err(Failure::Sys { errno: Errno::ESRCH, cause: Some(c), .. }) if c.contains("has exited")),
            "{:?}",
            f.map(|_| ())
        );
        Ok(())
    }

    #[test]
    fn paths_that_are_no_namespace_say_so() {
        let f = open_path("/", Some(NEWNET));
        assert!(
            matches!(&f, Err(Failure::State { code, .. }) if *code == NOT_A_NAMESPACE),
            "{f:?}"
        );
        let f = open_path("/proc/self/ns/net", Some(NEWUTS));
        assert!(
            matches!(&f, Err(Failure::State { code, message }) if *code == WRONG_NAMESPACE_TYPE
                && message.contains("is a net namespace, not a uts namespace")),
            "{f:?}"
        );
    }
}
