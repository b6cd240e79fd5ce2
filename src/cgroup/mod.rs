//! Resource limits for one run: a leaf cgroup v2 made before the clone (the program starts in
//! it with CLONE_INTO_CGROUP), its limits, what it counted once the program has exited, and its
//! removal. Leaves are named `linux-clone-<pid>-<start time>-<n>` after the process that made
//! them, so that a later run can tell a leaf whose maker died (SIGKILL) from a live one and
//! remove it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use napi_derive::napi;
use nix::errno::Errno;

use crate::errors::{Failure, Outcome};

mod keeper;

/// The step name of every failure here: the cgroup is made by the parent, before the clone.
pub const STEP: &str = "limits";
const PREFIX: &str = "linux-clone-";
/// How long the removal waits for killed processes to leave the leaf.
const DRAIN: Duration = Duration::from_secs(2);

/// options.limits after the TypeScript layer has checked it: the values as the cgroup files
/// take them.
#[napi(object)]
#[derive(Clone, Default)]
pub struct LimitsSlot {
    /// memory.max, bytes.
    pub memory: Option<f64>,
    /// memory.swap.max, bytes.
    pub memory_swap: Option<f64>,
    /// memory.high, bytes.
    pub memory_high: Option<f64>,
    /// pids.max.
    pub pids: Option<f64>,
    /// cpu.max: "quota period", microseconds.
    pub cpu_max: Option<String>,
    /// cpu.weight, 1..10000.
    pub cpu_weight: Option<u32>,
    /// io.weight, 1..10000.
    pub io_weight: Option<u32>,
    /// The cgroup to make the run's leaf in (an open directory), else the default.
    pub parent_fd: Option<i32>,
    /// Its path, for messages.
    pub parent_path: Option<String>,
}

/// The cgroup v2 mount: where it is mounted, and which cgroup its root is.
fn cgroup2_mount() -> Option<(String, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next() != Some("cgroup2") {
            return None;
        }
        let fields: Vec<&str> = left.split(' ').collect();
        Some((unescape(fields.get(4)?), unescape(fields.get(3)?)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroup v2 directory, from /proc/self/cgroup's `0::` line.
fn own_cgroup(mount: &str, root: &str) -> Option<(String, bool)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let rel = path
        .strip_prefix(root.trim_end_matches('/'))
        .unwrap_or(path);
    let rel = rel.trim_matches('/');
    let dir = if rel.is_empty() {
        mount.to_string()
    } else {
        format!("{}/{rel}", mount.trim_end_matches('/'))
    };
    // The hierarchy's root may hold processes and still hand controllers to its children.
    Some((dir, rel.is_empty() && root == "/"))
}

/// Controllers bound to a cgroup v1 hierarchy here (/proc/cgroups: hierarchy id not 0).
fn bound_to_v1() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[1] != "0" && f[3] == "1").then(|| f[0].to_string())
        })
        .collect()
}

/// Reads the file `name` under `dir`. Cgroup files are seq_files, whose read returns all that
/// fits in the buffer: a short read is the end, which saves the read that would return 0.
fn read_at(dir: RawFd, name: &str) -> Result<String, Errno> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: openat relative to a directory fd the caller holds.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: just opened, owned here.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(&file, &mut buf) {
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn write_at(dir: RawFd, name: &str, text: &str) -> Result<(), Errno> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: openat relative to a directory fd the caller holds.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: just opened, owned here.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::unistd::write(&file, text.as_bytes()).map(drop)
}

