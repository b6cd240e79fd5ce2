//! spawn()'s plan: every string, pointer array, fd and buffer the child will use, built before
//! the clone so that the child only reads it (and writes its own scratch space).

use std::ffi::{c_char, CString};
use std::ptr;

use napi_derive::napi;

use napi::bindgen_prelude::Buffer;

use std::os::fd::{AsRawFd, OwnedFd};

use super::child::{ChildPlan, Join, LandlockPath, Rlimit, SockFprog};
use super::tree::{self, MountSlot, Tree};
use crate::errors::{Failure, Outcome};

/// glibc's execvp search path where the environment has no PATH.
const DEFAULT_PATH: &str = "/bin:/usr/bin";
/// Room for getdents64 where close_range(CLOSE_RANGE_CLOEXEC) is missing.
const DIRENTS: usize = 4096;

/// One of the child's fds as the TypeScript layer resolved it.
#[napi(object)]
pub struct StdioSlot {
    /// 'pipe' (a socketpair: the parent keeps one end), 'fd' (an fd of this process), 'null'
    /// (/dev/null) or 'close'.
    pub kind: String,
    pub fd: Option<i32>,
}

/// A namespace to enter: an open fd and its CLONE_NEW* type (0: any).
#[napi(object)]
pub struct JoinSlot {
    pub fd: i32,
    pub nstype: u32,
    /// The name shown in errors: 'net', or the path it was opened from.
    pub label: String,
}

/// spawn()'s options after the TypeScript layer has checked and normalised them.
#[napi(object)]
pub struct SpawnPlan {
    pub file: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub stdio: Vec<StdioSlot>,
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Option<Vec<u32>>,
    /// CLONE_NEW* flags.
    pub namespaces: u32,
    pub join: Vec<JoinSlot>,
    /// The text for /proc/PID/uid_map and gid_map: lines of `inside outside count`.
    pub uid_map: Option<String>,
    pub gid_map: Option<String>,
    /// 'allow' or 'deny', written to /proc/PID/setgroups before the gid map.
    pub setgroups: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub loopback: bool,
    pub pdeathsig: i32,
    pub exit_signal: i32,
    pub cgroup_fd: Option<i32>,
    /// The cgroup's path, for errors and the cgroup.procs fallback.
    pub cgroup_path: Option<String>,
    pub time_offsets: Option<String>,
    /// options.mounts, in order.
    pub mounts: Option<Vec<MountSlot>>,
    /// The content of file entries (`MountSlot::data` indexes it).
    pub files: Option<Vec<Buffer>>,
    /// 'tmpfs' or an absolute directory.
    pub rootfs: Option<String>,
    /// 'private', 'slave' or 'unchanged' (the TypeScript layer picks the default).
    pub propagation: Option<String>,
    /// chdir to `cwd` failing back to "/" (mounts, and no cwd asked for).
    pub cwd_fallback: Option<bool>,
    pub capabilities: Option<CapSlot>,
    pub no_new_privs: Option<bool>,
    /// A classic BPF program: `struct sock_filter`s, 8 bytes each.
    pub seccomp: Option<Buffer>,
    pub rlimits: Option<Vec<RlimitSlot>>,
    pub umask: Option<u32>,
    /// pid 1 is a native init that runs the program as its child.
    pub reaper: Option<bool>,
    /// A pty as the program's controlling terminal on fds 0-2 (stdio 0-2 are 'close').
    pub terminal: Option<TerminalSlot>,
    /// Install the filter refusing TIOCSTI and TIOCLINUX.
    pub tiocsti_filter: Option<bool>,
    /// With `reaper`: the init runs no program and stays until it is killed, holding the
    /// namespaces for programs that join them (createSandbox()).
    pub hold: Option<bool>,
    /// Limits for a cgroup made for the run (cgroup.rs).
    pub limits: Option<crate::cgroup::LimitsSlot>,
    /// bwrap's --block-fd: the child waits for a byte (or EOF) on it before the program starts.
    pub block_fd: Option<i32>,
    /// bwrap's --userns-block-fd: the child waits on it in its new user namespace, before any
    /// step that uses its ids, while someone outside writes the id maps.
    pub userns_block_fd: Option<i32>,
    /// bwrap's --sync-fd: a duplicate is held until the child is reaped.
    pub sync_fd: Option<i32>,
    /// Landlock rules, applied at step 22b.
    pub landlock: Option<crate::landlock::LandlockSlot>,
    /// Forwarded ports: listening sockets made in the program's network namespace (step 7b).
    pub forwards: Option<Vec<ForwardSlot>>,
}

