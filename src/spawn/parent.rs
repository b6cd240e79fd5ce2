//! The parent's side of a spawn: what it does while the child waits (id maps, a cgroup), the
//! words for each step's failure, and spawnSync's loop.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::child::Step;
use super::{SpawnPlan, Started};
use crate::errors::{Failure, Outcome};
use crate::usage::RunReport;

fn read_sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Why this host refuses an unprivileged user namespace, naming the setting, if one does.
pub fn userns_restriction() -> Option<String> {
    if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        return Some(
            "user namespaces are disabled on this host: sysctl user.max_user_namespaces is 0"
                .into(),
        );
    }
    let unprivileged = nix::unistd::geteuid().as_raw() != 0;
    if unprivileged && read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        return Some(
            "unprivileged user namespaces are disabled on this host: sysctl \
             kernel.unprivileged_userns_clone is 0 (Debian)"
                .into(),
        );
    }
    if unprivileged
        && read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1)
    {
        return Some(
            "AppArmor restricts unprivileged user namespaces on this host: sysctl \
             kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 24.04+); a program needs an \
             AppArmor profile that allows userns"
                .into(),
        );
    }
    None
}

/// The likely cause of a failed clone.
pub fn clone_cause(errno: Errno, namespaces: u32) -> Option<String> {
    let new_user = namespaces & libc::CLONE_NEWUSER as u32 != 0;
    match errno {
        Errno::EPERM if new_user => Some(userns_restriction().unwrap_or_else(|| {
            "the kernel refused a new user namespace (a container's seccomp profile, or a \
             chroot, can refuse it)"
                .into()
        })),
        Errno::EPERM => Some(
            "new namespaces other than a user namespace need CAP_SYS_ADMIN: add 'user' to \
             namespaces to create them unprivileged"
                .into(),
        ),
        Errno::ENOSPC => Some(
            "a namespace limit was reached (user.max_*_namespaces, or 32 nested user namespaces)"
                .into(),
        ),
        Errno::EUSERS => Some("too many nested user namespaces".into()),
        Errno::EAGAIN => Some("the process limit (RLIMIT_NPROC or pid_max) was reached".into()),
        _ => None,
    }
}

fn proc_path(pid: i32, file: &str) -> String {
    format!("/proc/{pid}/{file}")
}