fn open_dir(at: RawFd, path: &str) -> Result<OwnedFd, Errno> {
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a path relative to `at` (or absolute).
    let fd = unsafe {
        libc::openat(
            at,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: just opened, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `key value` lines (cpu.stat, memory.events, pids.events): the value of `key`.
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

fn failure(
    errno: Errno,
    syscall: &'static str,
    call: String,
    cause: String,
    path: String,
) -> Failure {
    Failure::Spawn {
        errno,
        step: STEP,
        index: None,
        syscall,
        call,
        cause: Some(cause),
        path: Some(path),
    }
}

const WHAT_TO_DO: &str = "run under a delegated cgroup (systemd-run --user --scope -p \
    Delegate=yes ..., or a container with a cgroup namespace), or pass cgroupParent: a cgroup v2 \
    directory without processes of its own, writable by this user, with the controllers in its \
    cgroup.controllers";

/// Where the run's leaf goes and what it may use.
#[derive(Clone)]
pub struct Parent {
    pub dir: Arc<OwnedFd>,
    pub path: String,
    /// Controllers the parent can hand to its children (its cgroup.controllers).
    pub available: Vec<String>,
    /// Controllers it hands out already (its cgroup.subtree_control).
    pub enabled: Vec<String>,
}

/// The default parent's path, found once: this process's own cgroup where it is the
/// hierarchy's root, else its parent (a cgroup holding processes cannot hand controllers to
/// children: the no-internal-process rule).
fn default_parent() -> Outcome<String> {
    static FOUND: Mutex<Option<String>> = Mutex::new(None);
    let mut found = FOUND.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = &*found {
        return Ok(path.clone());
    }
    let Some((mount, root)) = cgroup2_mount() else {
        return Err(failure(
            Errno::ENOENT,
            "open",
            "open('/proc/self/mountinfo')".into(),
            format!(
                "no cgroup v2 hierarchy is mounted here (cgroup v1 only): limits need \
                 cgroup v2; mount it (mount -t cgroup2 none /sys/fs/cgroup) or {WHAT_TO_DO}"
            ),
            "/proc/self/mountinfo".into(),
        ));
    };
    let Some((own, is_root)) = own_cgroup(&mount, &root) else {
        return Err(failure(
            Errno::ENOENT,
            "open",
            "open('/proc/self/cgroup')".into(),
            format!("this process's cgroup v2 is not listed in /proc/self/cgroup: {WHAT_TO_DO}"),
            "/proc/self/cgroup".into(),
        ));
    };
    let path = if is_root {
        own
    } else {
        match own.rsplit_once('/') {
            Some((up, _)) if up.len() >= mount.trim_end_matches('/').len() => up.to_string(),
            _ => own,
        }
    };
    *found = Some(path.clone());
    Ok(path)
}

/// The parent the leaf is made in: `limits.parent_fd`, else the default.
pub fn parent(limits: &LimitsSlot) -> Outcome<Parent> {
    let (dir, path) = match limits.parent_fd {
        Some(fd) => {
            let label = limits
                .parent_path
                .clone()
                .or_else(|| {
                    std::fs::read_link(format!("/proc/self/fd/{fd}"))
                        .ok()
                        .map(|p| p.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| format!("fd {fd}"));
            let dir = open_dir(fd, ".").map_err(|errno| {
                failure(
                    errno,
                    "openat",
                    format!("openat({label}, '.')"),
                    "cgroupParent is not an open directory".into(),
                    label.clone(),
                )
            })?;
            (dir, label)
        }
        None => {
            let path = default_parent()?;
            let dir = open_dir(libc::AT_FDCWD, &path).map_err(|errno| {
                failure(
                    errno,
                    "open",
                    format!("open('{path}')"),
                    "the cgroup v2 directory to make the run's cgroup in could not be opened"
                        .into(),
                    path.clone(),
                )
            })?;
            (dir, path)
        }
    };
    let list = |name: &str| -> Outcome<Vec<String>> {
        read_at(dir.as_raw_fd(), name)
            .map(|t| t.split_whitespace().map(str::to_string).collect())
            .map_err(|errno| {
                failure(
                    errno,
                    "open",
                    format!("open('{path}/{name}')"),
                    format!("{path} is not a cgroup v2 directory"),
                    format!("{path}/{name}"),
                )
            })
    };
    let available = list("cgroup.controllers")?;
    let enabled = list("cgroup.subtree_control")?;
    Ok(Parent {
        dir: Arc::new(dir),
        path,
        available,
        enabled,
    })
}

/// The default parent, opened and read once (each file a run need not open saves time on
/// every run); `limits.parent_fd` is opened and read on every run.
static DEFAULT_PARENT: Mutex<Option<Parent>> = Mutex::new(None);

fn parent_for(limits: &LimitsSlot) -> Outcome<Parent> {
    if limits.parent_fd.is_some() {
        return parent(limits);
    }
    let mut cached = DEFAULT_PARENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = &*cached {
        return Ok(p.clone());
    }
    let p = parent(limits)?;
    *cached = Some(p.clone());
    Ok(p)
}

/// Notes controllers now enabled in the (cached) default parent.
fn remember_enabled(path: &str, controllers: &[&str]) {
    let mut cached = DEFAULT_PARENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = cached.as_mut().filter(|p| p.path == path) {
        for c in controllers {
            if !p.enabled.iter().any(|e| e == c) {
                p.enabled.push(c.to_string());
            }
        }
    }
}

/// The controllers a run with these limits needs, and the ones it takes if there (for the
/// report: memory.peak, pids.peak).
fn controllers(limits: &LimitsSlot) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut need = Vec::new();
    if limits.memory.is_some() || limits.memory_swap.is_some() || limits.memory_high.is_some() {
        need.push("memory");
    }
    if limits.pids.is_some() {
        need.push("pids");
    }
    if limits.cpu_max.is_some() || limits.cpu_weight.is_some() {
        need.push("cpu");
    }
    if limits.io_weight.is_some() {
        need.push("io");
    }
    let want = ["memory", "pids"]
        .into_iter()
        .filter(|c| !need.contains(c))
        .collect();
    (need, want)
}

/// Why `missing` cannot be had under `parent`, in words, with what to do.
fn missing_cause(parent: &Parent, missing: &[&str]) -> String {
    let v1 = bound_to_v1();
    let on_v1: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|c| v1.iter().any(|b| b == c))
        .collect();
    if !on_v1.is_empty() {
        return format!(
            "cgroup v1 only: the {} controller{} {} bound to a cgroup v1 hierarchy on this host, \
             so cgroup v2 ({}) cannot use {}; limits need a host booted with cgroup v2 \
             (systemd.unified_cgroup_hierarchy=1), or {WHAT_TO_DO}",
            on_v1.join(", "),
            if on_v1.len() > 1 { "s" } else { "" },
            if on_v1.len() > 1 { "are" } else { "is" },
            parent.path,
            if on_v1.len() > 1 { "them" } else { "it" },
        );
    }
    format!(
        "controller not enabled in the parent: {} {} not in {}/cgroup.controllers (the cgroup \
         above it does not delegate {}); {WHAT_TO_DO}",
        missing.join(", "),
        if missing.len() > 1 { "are" } else { "is" },
        parent.path,
        if missing.len() > 1 { "them" } else { "it" },
    )
}

fn permission_cause(path: &str, what: &str) -> String {
    format!(
        "no permission: {path} is not delegated to this user (uid {}), who may not {what}; \
         {WHAT_TO_DO}",
        nix::unistd::geteuid()
    )
}

/// This process's start time (field 22 of /proc/self/stat): with the pid it names a maker that
/// cannot be confused with a later process reusing the pid.
fn start_time(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19).map(str::to_string)
}

fn own_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let pid = std::process::id().to_string();
        format!("{pid}-{}", start_time(&pid).unwrap_or_else(|| "0".into()))
    })
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A leaf cgroup. Dropping it kills what is left in it and removes it.
pub struct Leaf {
    dir: OwnedFd,
    parent: Arc<OwnedFd>,
    name: String,
    path: String,
}