/// One of options.forwards: an IPv4 address as a number, a port and a backlog.
#[napi(object)]
pub struct ForwardSlot {
    pub addr: u32,
    pub port: u32,
    pub backlog: i32,
}

impl ForwardSlot {
    /// Where the child listens for it.
    pub fn listen_at(&self) -> crate::listen::ListenAt {
        crate::listen::ListenAt {
            addr: self.addr,
            port: self.port.min(65535) as u16,
            backlog: self.backlog,
        }
    }
}

/// options.terminal's size.
#[napi(object)]
pub struct TerminalSlot {
    pub cols: u32,
    pub rows: u32,
}

/// options.capabilities, as capability numbers.
#[napi(object)]
pub struct CapSlot {
    /// What stays permitted, effective and inheritable; none: all the child has.
    pub keep: Option<Vec<u32>>,
    pub ambient: Option<Vec<u32>>,
    /// What the bounding set keeps; none: the same as `keep`.
    pub bounding: Option<Vec<u32>>,
}

/// One of options.rlimits: a resource number and its limits (-1: unlimited).
#[napi(object)]
pub struct RlimitSlot {
    pub resource: u32,
    pub name: String,
    pub soft: f64,
    /// None: the current hard limit stays.
    pub hard: Option<f64>,
}

/// A plan ready for the clone. Owns everything `child` points into; must not be dropped before
/// the child has exec'd or exited.
pub struct Prepared {
    _strings: Vec<CString>,
    _paths: Vec<*const c_char>,
    _argv: Vec<*const c_char>,
    _envp: Vec<*const c_char>,
    _fds: Vec<i32>,
    _scratch: Vec<i32>,
    _joins: Vec<Join>,
    _groups: Vec<u32>,
    _text: Vec<Vec<u8>>,
    _dirents: Vec<u8>,
    _path_buf: Vec<u8>,
    _rlimits: Vec<Rlimit>,
    _seccomp: Option<(Vec<u8>, Box<SockFprog>)>,
    _tty_filter: Option<(Vec<u8>, Box<SockFprog>)>,
    _tty_slave: Box<i32>,
    _landlock: Option<(OwnedFd, Vec<LandlockPath>)>,
    _forwards: Vec<crate::listen::ListenAt>,
    _forward_cmsg: Vec<u64>,
    pub tree: Tree,
    pub child: Box<ChildPlan>,
}

/// The highest capability number this kernel knows, read once.
pub fn cap_last() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

fn cap_mask(caps: &[u32], last: u32, what: &str) -> Outcome<u64> {
    let mut mask = 0u64;
    for &cap in caps {
        if cap > last || cap >= 64 {
            return Err(Failure::ArgValue(format!(
                "The property 'options.capabilities.{what}' names capability {cap}, which this \
                 kernel does not have (its last is {last}). Received {cap}"
            )));
        }
        mask |= 1 << cap;
    }
    Ok(mask)
}

fn limit(v: f64) -> u64 {
    if v < 0.0 {
        u64::MAX
    } else {
        v as u64
    }
}

fn c_string(s: &str, what: &str) -> Outcome<CString> {
    CString::new(s).map_err(|_| {
        Failure::ArgValue(format!(
            "The argument '{what}' must be a string without null bytes. Received {s:?}"
        ))
    })
}