fn write_file(path: &str, text: &str) -> Result<(), Errno> {
    std::fs::write(path, text).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// newuidmap/newgidmap (shadow's setuid helpers, as podman uses them) for maps the caller may
/// not write itself. None when the tool is not installed.
fn via_helper(tool: &str, pid: i32, map: &str) -> Option<Result<(), String>> {
    let mut args = vec![pid.to_string()];
    args.extend(map.split_whitespace().map(str::to_string));
    match std::process::Command::new(tool).args(&args).output() {
        Ok(out) if out.status.success() => Some(Ok(())),
        Ok(out) => Some(Err(String::from_utf8_lossy(&out.stderr).trim().to_string())),
        Err(_) => None,
    }
}

fn idmap_failure(errno: Errno, index: u32, path: String, cause: String) -> Failure {
    Failure::Spawn {
        errno,
        step: Step::Idmap.name(),
        index: Some(index),
        syscall: "write",
        call: format!("write('{path}')"),
        cause: Some(cause),
        path: Some(path),
    }
}

/// A list shown short: its first entries and how many more.
pub fn short_list<T: std::fmt::Display>(items: &[T]) -> String {
    const FIRST: usize = 8;
    let shown: Vec<String> = items.iter().take(FIRST).map(T::to_string).collect();
    if items.len() > FIRST {
        format!("[{}, … {} more]", shown.join(", "), items.len() - FIRST)
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// A map's lines as `inside outside count` ranges, shown short.
fn short_map(map: &str) -> String {
    let lines: Vec<&str> = map.lines().collect();
    short_list(&lines)
}

/// The outside ranges of `map` that are not the caller's own id `own`, shown short.
fn foreign(map: &str, own: u32) -> String {
    let ranges: Vec<String> = map
        .lines()
        .filter_map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let (outside, count) = (*v.get(1)?, *v.get(2)?);
            (outside != own as u64 || count != 1).then(|| {
                if count == 1 {
                    outside.to_string()
                } else {
                    format!("{}-{}", outside, outside + count - 1)
                }
            })
        })
        .collect();
    short_list(&ranges)
}

fn write_map(pid: i32, file: &str, tool: &str, map: &str, index: u32) -> Outcome<()> {
    let path = proc_path(pid, file);
    let Err(errno) = write_file(&path, map) else {
        return Ok(());
    };
    let (kind, own, sub) = if file == "uid_map" {
        ("uid", nix::unistd::geteuid().as_raw(), "/etc/subuid")
    } else {
        ("gid", nix::unistd::getegid().as_raw(), "/etc/subgid")
    };
    let not_own = || {
        let others = foreign(map, own);
        if others == "[]" {
            return if kind == "gid" {
                "without CAP_SETGID a gid map needs setgroups 'deny' first (setgroups: 'deny')"
                    .to_string()
            } else {
                format!("the kernel refused even this process's own uid ({own})")
            };
        }
        format!(
            "outside {kind}s {} are not this process's own ({kind} {own}): without \
             CAP_SET{} over the parent user namespace a map can hold only that one, or the \
             ranges {sub} grants through {tool}",
            others,
            kind.to_uppercase(),
        )
    };
    if errno == Errno::EPERM {
        match via_helper(tool, pid, map) {
            Some(Ok(())) => return Ok(()),
            Some(Err(said)) => {
                return Err(idmap_failure(
                    errno,
                    index,
                    path,
                    format!("{}; {tool} refused too: {said}", not_own()),
                ))
            }
            None => {}
        }
    }
    let cause = match errno {
        Errno::EPERM => userns_restriction().unwrap_or_else(|| {
            format!(
                "{} ({tool}, from the uidmap package, is not installed)",
                not_own()
            )
        }),
        Errno::EINVAL => format!("the kernel refused the ranges {}", short_map(map)),
        _ => format!("the kernel refused the map {}", short_map(map)),
    };
    Err(idmap_failure(errno, index, path, cause))
}

/// Writes `text` to file `name` in directory `dir` (an fd), as one write.
fn write_at(dir: RawFd, name: &std::ffi::CStr, text: &str) -> Result<(), Errno> {
    // SAFETY: openat relative to a directory fd the caller holds.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the fd was just opened and is owned here.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::unistd::write(&file, text.as_bytes()).map(drop)
}

/// What kind of file `fd` is, in words, for errors about an fd of the wrong kind.
fn fd_kind(fd: RawFd) -> String {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    match file_type(fd) {
        Some(t) => match t {
            libc::S_IFREG => format!("a regular file ({link})"),
            libc::S_IFDIR => format!("a directory ({link})"),
            libc::S_IFCHR => format!("a character device ({link})"),
            libc::S_IFIFO => "a pipe".into(),
            libc::S_IFSOCK => "a socket".into(),
            _ => link,
        },
        None => link,
    }
}

/// S_IFMT of `fd`'s file.
fn file_type(fd: RawFd) -> Option<libc::mode_t> {
    // SAFETY: fstat of an fd the caller checked is open, borrowed for the call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::sys::stat::fstat(fd)
        .ok()
        .map(|st| st.st_mode & libc::S_IFMT)
}

/// A caller's fd refused before the clone; a join fd as setns would have refused it, with its
/// entry's index.
fn fd_failure(errno: Errno, step: Step, what: &str, fd: RawFd, cause: String) -> Failure {
    let (syscall, index) = match step {
        Step::Setns => ("setns", what.parse().ok()),
        _ => ("fcntl", None),
    };
    let what = match index {
        Some(i) => format!("options.join entry {i}"),
        None => what.to_string(),
    };
    Failure::Spawn {
        errno,
        step: step.name(),
        index,
        syscall,
        call: format!("{syscall}({what}: fd {fd})"),
        cause: Some(cause),
        path: None,
    }
}

/// Checks, before this spawn opens any fd of its own, that the fds the caller named are open
/// and of the right kind: a closed one's number could otherwise be reused by the spawn's own
/// pipes and reach the child as the wrong file, or fail later with a cause that misleads.
pub fn check_fds(plan: &SpawnPlan) -> Outcome<()> {
    let open = |fd: RawFd, step: Step, what: &str| -> Outcome<()> {
        // SAFETY: F_GETFD only reads the fd table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(fd_failure(
                Errno::EBADF,
                step,
                what,
                fd,
                format!("fd {fd} given as {what} is not open"),
            ));
        }
        Ok(())
    };
    for (i, slot) in plan.stdio.iter().enumerate() {
        if let (true, Some(fd)) = (slot.kind == "fd", slot.fd) {
            open(fd, Step::Fds, &format!("options.stdio[{i}]"))?;
        }
    }
    for (i, j) in plan.join.iter().enumerate() {
        let what = i.to_string();
        // SAFETY: F_GETFD only reads the fd table.
        if unsafe { libc::fcntl(j.fd, libc::F_GETFD) } < 0 {
            return Err(fd_failure(
                Errno::EBADF,
                Step::Setns,
                &what,
                j.fd,
                format!(
                    "fd {} given for {} in options.join is not open",
                    j.fd, j.label
                ),
            ));
        }
        let bad = |cause: String| Err(fd_failure(Errno::EINVAL, Step::Setns, &what, j.fd, cause));
        let single = j.nstype.count_ones() == 1;
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
        let t = unsafe { libc::ioctl(j.fd, crate::flags::NS_GET_NSTYPE as _) };
        if t >= 0 && !single {
            return bad(format!(
                "fd {} is a namespace, not a pidfd: join several types through a pidfd, or \
                 each type by its own fd",
                j.fd
            ));
        }
        if t >= 0 && t as u32 != j.nstype {
            return bad(format!(
                "fd {} is a {} namespace, not a {} namespace",
                j.fd,
                crate::flags::ns_type_name(t as u32),
                crate::flags::ns_type_name(j.nstype)
            ));
        }
        // Not a namespace: a pidfd (an anon inode named so) is the one other kind setns takes.
        let link = std::fs::read_link(format!("/proc/self/fd/{}", j.fd))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if t < 0 && link != "anon_inode:[pidfd]" {
            return bad(format!(
                "fd {} is neither a namespace nor a pidfd but {}",
                j.fd,
                fd_kind(j.fd)
            ));
        }
    }
    if let Some(fd) = plan.block_fd {
        open(fd, Step::BlockFd, "options.blockFd")?;
    }
    if let Some(fd) = plan.userns_block_fd {
        open(fd, Step::Sync, "options.usernsBlockFd")?;
    }
    if let Some(fd) = plan.sync_fd {
        open(fd, Step::Fds, "options.syncFd")?;
    }
    if let Some(fd) = plan.cgroup_fd {
        let what = "options.cgroup";
        open(fd, Step::Cgroup, what)?;
        if file_type(fd) != Some(libc::S_IFDIR) {
            return Err(fd_failure(
                Errno::ENOTDIR,
                Step::Cgroup,
                what,
                fd,
                format!("fd {fd} is not a cgroup v2 directory but {}", fd_kind(fd)),
            ));
        }
    }
    Ok(())
}