/// A run's leaf: removed when dropped, by the keeper's thread if it came from the keeper's
/// parent.
pub struct RunCgroup {
    leaf: Option<Leaf>,
    kept: bool,
}

/// What the leaf counted.
#[derive(Default, Clone, Copy)]
pub struct Counted {
    pub memory_peak: Option<u64>,
    pub pids_peak: Option<u64>,
    /// cpu.stat's user_usec, system_usec, throttled_usec.
    pub user_usec: Option<u64>,
    pub system_usec: Option<u64>,
    pub throttled_usec: Option<u64>,
    pub oom_kills: Option<u64>,
    /// pids.events' max: a fork failed at pids.max.
    pub pids_max_hit: bool,
}

/// Makes the run's leaf under the parent, with the controllers and limits asked for.
pub fn create(limits: &LimitsSlot) -> Outcome<RunCgroup> {
    let parent = parent_for(limits)?;
    let (need, want) = controllers(limits);
    let missing: Vec<&str> = need
        .iter()
        .copied()
        .filter(|c| !parent.enabled.iter().any(|e| e == c))
        .collect();
    let unavailable: Vec<&str> = need
        .iter()
        .copied()
        .filter(|c| !parent.available.iter().any(|e| e == c))
        .collect();
    let optional: Vec<&str> = want
        .iter()
        .copied()
        .filter(|c| {
            parent.available.iter().any(|e| e == c) && !parent.enabled.iter().any(|e| e == c)
        })
        .collect();
    if !missing.is_empty() {
        // Written even where cgroup.controllers lacks one: the kernel's answer is the errno.
        let text = missing
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        if let Err(errno) = write_at(parent.dir.as_raw_fd(), "cgroup.subtree_control", &text) {
            let file = format!("{}/cgroup.subtree_control", parent.path);
            let cause = if !unavailable.is_empty() {
                missing_cause(&parent, &unavailable)
            } else {
                match errno {
                    Errno::EACCES | Errno::EPERM | Errno::EROFS => {
                        permission_cause(&parent.path, "enable controllers in it")
                    }
                    Errno::EBUSY => format!(
                        "{} holds processes, and a cgroup with processes cannot hand \
                         controllers to its children (no internal processes in cgroup v2); \
                         {WHAT_TO_DO}",
                        parent.path
                    ),
                    _ => missing_cause(&parent, &missing),
                }
            };
            return Err(failure(
                errno,
                "write",
                format!("write('{file}', '{text}')"),
                cause,
                file,
            ));
        }
        remember_enabled(&parent.path, &missing);
    }
    if !optional.is_empty() {
        // For the report only: quietly without them if the parent says no.
        let text = optional
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        if write_at(parent.dir.as_raw_fd(), "cgroup.subtree_control", &text).is_ok() {
            remember_enabled(&parent.path, &optional);
        }
    }
    let files = limit_files(limits);
    // The default parent's leaves are made ahead and removed behind (keeper.rs). A cgroupParent
    // is the caller's, who may remove it once the run has returned: made and removed here.
    let kept = limits.parent_fd.is_none();
    if kept {
        if let Some(leaf) = keeper::take(&parent, &files) {
            return Ok(RunCgroup {
                leaf: Some(leaf),
                kept,
            });
        }
    }
    // A maker may have died at any time since the last run.
    remove_stale(parent.dir.as_raw_fd());
    let leaf = make_leaf(&parent, &files)?;
    if kept {
        keeper::made(&parent, &files);
    }
    Ok(RunCgroup {
        leaf: Some(leaf),
        kept,
    })
}