/// The paths execve tries for `file`: itself if it names a path, else each PATH entry, as
/// execvp(3) searches them (an empty entry is the working directory).
pub fn candidates(file: &str, env: &[String]) -> Vec<String> {
    if file.contains('/') {
        return vec![file.to_string()];
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|dir| match dir {
            "" => file.to_string(),
            d if d.ends_with('/') => format!("{d}{file}"),
            d => format!("{d}/{file}"),
        })
        .collect()
}

/// `fds[i]`: the fd child fd i becomes (-1: closed), for the child's shuffle.
pub fn prepare(
    plan: &SpawnPlan,
    fds: Vec<i32>,
    sync_fd: i32,
    err_fd: i32,
    send_sock: i32,
    wait_for_parent: bool,
) -> Outcome<Prepared> {
    if plan.file.is_empty() {
        return Err(Failure::ArgValue(
            "The argument 'file' cannot be empty. Received ''".into(),
        ));
    }
    let mut strings = Vec::new();
    let mut pointers = |list: &[String], what: &str| -> Outcome<Vec<*const c_char>> {
        let mut out = Vec::with_capacity(list.len() + 1);
        for s in list {
            let c = c_string(s, what)?;
            out.push(c.as_ptr());
            strings.push(c);
        }
        out.push(ptr::null());
        Ok(out)
    };
    let paths = pointers(&candidates(&plan.file, &plan.env), "file")?;
    let argv = pointers(&plan.args, "args")?;
    let envp = pointers(&plan.env, "env")?;
    let cwd = match &plan.cwd {
        Some(dir) => {
            let c = c_string(dir, "options.cwd")?;
            let p = c.as_ptr();
            strings.push(c);
            p
        }
        None => ptr::null(),
    };
    let mut joins: Vec<Join> = plan
        .join
        .iter()
        .map(|j| Join {
            fd: j.fd,
            nstype: j.nstype as i32,
        })
        .collect();
    joins.shrink_to_fit();
    let groups = plan.groups.clone().unwrap_or_default();
    let mut text: Vec<Vec<u8>> = Vec::new();
    let mut bytes = |s: &Option<String>| -> (*const u8, usize) {
        match s {
            Some(s) => {
                let v = s.as_bytes().to_vec();
                let out = (v.as_ptr(), v.len());
                text.push(v);
                out
            }
            None => (ptr::null(), 0),
        }
    };
    let offsets = plan.time_offsets.clone().filter(|t| !t.is_empty());
    let (timens, timens_len) = bytes(&offsets);
    let (hostname, hostname_len) = bytes(&plan.hostname);
    let (domainname, domainname_len) = bytes(&plan.domainname);
    let mut scratch = vec![0i32; fds.len()];
    let mut dirents = vec![0u8; DIRENTS];
    let tree = tree::of_plan(plan)?;
    // Sources under an earlier entry's target are read in the host's tree, through a root
    // built on a tmpfs over /tmp: with the host's propagation that tmpfs would appear there.
    if plan.propagation.as_deref() == Some("unchanged") && tree.rootfs != super::child::ROOTFS_NONE
    {
        return Err(Failure::ArgValue(
            "The property 'options.propagation' cannot be 'unchanged' here: an entry's source is \
             under an earlier entry's target, so the sources are read in this host's tree \
             through a root built on a tmpfs over /tmp, which would be mounted on this host's \
             /tmp too; use 'private' or 'slave', or order the entries so that no source is \
             covered. Received 'unchanged'"
                .into(),
        ));
    }
    // Room for a target while making directories, and for a mount point of /proc/self/mountinfo
    // where mount attributes are set by remounts (before Linux 5.12).
    let mut path_buf = vec![0u8; (tree.longest + 1).max(4096)];
    let propagation = match plan.propagation.as_deref() {
        Some("private") => (libc::MS_REC | libc::MS_PRIVATE) as usize,
        Some("slave") => (libc::MS_REC | libc::MS_SLAVE) as usize,
        _ => 0,
    };
    let rlimits: Vec<Rlimit> = plan
        .rlimits
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|r| Rlimit {
            resource: r.resource,
            soft: limit(r.soft),
            hard: r.hard.map_or(0, limit),
            keep_hard: r.hard.is_none(),
        })
        .collect();
    let last = cap_last();
    let (caps, caps_keep, caps_all, caps_ambient, caps_bounding) = match &plan.capabilities {
        None => (false, 0, false, 0, 0),
        Some(c) => {
            let keep = match &c.keep {
                Some(k) => Some(cap_mask(k, last, "keep")?),
                None => None,
            };
            let ambient = cap_mask(c.ambient.as_deref().unwrap_or(&[]), last, "ambient")?;
            let bounding = match &c.bounding {
                Some(b) => cap_mask(b, last, "bounding")?,
                None => keep.unwrap_or(u64::MAX),
            };
            (true, keep.unwrap_or(0), keep.is_none(), ambient, bounding)
        }
    };
    let program = |bytes: Vec<u8>| {
        let fprog = Box::new(SockFprog {
            len: (bytes.len() / 8) as u16,
            filter: bytes.as_ptr(),
        });
        (bytes, fprog)
    };
    let seccomp = plan.seccomp.as_ref().map(|prog| program(prog.to_vec()));
    let tty_filter = plan
        .tiocsti_filter
        .unwrap_or(false)
        .then(|| program(super::terminal::tiocsti_filter()));
    let mut tty_slave = Box::new(-1i32);
    let winsize = plan.terminal.as_ref().map_or([0; 4], |t| {
        [t.rows.min(65535) as u16, t.cols.min(65535) as u16, 0, 0]
    });
    // The ruleset is made here; its path rules are added by the child (step 22b), where the
    // paths are seen as the program will see them, after its mounts and new root.
    let landlock = match &plan.landlock {
        Some(slot) => {
            let resolved = crate::landlock::resolve(slot)?;
            if slot.require {
                if let Some(f) = crate::landlock::require_failure(&resolved) {
                    return Err(f);
                }
            }
            if resolved.enforces() {
                let fd = crate::landlock::create(&resolved, slot)?;
                let mut paths = Vec::with_capacity(resolved.paths.len());
                for (path, access) in &resolved.paths {
                    let c = c_string(path, "options.landlock.fs")?;
                    paths.push(LandlockPath {
                        path: c.as_ptr(),
                        access: *access,
                    });
                    strings.push(c);
                }
                Some((fd, paths))
            } else {
                None
            }
        }
        None => None,
    };
    let forwards: Vec<crate::listen::ListenAt> = plan
        .forwards
        .iter()
        .flatten()
        .map(ForwardSlot::listen_at)
        .collect();
    // The control message that takes every forward's socket to the parent at once: its header
    // here, its fds from the child. u64s, for the alignment a cmsghdr needs.
    let nfwd = forwards.len() as u32;
    // SAFETY: CMSG_SPACE and CMSG_LEN are arithmetic.
    let (space, cmsg_len) = unsafe {
        (
            libc::CMSG_SPACE(nfwd * 4) as usize,
            libc::CMSG_LEN(nfwd * 4) as usize,
        )
    };
    let mut forward_cmsg = vec![0u64; space.div_ceil(8)];
    let forward_fds = if nfwd > 0 {
        // SAFETY: a msghdr over our own buffer, which has room for the header and nfwd fds.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_control = forward_cmsg.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let header = libc::CMSG_FIRSTHDR(&msg);
            (*header).cmsg_len = cmsg_len as _;
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            libc::CMSG_DATA(header) as *mut i32
        }
    } else {
        ptr::null_mut()
    };
    let opt = |c: &Option<CString>| c.as_ref().map_or(ptr::null(), |c| c.as_ptr());
    let child = Box::new(ChildPlan {
        paths: paths.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd,
        fds: fds.as_ptr(),
        nfds: fds.len(),
        scratch: scratch.as_mut_ptr(),
        joins: joins.as_ptr(),
        njoins: joins.len(),
        unshare: plan.namespaces & libc::CLONE_NEWTIME as u32,
        timens,
        timens_len,
        hostname,
        hostname_len,
        domainname,
        domainname_len,
        loopback: plan.loopback,
        groups: groups.as_ptr(),
        ngroups: plan.groups.as_ref().map_or(-1, |g| g.len() as isize),
        gid: plan.gid.map_or(-1, i64::from),
        uid: plan.uid.map_or(-1, i64::from),
        // With a terminal, step 24b makes the program's session; a reaper leaves the caller's
        // too, or its terminal's Ctrl-C would reach pid 1 and be passed on to the program.
        setsid: match plan.terminal {
            Some(_) => plan.reaper.unwrap_or(false),
            None => plan.detached,
        },
        pdeathsig: plan.pdeathsig,
        sync_fd,
        wait_for_parent,
        late_unshare: 0,
        err_fd,
        grandchild_stack: 0,
        grandchild_copies: false,
        dirents: dirents.as_mut_ptr(),
        dirents_len: dirents.len(),
        propagation,
        rootfs: tree.rootfs,
        rootfs_dir: opt(&tree.rootfs_dir),
        rootfs_attr: tree.rootfs_attr,
        base: opt(&tree.base),
        base_new: opt(&tree.base_new),
        base_old: opt(&tree.base_old),
        ops: tree.ops.as_ptr(),
        nops: tree.ops.len(),
        path_buf: path_buf.as_mut_ptr(),
        path_buf_len: path_buf.len(),
        cwd_fallback: plan.cwd_fallback.unwrap_or(false),
        rlimits: rlimits.as_ptr(),
        nrlimits: rlimits.len(),
        caps,
        caps_keep,
        caps_all,
        caps_ambient,
        caps_bounding,
        cap_last: last,
        umask: plan.umask.map_or(-1, |m| m as i32),
        no_new_privs: plan.no_new_privs.unwrap_or(false),
        seccomp: seccomp
            .as_ref()
            .map_or(ptr::null(), |(_, f)| &**f as *const SockFprog),
        terminal: plan.terminal.is_some(),
        send_sock,
        forwards: forwards.as_ptr(),
        nforwards: forwards.len(),
        forward_cmsg: forward_cmsg.as_mut_ptr().cast(),
        forward_cmsg_len: space,
        forward_fds,
        winsize,
        tty_slave: &mut *tty_slave,
        tty_filter: tty_filter
            .as_ref()
            .map_or(ptr::null(), |(_, f)| &**f as *const SockFprog),
        landlock_fd: landlock.as_ref().map_or(-1, |(fd, _)| fd.as_raw_fd()),
        landlock_paths: landlock
            .as_ref()
            .map_or(ptr::null(), |(_, paths)| paths.as_ptr()),
        nlandlock: landlock.as_ref().map_or(0, |(_, paths)| paths.len()),
        landlock_file_rights: crate::landlock::file_rights(),
        reaper: plan.reaper.unwrap_or(false),
        record: ptr::null_mut(),
        hold: plan.reaper.unwrap_or(false) && plan.hold.unwrap_or(false),
        program_stack: 0,
        reaper_keep: [(0, 0); 3],
        reaper_trim: false,
        userns_block_fd: -1,
        block_fd: -1,
    });
    Ok(Prepared {
        _strings: strings,
        _paths: paths,
        _argv: argv,
        _envp: envp,
        _fds: fds,
        _scratch: scratch,
        _joins: joins,
        _groups: groups,
        _text: text,
        _dirents: dirents,
        _path_buf: path_buf,
        _rlimits: rlimits,
        _seccomp: seccomp,
        _tty_filter: tty_filter,
        _tty_slave: tty_slave,
        _landlock: landlock,
        _forwards: forwards,
        _forward_cmsg: forward_cmsg,
        tree,
        child,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_search_follows_execvp() {
        let env = vec!["PATH=/a:/b/::/c".to_string()];
        assert_eq!(
            candidates("ls", &env),
            vec!["/a/ls", "/b/ls", "ls", "/c/ls"]
        );
        assert_eq!(candidates("./x", &env), vec!["./x"]);
        assert_eq!(candidates("ls", &[]), vec!["/bin/ls", "/usr/bin/ls"]);
    }
}