/// The parent's part while the child waits at its sync step: the id maps of a new user
/// namespace (uid_map, setgroups, gid_map, in the order the kernel needs for an unprivileged
/// gid map), and the cgroup where clone3 could not place the child.
pub fn parent_part(plan: &SpawnPlan, pid: i32, via_procs: Option<&(RawFd, String)>) -> Outcome<()> {
    if plan.namespaces & libc::CLONE_NEWUSER as u32 != 0 {
        if let Some(map) = &plan.uid_map {
            write_map(pid, "uid_map", "newuidmap", map, 0)?;
        }
        if let Some(setgroups) = &plan.setgroups {
            let path = proc_path(pid, "setgroups");
            write_file(&path, setgroups).map_err(|errno| {
                idmap_failure(
                    errno,
                    2,
                    path,
                    format!("could not write {setgroups:?} to setgroups"),
                )
            })?;
        }
        if let Some(map) = &plan.gid_map {
            write_map(pid, "gid_map", "newgidmap", map, 1)?;
        }
    }
    {
        if let Some((fd, label)) = via_procs {
            let (fd, label) = (*fd, label.clone());
            if let Err(errno) = write_at(fd, c"cgroup.procs", &pid.to_string()) {
                return Err(Failure::Spawn {
                    errno,
                    step: Step::Cgroup.name(),
                    index: None,
                    syscall: "write",
                    call: format!("write('{label}/cgroup.procs')"),
                    cause: Some(match errno {
                        Errno::EACCES | Errno::EPERM => "moving a process into that cgroup needs write access to its cgroup.procs and to the common ancestor's".into(),
                        Errno::EOPNOTSUPP | Errno::EBUSY => "the cgroup has controllers enabled for its children (no internal processes in cgroup v2): use a leaf cgroup".into(),
                        Errno::ENOENT => "not a cgroup v2 directory".into(),
                        _ => "the kernel refused to move the child into the cgroup".into(),
                    }),
                    path: Some(label),
                });
            }
        }
    }
    Ok(())
}