/// The files a leaf's limits go to, with their values.
pub(crate) type Files = Vec<(&'static str, String)>;

fn limit_files(limits: &LimitsSlot) -> Files {
    let bytes = |v: f64| format!("{}", v as u64);
    let mut files: Files = Vec::new();
    if let Some(v) = limits.memory {
        files.push(("memory.max", bytes(v)));
        // An OOM kill ends the whole run, not one process of it.
        files.push(("memory.oom.group", "1".into()));
    }
    if let Some(v) = limits.memory_swap {
        files.push(("memory.swap.max", bytes(v)));
    }
    if let Some(v) = limits.memory_high {
        files.push(("memory.high", bytes(v)));
    }
    if let Some(v) = limits.pids {
        files.push(("pids.max", bytes(v)));
    }
    // A new cgroup starts with weights of 100: a weight is written only where it differs (each
    // file is an open, a write and a close).
    if let Some(v) = &limits.cpu_max {
        files.push(("cpu.max", v.clone()));
    }
    if let Some(v) = limits.cpu_weight.filter(|&v| v != 100) {
        files.push(("cpu.weight", v.to_string()));
    }
    if let Some(v) = limits.io_weight.filter(|&v| v != 100) {
        files.push(("io.weight", format!("default {v}")));
    }
    files
}

/// Makes a leaf under `parent` with the limits `files`; on a failure nothing is left of it.
pub(crate) fn make_leaf(parent: &Parent, files: &Files) -> Outcome<Leaf> {
    let name = format!(
        "{PREFIX}{}-{}",
        own_tag(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let path = format!("{}/{name}", parent.path.trim_end_matches('/'));
    let cname = CString::new(name.as_str()).map_err(|_| Errno::EINVAL);
    let rc = match &cname {
        // SAFETY: mkdirat relative to the parent's fd.
        Ok(c) => unsafe { libc::mkdirat(parent.dir.as_raw_fd(), c.as_ptr(), 0o755) },
        Err(_) => -1,
    };
    if rc < 0 {
        let errno = Errno::last();
        let cause = match errno {
            Errno::EACCES | Errno::EPERM | Errno::EROFS => {
                permission_cause(&parent.path, "make a cgroup in it")
            }
            Errno::EAGAIN => format!("{} has reached cgroup.max.descendants", parent.path),
            _ => "the run's cgroup could not be made".into(),
        };
        return Err(failure(
            errno,
            "mkdir",
            format!("mkdir('{path}')"),
            cause,
            path,
        ));
    }
    let dir = match open_dir(parent.dir.as_raw_fd(), &name) {
        Ok(d) => d,
        Err(errno) => {
            rmdir(parent.dir.as_raw_fd(), &name);
            return Err(failure(
                errno,
                "open",
                format!("open('{path}')"),
                "the run's cgroup could not be opened".into(),
                path,
            ));
        }
    };
    let leaf = Leaf {
        dir,
        parent: parent.dir.clone(),
        name,
        path,
    };
    // From here a failure drops `leaf`, which removes it.
    for (file, value) in files {
        if let Err(errno) = write_at(leaf.dir.as_raw_fd(), file, value) {
            let full = format!("{}/{file}", leaf.path);
            let cause = match errno {
                Errno::ENOENT if *file == "memory.swap.max" => {
                    "this kernel has no swap accounting (swapaccount=0, or no swap support): \
                     leave memorySwap out"
                        .to_string()
                }
                Errno::ENOENT => {
                    // A controller disabled in the parent since it was read: read it again next time.
                    *DEFAULT_PARENT
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = None;
                    format!("{full} does not exist: the controller is missing")
                }
                Errno::EINVAL | Errno::ERANGE => format!("the kernel refused {value:?} for {file}"),
                _ => format!("the limit could not be written to {file}"),
            };
            return Err(failure(
                errno,
                "write",
                format!("write('{full}', '{value}')"),
                cause,
                full,
            ));
        }
    }
    Ok(leaf)
}

fn rmdir(parent: RawFd, name: &str) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: unlinkat relative to the parent's fd.
    unsafe { libc::unlinkat(parent, c.as_ptr(), libc::AT_REMOVEDIR) == 0 }
}

/// Kills everything in the cgroup `dir` and waits (a bounded time) until it is empty.
fn kill_all(dir: RawFd) -> bool {
    let populated = || {
        read_at(dir, "cgroup.events")
            .ok()
            .and_then(|t| field(&t, "populated"))
            .unwrap_or(0)
            != 0
    };
    if !populated() {
        return true;
    }
    // cgroup.kill (Linux 5.14+); before it, each process by pid until none is left.
    let has_kill = write_at(dir, "cgroup.kill", "1").is_ok();
    let deadline = Instant::now() + DRAIN;
    let mut pause = Duration::from_micros(200);
    while populated() {
        if !has_kill {
            for pid in read_at(dir, "cgroup.procs")
                .unwrap_or_default()
                .split_whitespace()
            {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: a signal to a process in the run's own cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    true
}

/// Serializes scans of a parent: they move its directory fd's offset, which the runs of every
/// thread share.
static SCAN: Mutex<()> = Mutex::new(());

/// The names under the directory `dir` (its own fd, whose offset this moves), read from the
/// start with getdents64: no open, no close, one call for a directory that fits in the buffer.
fn names(dir: RawFd) -> Vec<String> {
    let _scan = SCAN.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: lseek on a directory fd the caller holds.
    if unsafe { libc::lseek(dir, 0, libc::SEEK_SET) } < 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16384];
    loop {
        // SAFETY: getdents64 writes at most buf.len() bytes into buf.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len()) };
        if n <= 0 {
            break;
        }
        let n = n as usize;
        let mut at = 0;
        // linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name (NUL-ended).
        while at + 19 < n {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 || at + reclen > n {
                break;
            }
            let name = &buf[at + 19..at + reclen];
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            out.push(String::from_utf8_lossy(&name[..len]).into_owned());
            at += reclen;
        }
        // The kernel stops filling only when the next entry does not fit (a name is at most
        // 255 bytes): with room for one more left, that was the last of them.
        if n + 19 + 256 + 8 <= buf.len() {
            break;
        }
    }
    out
}

/// Removes leaves under `parent` made by processes that are gone (SIGKILLed mid-run).
fn remove_stale(parent: RawFd) {
    let own = own_tag();
    for name in names(parent) {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
            continue;
        };
        if format!("{pid}-{start}") == own {
            continue;
        }
        if start_time(pid).as_deref() == Some(start) {
            continue; // its maker still runs
        }
        if let Ok(leaf) = open_dir(parent, &name) {
            if kill_all(leaf.as_raw_fd()) {
                rmdir(parent, &name);
            }
        }
    }
}

impl RunCgroup {
    /// The leaf's directory fd, for CLONE_INTO_CGROUP, and its path.
    pub fn dir(&self) -> Option<(RawFd, &str)> {
        self.leaf
            .as_ref()
            .map(|l| (l.dir.as_raw_fd(), l.path.as_str()))
    }

    /// Reads what the leaf counted: call after the program has exited, before the drop.
    pub fn counted(&self) -> Counted {
        let Some(leaf) = &self.leaf else {
            return Counted::default();
        };
        let dir = leaf.dir.as_raw_fd();
        let num = |name: &str| {
            read_at(dir, name)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
        };
        let cpu = read_at(dir, "cpu.stat").unwrap_or_default();
        let memory_events = read_at(dir, "memory.events").ok();
        let pids_events = read_at(dir, "pids.events").unwrap_or_default();
        Counted {
            memory_peak: num("memory.peak"),
            pids_peak: num("pids.peak"),
            user_usec: field(&cpu, "user_usec"),
            system_usec: field(&cpu, "system_usec"),
            throttled_usec: field(&cpu, "throttled_usec"),
            oom_kills: memory_events.and_then(|t| field(&t, "oom_kill")),
            pids_max_hit: field(&pids_events, "max").unwrap_or(0) > 0,
        }
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        if let Some(leaf) = self.leaf.take() {
            if self.kept {
                keeper::remove_later(leaf);
            }
        }
    }
}

impl Leaf {
    /// Whether the interface file `name` is there (its controller enabled).
    fn has(&self, name: &str) -> bool {
        let Ok(c) = CString::new(name) else {
            return false;
        };
        // SAFETY: faccessat relative to the leaf's fd.
        unsafe { libc::faccessat(self.dir.as_raw_fd(), c.as_ptr(), libc::F_OK, 0) == 0 }
    }
}

impl Drop for Leaf {
    fn drop(&mut self) {
        // Mostly the program's tree has gone with it and the leaf is empty: the rmdir alone
        // tells (EBUSY while a process is left), without reading cgroup.events first.
        let parent = self.parent.as_raw_fd();
        if !rmdir(parent, &self.name) && kill_all(self.dir.as_raw_fd()) {
            rmdir(parent, &self.name);
        }
    }
}

/// Whether limits can work here: the parent a run's cgroup would be made in, and if not, why.
#[napi(object)]
pub struct LimitsSupport {
    pub ok: bool,
    /// The cgroup v2 directory runs are made in by default.
    pub parent: Option<String>,
    /// Controllers that parent can hand to a run (its cgroup.controllers).
    pub controllers: Vec<String>,
    /// Why not, in words, with what to do.
    pub cause: Option<String>,
}

pub fn probe() -> LimitsSupport {
    let parent = match parent(&LimitsSlot::default()) {
        Ok(p) => p,
        Err(f) => {
            return LimitsSupport {
                ok: false,
                parent: None,
                controllers: Vec::new(),
                cause: Some(f.message()),
            }
        }
    };
    let core = ["memory", "pids", "cpu"];
    let missing: Vec<&str> = core
        .iter()
        .copied()
        .filter(|c| !parent.available.iter().any(|a| a == c))
        .collect();
    let writable = |name: &str| {
        let Ok(c) = CString::new(name) else {
            return false;
        };
        // SAFETY: faccessat relative to the parent's fd.
        unsafe {
            libc::faccessat(
                parent.dir.as_raw_fd(),
                c.as_ptr(),
                libc::W_OK,
                libc::AT_EACCESS,
            ) == 0
        }
    };
    let cause = if !missing.is_empty() {
        Some(missing_cause(&parent, &missing))
    } else if !writable(".") || !writable("cgroup.subtree_control") {
        Some(permission_cause(&parent.path, "make a cgroup in it"))
    } else {
        None
    };
    LimitsSupport {
        ok: cause.is_none(),
        parent: Some(parent.path.clone()),
        controllers: parent.available.clone(),
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape("/sys/fs/a\\040b"), "/sys/fs/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn stat_fields_are_read_by_key() {
        let t = "usage_usec 10\nuser_usec 7\nthrottled_usec 3\n";
        assert_eq!(field(t, "user_usec"), Some(7));
        assert_eq!(field(t, "throttled_usec"), Some(3));
        assert_eq!(field(t, "nr_periods"), None);
    }

    #[test]
    fn limits_name_the_controllers_they_need() {
        let l = LimitsSlot {
            memory: Some(1.0),
            cpu_max: Some("20000 100000".into()),
            ..Default::default()
        };
        let (need, want) = controllers(&l);
        assert_eq!(need, vec!["memory", "cpu"]);
        assert_eq!(want, vec!["pids"]);
    }

    #[test]
    fn the_own_tag_carries_pid_and_start_time() {
        let tag = own_tag();
        let (pid, start) = tag.split_once('-').expect("pid-start");
        assert_eq!(pid, std::process::id().to_string());
        assert_eq!(start_time(pid).as_deref(), Some(start));
    }
}