/// The failure a child reported, in words.
pub fn describe(
    plan: &SpawnPlan,
    tree: &super::tree::Tree,
    step: Step,
    index: u32,
    detail: u32,
    errno: Errno,
) -> Failure {
    if let Some(failure) = super::confine::describe(plan, tree, step, index, detail, errno) {
        return failure;
    }
    let file = &plan.file;
    let mut index_out = None;
    let mut path = None;
    let (syscall, call, cause): (&'static str, String, Option<String>) = match step {
        Step::Setns => {
            let label = plan.join.get(index as usize).map_or("?".to_string(), |j| j.label.clone());
            index_out = Some(index);
            let cause = match errno {
                Errno::EPERM => Some(format!(
                    "entering the {label} namespace needs CAP_SYS_ADMIN over the user namespace \
                     that owns it (join that user namespace first)"
                )),
                Errno::EINVAL => Some(format!("the fd for {label} is not a namespace of that type, or the namespace cannot be entered from here")),
                Errno::EBADF => Some(format!("the fd for {label} is not open")),
                _ => None,
            };
            ("setns", format!("setns({label})"), cause)
        }
        Step::Unshare if index == 1 => {
            let flags = plan.namespaces & super::CLONE_NS;
            let cause = clone_cause(errno, plan.namespaces).map(|c| {
                format!("{c} (the new user namespace is made after the joins, so that they are entered with this process's privileges)")
            });
            ("unshare", format!("unshare({})", crate::flags::unshare_flag_names(flags)), cause)
        }
        Step::Unshare => ("unshare", "unshare(NEWTIME)".into(), match errno {
            Errno::EPERM => Some("a new time namespace needs CAP_SYS_ADMIN: add 'user' to namespaces".into()),
            Errno::EINVAL => Some("this kernel has no time namespaces (Linux 5.6+)".into()),
            _ => None,
        }),
        Step::Timens => ("write", "write('/proc/self/timens_offsets')".into(), Some(
            "the time namespace's clock offsets could not be set".into(),
        )),
        Step::Hostname => {
            let (sys, name) = if index == 0 {
                ("sethostname", plan.hostname.clone().unwrap_or_default())
            } else {
                ("setdomainname", plan.domainname.clone().unwrap_or_default())
            };
            let cause = match errno {
                Errno::EPERM => Some("setting it needs a new UTS namespace (add 'uts' to namespaces) and CAP_SYS_ADMIN over it".into()),
                Errno::EINVAL => Some("longer than 64 bytes".into()),
                _ => None,
            };
            (sys, format!("{sys}({name:?})"), cause)
        }
        Step::Loopback => ("ioctl", "ioctl(SIOCSIFFLAGS, 'lo' up)".into(), None),
        Step::Groups => ("setgroups", format!("setgroups({})", short_list(plan.groups.as_deref().unwrap_or_default())), match errno {
            Errno::EPERM => Some("setting supplementary groups needs CAP_SETGID, and in a user namespace whose setgroups is 'deny' it is never allowed (setgroups: 'allow' needs a gid map written by a privileged parent)".into()),
            _ => None,
        }),
        Step::Setgid => ("setgid", format!("setgid({})", plan.gid.unwrap_or(0)), match errno {
            Errno::EPERM => Some("needs CAP_SETGID".into()),
            Errno::EINVAL => Some("the gid is not mapped in the child's user namespace (see gidMap)".into()),
            _ => None,
        }),
        Step::Setuid => ("setuid", format!("setuid({})", plan.uid.unwrap_or(0)), match errno {
            Errno::EPERM => Some("needs CAP_SETUID".into()),
            Errno::EINVAL => Some("the uid is not mapped in the child's user namespace (see uidMap)".into()),
            _ => None,
        }),
        Step::Chdir => {
            let dir = plan.cwd.clone().unwrap_or_default();
            path = Some(dir.clone());
            let cause = match errno {
                Errno::ENOENT => Some(format!("the working directory {dir} does not exist (in the child's mount namespace)")),
                Errno::ENOTDIR => Some(format!("{dir} is not a directory")),
                Errno::EACCES => Some(format!("the program's user may not enter {dir}")),
                _ => None,
            };
            ("chdir", format!("chdir({dir:?})"), cause)
        }
        Step::Terminal => return super::terminal::describe(plan, index, errno),
        Step::Forward => {
            index_out = Some(index);
            let at = plan
                .forwards
                .as_ref()
                .and_then(|f| f.get(index as usize))
                .map(super::plan::ForwardSlot::listen_at)
                .unwrap_or_default();
            crate::listen::describe(detail, errno, &at, "the program's")
        }
        Step::Setsid => ("setsid", "setsid()".into(), None),
        Step::Pdeathsig => ("prctl", format!("prctl(PR_SET_PDEATHSIG, {})", plan.pdeathsig), None),
        Step::Fds => ("dup3", "dup3(stdio)".into(), match errno {
            Errno::EBADF => Some("an fd given in stdio is not open".into()),
            _ => None,
        }),
        Step::Signals => ("sigprocmask", "sigprocmask(SIG_SETMASK, empty)".into(), None),
        _ => {
            path = Some(file.clone());
            let cause = match errno {
                Errno::ENOENT if file.contains('/') => Some(format!("{file} does not exist (in the child's mount namespace)")),
                Errno::ENOENT => Some(format!("{file} was not found in the PATH of the child's environment")),
                Errno::EACCES => Some(format!("{file} is not executable, or a directory on its path may not be searched")),
                Errno::ENOEXEC => Some(format!("{file} is not in a format the kernel can run (a script needs a #! line)")),
                Errno::E2BIG => Some("the arguments and environment are larger than the kernel accepts".into()),
                Errno::ETXTBSY => Some(format!("{file} is open for writing")),
                _ => None,
            };
            ("execve", format!("execve({file:?})"), cause)
        }
    };
    Failure::Spawn {
        errno,
        step: step.name(),
        index: index_out,
        syscall,
        call,
        cause,
        path,
    }
}

/// A failure's cause completed with what the seccomp filter refused on the child's way out.
pub fn filter_refused(mut failure: Failure, refused: u32) -> Failure {
    use super::child::{REFUSED_EXECVE, REFUSED_EXIT, REFUSED_EXIT_GROUP};
    if let Failure::Spawn { errno, cause, .. } = &mut failure {
        if refused & REFUSED_EXECVE != 0 {
            *cause = Some(format!(
                "the seccomp filter refuses execve (it answers {}), so no program can start \
                 under it: allow execve",
                crate::errors::errno_code(*errno)
            ));
        }
        let tail = if refused & REFUSED_EXIT != 0 {
            Some("the seccomp filter also refuses exit_group and exit: the child ended itself with SIGILL")
        } else if refused & REFUSED_EXIT_GROUP != 0 {
            Some("the seccomp filter also refuses exit_group: the child ended with exit")
        } else {
            None
        };
        if let Some(tail) = tail {
            let head = cause
                .take()
                .unwrap_or_else(|| crate::errors::errno_text(*errno));
            *cause = Some(format!("{head}; {tail}"));
        }
    }
    failure
}

/// What spawnSync() hands back.
pub struct SyncDone {
    pub pid: i32,
    pub status: i32,
    pub output: Vec<Option<Vec<u8>>>,
    pub error: Option<&'static str>,
    pub report: RunReport,
}

fn own(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: spawn handed these parent ends over; they are ours to close.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn nonblocking(fd: RawFd) {
    // SAFETY: flags of an fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Feeds `input` to the child's fd 0, collects every other pipe, enforces the timeout and
/// maxBuffer (killing with `kill_signal`), and reaps. Output after the child's exit is taken as
/// far as it is already there: a grandchild that keeps a pipe open does not hold us.
pub fn run_to_exit(
    started: Started,
    input: Option<&[u8]>,
    timeout_ms: f64,
    kill_signal: i32,
    max_buffer: f64,
) -> Outcome<SyncDone> {
    let Started {
        pid,
        pidfd,
        parent_fds,
        run,
        ..
    } = started;
    let fds: Vec<Option<OwnedFd>> = parent_fds.iter().map(|&fd| own(fd)).collect();
    let mut output: Vec<Option<Vec<u8>>> = fds
        .iter()
        .map(|fd| fd.as_ref().map(|_| Vec::new()))
        .collect();
    output[0] = None;
    let mut open: Vec<bool> = fds.iter().map(Option::is_some).collect();
    let mut stdin = fds.first().and_then(|f| f.as_ref()).map(|f| f.as_raw_fd());
    let input = input.unwrap_or(&[]);
    let mut written = 0usize;
    if let Some(fd) = stdin {
        if input.is_empty() {
            // SAFETY: a socket we own: the child sees the end of its input.
            unsafe { libc::shutdown(fd, libc::SHUT_WR) };
            stdin = None;
        } else {
            nonblocking(fd);
        }
    }
    open[0] = false;
    for fd in fds.iter().skip(1).flatten() {
        nonblocking(fd.as_raw_fd());
    }
    let deadline =
        (timeout_ms > 0.0).then(|| Instant::now() + Duration::from_secs_f64(timeout_ms / 1000.0));
    let mut error = None;
    let mut exited = false;
    let kill = |sig: i32| {
        // SAFETY: signals our unreaped child through its pidfd.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
    };
    let mut buf = vec![0u8; 64 * 1024];
    while !exited {
        let mut polls = vec![libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(fd) = stdin {
            polls.push(libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        for (i, fd) in fds.iter().enumerate() {
            if let (true, Some(fd)) = (open[i], fd) {
                polls.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        let wait = match deadline {
            Some(d) if error.is_none() => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
            _ => -1,
        };
        // SAFETY: polls is a live array of pollfds.
        let rc = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, wait) };
        if rc < 0 && Errno::last() != Errno::EINTR {
            break;
        }
        if let Some(d) = deadline {
            if error.is_none() && Instant::now() >= d {
                error = Some("ETIMEDOUT");
                kill(kill_signal);
            }
        }
        for p in &polls[1..] {
            if p.revents == 0 {
                continue;
            }
            if Some(p.fd) == stdin {
                // SAFETY: sends from input's remaining bytes.
                let n = unsafe {
                    libc::send(
                        p.fd,
                        input[written..].as_ptr().cast(),
                        input.len() - written,
                        libc::MSG_NOSIGNAL,
                    )
                };
                if n > 0 {
                    written += n as usize;
                }
                if n < 0 && Errno::last() != Errno::EAGAIN || written == input.len() {
                    // SAFETY: our socket: done writing (or the child stopped reading).
                    unsafe { libc::shutdown(p.fd, libc::SHUT_WR) };
                    stdin = None;
                }
                continue;
            }
            let i = fds
                .iter()
                .position(|f| f.as_ref().map(|f| f.as_raw_fd()) == Some(p.fd))
                .unwrap_or(0);
            let grew = read_some(p.fd, &mut buf, &mut output[i], &mut open[i]);
            let over = max_buffer > 0.0
                && output[i]
                    .as_ref()
                    .is_some_and(|o| o.len() as f64 > max_buffer);
            if grew && over && error.is_none() {
                error = Some("ENOBUFS");
                kill(kill_signal);
            }
        }
        if polls[0].revents != 0 {
            exited = true;
        }
    }
    // The child has exited: take what its pipes already hold.
    for (i, fd) in fds.iter().enumerate() {
        if let (true, Some(fd)) = (open[i], fd) {
            while open[i] && read_some(fd.as_raw_fd(), &mut buf, &mut output[i], &mut open[i]) {}
        }
    }
    // SAFETY: plain data.
    let (status, usage) = crate::reaper::reap_usage(pid, pidfd.as_raw_fd(), 0)
        .map_or((0, unsafe { std::mem::zeroed() }), |(_, status, usage)| {
            (status, usage)
        });
    let report = run.finish(status, &usage);
    if error == Some("ENOBUFS") {
        for out in output.iter_mut().flatten() {
            out.truncate(max_buffer as usize);
        }
    }
    Ok(SyncDone {
        pid,
        status,
        output,
        error,
        report,
    })
}

/// Reads what is there into `out`; false when nothing more came (EOF closes, EAGAIN waits).
fn read_some(fd: RawFd, buf: &mut [u8], out: &mut Option<Vec<u8>>, open: &mut bool) -> bool {
    // SAFETY: reads into buf.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n > 0 {
        if let Some(out) = out {
            out.extend_from_slice(&buf[..n as usize]);
        }
        return true;
    }
    if n == 0 || Errno::last() != Errno::EAGAIN {
        *open = false;
    }
    false
}
