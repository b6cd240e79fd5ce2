//! Landlock: which rights a ruleset handles on this kernel, what was dropped, and the ruleset
//! itself. The access rights, their groups and the ABI each came with are the `landlock`
//! crate's; the ruleset is created here (before a spawn's clone, or in a clone() callback) and
//! the path rules are added where the paths are seen as the program will see them.

use std::os::fd::{AsRawFd, OwnedFd};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, NetPort, Ruleset, RulesetAttr, RulesetCreatedAttr,
    Scope, ABI,
};
use napi_derive::napi;
use nix::errno::Errno;

use crate::errors::{Failure, Outcome};

/// The ABIs the crate knows, oldest first, with the Linux release that brought each.
const ABIS: [(ABI, &str); 10] = [
    (ABI::V1, "5.13"),
    (ABI::V2, "5.19"),
    (ABI::V3, "6.2"),
    (ABI::V4, "6.7"),
    (ABI::V5, "6.10"),
    (ABI::V6, "6.12"),
    (ABI::V7, "6.15"),
    (ABI::V8, "7.0"),
    (ABI::V9, "7.1"),
    (ABI::V10, "7.2"),
];
const LATEST: ABI = ABI::V10;

/// landlock_create_ruleset(2)'s flag that asks for the ABI version.
const CREATE_RULESET_VERSION: usize = 1;
/// landlock_add_rule(2)'s rule type for a path.
pub const RULE_PATH_BENEATH: usize = 1;

/// Landlock rules as the TypeScript layer normalised them.
#[napi(object)]
pub struct LandlockSlot {
    /// Whether filesystem rights are handled (options.landlock.fs was given).
    pub fs: bool,
    pub paths: Vec<LandlockPathSlot>,
    /// TCP ports the program may connect to; none: connecting is not handled.
    pub connect: Option<Vec<u32>>,
    /// TCP ports the program may bind; none: binding is not handled.
    pub bind: Option<Vec<u32>>,
    /// 'abstract-unix-socket', 'signal'.
    pub scope: Vec<String>,
    /// compatibility 'require': fail rather than drop what this kernel cannot enforce.
    pub require: bool,
}

/// A path and the rights granted beneath it: raw right names, or 'read', 'write', 'execute'.
#[napi(object)]
pub struct LandlockPathSlot {
    pub path: String,
    pub access: Vec<String>,
}

/// What a ruleset enforces on this kernel (`confinement.landlock`).
#[napi(object)]
pub struct LandlockReport {
    /// The kernel's Landlock ABI version (0: Landlock is not available).
    pub abi: u32,
    /// Why Landlock is not available, where it is not.
    pub unavailable: Option<String>,
    /// Filesystem rights handled: denied unless a rule grants them.
    pub fs: Vec<String>,
    /// Network rights handled ('bind_tcp', 'connect_tcp').
    pub net: Vec<String>,
    /// Scopes enforced ('abstract-unix-socket', 'signal').
    pub scope: Vec<String>,
    /// What was asked for but this kernel cannot enforce, with the ABI and Linux release that
    /// brings it: 'fs.truncate (ABI 3, Linux 6.2)'.
    pub dropped: Vec<String>,
}

/// The kernel's ABI version, or the errno that says why there is none; asked once (it cannot
/// change while the kernel runs).
pub fn kernel_abi() -> Result<u32, Errno> {
    static ABI_VERSION: std::sync::OnceLock<Result<u32, Errno>> = std::sync::OnceLock::new();
    *ABI_VERSION.get_or_init(query_abi)
}

fn query_abi() -> Result<u32, Errno> {
    // SAFETY: a query that takes no memory.
    let v = unsafe {
        crate::sys::syscall(
            libc::SYS_landlock_create_ruleset,
            0,
            0,
            CREATE_RULESET_VERSION,
            0,
        )
    };
    if v < 0 {
        Err(Errno::from_raw(-v as i32))
    } else {
        Ok(v as u32)
    }
}

pub fn unavailable_cause(errno: Errno) -> String {
    match errno {
        Errno::ENOSYS => "this kernel has no Landlock (Linux 5.13+ built with CONFIG_SECURITY_LANDLOCK)".into(),
        Errno::EOPNOTSUPP => "Landlock is built into this kernel but not enabled: add landlock to the lsm= boot parameter".into(),
        e => format!("landlock_create_ruleset failed with {}", crate::errors::errno_code(e)),
    }
}

fn abi_of(version: u32) -> ABI {
    match version {
        0 => ABI::Unsupported,
        v => ABIS[(v as usize).min(ABIS.len()) - 1].0,
    }
}

/// The first ABI whose set (by `set`) holds `bit`, with its Linux release.
fn since(set: impl Fn(ABI) -> u64, bit: u64) -> String {
    ABIS.iter()
        .enumerate()
        .find(|(_, (abi, _))| set(*abi) & bit != 0)
        .map_or_else(String::new, |(i, (_, linux))| {
            format!(" (ABI {}, Linux {linux})", i + 1)
        })
}

/// 'ReadFile' -> 'read_file', the kernel's LANDLOCK_ACCESS_FS_READ_FILE in lower case.
fn snake(debug: String) -> String {
    let mut out = String::new();
    for (i, ch) in debug.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn fs_names(bits: u64) -> Vec<String> {
    BitFlags::<AccessFs>::from_bits_truncate(bits)
        .iter()
        .map(|a| snake(format!("{a:?}")))
        .collect()
}

fn net_names(bits: u64) -> Vec<String> {
    BitFlags::<AccessNet>::from_bits_truncate(bits)
        .iter()
        .map(|a| snake(format!("{a:?}")))
        .collect()
}

const SCOPES: [(&str, Scope); 2] = [
    ("abstract-unix-socket", Scope::AbstractUnixSocket),
    ("signal", Scope::Signal),
];

fn scope_names(bits: u64) -> Vec<String> {
    SCOPES
        .iter()
        .filter(|(_, s)| bits & *s as u64 != 0)
        .map(|(n, _)| n.to_string())
        .collect()
}

fn all_fs(abi: ABI) -> u64 {
    AccessFs::from_all(abi).bits()
}

/// The groups users think in: read = read_file + read_dir; write = writing, making, removing,
/// truncating and moving (refer) files, and read; execute = execute and read.
fn group(name: &str) -> Option<u64> {
    use AccessFs::*;
    let read = (ReadFile | ReadDir).bits();
    let write = WriteFile
        | RemoveDir
        | RemoveFile
        | MakeChar
        | MakeDir
        | MakeReg
        | MakeSock
        | MakeFifo
        | MakeBlock
        | MakeSym
        | Refer
        | Truncate;
    match name {
        "read" => Some(read),
        "write" => Some(write.bits() | read),
        "execute" => Some(AccessFs::Execute as u64 | read),
        _ => None,
    }
}

/// A right by its name ('read_file'), or a group.
fn right(name: &str) -> Option<u64> {
    group(name).or_else(|| {
        AccessFs::from_all(LATEST)
            .iter()
            .find(|a| snake(format!("{a:?}")) == name)
            .map(|a| a as u64)
    })
}

/// The rights that apply to a file that is not a directory (the rest are refused for it).
pub fn file_rights() -> u64 {
    AccessFs::from_file(LATEST).bits()
}

/// Every raw right name, for errors and the TypeScript types' check.
pub fn right_names() -> Vec<String> {
    fs_names(all_fs(LATEST))
}

/// What the rules ask for, against what this kernel enforces.
pub struct Resolved {
    pub abi: u32,
    pub unavailable: Option<Errno>,
    pub fs: u64,
    pub net: u64,
    pub scope: u64,
    pub dropped: Vec<String>,
    /// What the options name (a right a rule grants, a network rule, a scope) that this kernel
    /// cannot enforce: what compatibility 'require' refuses.
    pub missing: Vec<String>,
    /// Each path with the rights granted beneath it, limited to the handled ones.
    pub paths: Vec<(String, u64)>,
}

impl Resolved {
    pub fn report(&self) -> LandlockReport {
        LandlockReport {
            abi: self.abi,
            unavailable: self.unavailable.map(unavailable_cause),
            fs: fs_names(self.fs),
            net: net_names(self.net),
            scope: scope_names(self.scope),
            dropped: self.dropped.clone(),
        }
    }

    /// Whether anything is left to enforce.
    pub fn enforces(&self) -> bool {
        self.fs | self.net | self.scope != 0
    }
}

pub fn resolve(slot: &LandlockSlot) -> Outcome<Resolved> {
    let (version, unavailable) = match kernel_abi() {
        Ok(v) => (v, None),
        Err(e) => (0, Some(e)),
    };
    let abi = abi_of(version);
    let mut dropped = Vec::new();
    let mut missing = Vec::new();

    // Every right this kernel has is handled, so that nothing a rule does not grant is allowed.
    let mut fs = 0;
    if slot.fs {
        let want = all_fs(LATEST);
        fs = want & all_fs(abi);
        for name in fs_names(want & !fs) {
            let bit = right(&name).unwrap_or(0);
            dropped.push(format!("fs.{name}{}", since(all_fs, bit)));
        }
    }
    let mut named = 0;
    let mut paths = Vec::with_capacity(slot.paths.len());
    for (i, p) in slot.paths.iter().enumerate() {
        let mut access = 0;
        for name in &p.access {
            access |= right(name).ok_or_else(|| {
                Failure::ArgValue(format!(
                    "The property 'options.landlock.fs.rights[{i}].access' names '{name}', which \
                     is not a Landlock right ({})",
                    right_names().join(", ")
                ))
            })?;
        }
        named |= access;
        paths.push((p.path.clone(), access & fs));
    }
    for name in fs_names(named & !fs) {
        let bit = right(&name).unwrap_or(0);
        missing.push(format!("fs.{name}{}", since(all_fs, bit)));
    }

    let net_all = |abi: ABI| AccessNet::from_all(abi).bits();
    let mut net = 0;
    for (list, bit) in [
        (&slot.connect, AccessNet::ConnectTcp as u64),
        (&slot.bind, AccessNet::BindTcp as u64),
    ] {
        if list.is_some() {
            if net_all(abi) & bit != 0 {
                net |= bit;
            } else {
                let what = format!("net.{}{}", net_names(bit).join(""), since(net_all, bit));
                missing.push(what.clone());
                dropped.push(what);
            }
        }
    }

    let scope_all = |abi: ABI| landlock::Scope::from_all(abi).bits();
    let mut scope = 0;
    for name in &slot.scope {
        let bit = SCOPES
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s as u64)
            .ok_or_else(|| {
                Failure::ArgValue(format!(
                    "The property 'options.landlock.scope' names '{name}', which is not a \
                     Landlock scope ('abstract-unix-socket', 'signal')"
                ))
            })?;
        if scope_all(abi) & bit != 0 {
            scope |= bit;
        } else {
            let what = format!("scope.{name}{}", since(scope_all, bit));
            missing.push(what.clone());
            dropped.push(what);
        }
    }

    let asked = slot.fs || slot.connect.is_some() || slot.bind.is_some() || !slot.scope.is_empty();
    if version == 0 && asked {
        missing.insert(0, "landlock (ABI 1, Linux 5.13)".into());
    }
    Ok(Resolved {
        abi: version,
        unavailable,
        fs,
        net,
        scope,
        dropped,
        missing,
        paths,
    })
}

/// The failure of compatibility 'require' where this kernel cannot enforce everything.
pub fn require_failure(r: &Resolved) -> Option<Failure> {
    if r.missing.is_empty() {
        return None;
    }
    let (errno, have) = match r.unavailable {
        Some(e) => (e, unavailable_cause(e)),
        None => (
            Errno::EOPNOTSUPP,
            format!("this kernel's Landlock ABI is {}", r.abi),
        ),
    };
    let shown: Vec<&str> = r.missing.iter().take(4).map(String::as_str).collect();
    let more = match r.missing.len() {
        n if n > 4 => format!(" and {} more", n - 4),
        _ => String::new(),
    };
    Some(Failure::Spawn {
        errno,
        step: "landlock",
        index: None,
        syscall: "landlock_create_ruleset",
        call: "landlock_create_ruleset()".into(),
        cause: Some(format!(
            "compatibility 'require' asks for {}{more}, which this kernel cannot enforce: {have} \
             (use compatibility 'best-effort' to apply what it can)",
            shown.join(", ")
        )),
        path: None,
    })
}

/// A ruleset handling what `r` enforces, with its network rules; path rules are added later,
/// where the paths are seen as the program sees them.
pub fn create(r: &Resolved, slot: &LandlockSlot) -> Outcome<OwnedFd> {
    let fail = |e: landlock::RulesetError| {
        let errno = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .and_then(|io| io.raw_os_error())
            .map_or(Errno::EINVAL, Errno::from_raw);
        fail_plain(errno, format!("the ruleset could not be made: {e}"))
    };
    let mut ruleset = Ruleset::default();
    if r.fs != 0 {
        ruleset = ruleset
            .handle_access(BitFlags::<AccessFs>::from_bits_truncate(r.fs))
            .map_err(fail)?;
    }
    if r.net != 0 {
        ruleset = ruleset
            .handle_access(BitFlags::<AccessNet>::from_bits_truncate(r.net))
            .map_err(fail)?;
    }
    if r.scope != 0 {
        ruleset = ruleset
            .scope(BitFlags::<Scope>::from_bits_truncate(r.scope))
            .map_err(fail)?;
    }
    let mut created = ruleset.create().map_err(fail)?;
    for (list, access) in [
        (&slot.connect, AccessNet::ConnectTcp),
        (&slot.bind, AccessNet::BindTcp),
    ] {
        if r.net & access as u64 == 0 {
            continue;
        }
        for &port in list.as_deref().unwrap_or(&[]) {
            created = created
                .add_rule(NetPort::new(port as u16, access))
                .map_err(fail)?;
        }
    }
    let fd: Option<OwnedFd> = created.into();
    fd.ok_or_else(|| {
        fail_plain(
            Errno::EOPNOTSUPP,
            "Landlock gave no ruleset on this kernel".into(),
        )
    })
}

fn fail_plain(errno: Errno, cause: String) -> Failure {
    Failure::Spawn {
        errno,
        step: "landlock",
        index: None,
        syscall: "landlock_create_ruleset",
        call: "landlock_create_ruleset()".into(),
        cause: Some(cause),
        path: None,
    }
}

/// landlock_add_rule(2)'s path rule (packed, as the kernel defines it).
#[repr(C, packed)]
pub struct PathBeneathAttr {
    pub allowed_access: u64,
    pub parent_fd: i32,
}

/// Restricts the calling thread (a clone() callback's child): path rules added here, then
/// no_new_privs unless the thread may do without, then landlock_restrict_self.
pub fn restrict_self(slot: &LandlockSlot) -> Outcome<LandlockReport> {
    let r = resolve(slot)?;
    if slot.require {
        if let Some(f) = require_failure(&r) {
            return Err(f);
        }
    }
    if !r.enforces() {
        return Ok(r.report());
    }
    let ruleset = create(&r, slot)?;
    for (i, (path, access)) in r.paths.iter().enumerate() {
        if *access == 0 {
            continue;
        }
        let at = |errno: Errno, syscall: &'static str, cause: String| Failure::Spawn {
            errno,
            step: "landlock",
            index: Some(i as u32),
            syscall,
            call: format!("{syscall}('{path}')"),
            cause: Some(cause),
            path: Some(path.clone()),
        };
        let fd = nix::fcntl::open(
            path.as_str(),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| at(e, "open", path_cause(e)))?;
        let is_dir = nix::sys::stat::fstat(&fd)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .unwrap_or(true);
        let attr = PathBeneathAttr {
            allowed_access: if is_dir {
                *access
            } else {
                access & file_rights()
            },
            parent_fd: fd.as_raw_fd(),
        };
        // SAFETY: the ruleset and path fds are open; attr is the kernel's layout.
        let rc = unsafe {
            crate::sys::syscall(
                libc::SYS_landlock_add_rule,
                ruleset.as_raw_fd() as usize,
                RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr as usize,
                0,
            )
        };
        if rc < 0 {
            let e = Errno::from_raw(-rc as i32);
            return Err(at(e, "landlock_add_rule", add_rule_cause(e)));
        }
    }
    // SAFETY: prctl on the calling thread only.
    let rc = unsafe {
        crate::sys::syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0, 0)
    };
    if rc < 0 {
        let e = Errno::from_raw(-rc as i32);
        return Err(fail_plain(e, "PR_SET_NO_NEW_PRIVS failed".into()));
    }
    // SAFETY: restricts the calling thread with the ruleset made above.
    let rc = unsafe {
        crate::sys::syscall(
            libc::SYS_landlock_restrict_self,
            ruleset.as_raw_fd() as usize,
            0,
            0,
            0,
        )
    };
    if rc < 0 {
        let e = Errno::from_raw(-rc as i32);
        return Err(Failure::Spawn {
            errno: e,
            step: "landlock",
            index: None,
            syscall: "landlock_restrict_self",
            call: "landlock_restrict_self()".into(),
            cause: Some(restrict_cause(e)),
            path: None,
        });
    }
    Ok(r.report())
}

pub fn path_cause(e: Errno) -> String {
    match e {
        Errno::ENOENT => "the path does not exist where the program will see it".into(),
        Errno::EACCES => {
            "a directory above the path cannot be searched by the program's user".into()
        }
        Errno::ENOTDIR => "a component of the path is not a directory".into(),
        _ => "the path could not be opened (O_PATH)".into(),
    }
}

pub fn add_rule_cause(e: Errno) -> String {
    match e {
        Errno::EINVAL => "the rights do not apply to this kind of file".into(),
        Errno::EBADFD | Errno::EBADF => "the path is on a filesystem Landlock cannot tag (a pseudo-filesystem such as nsfs or pipefs)".into(),
        _ => "Landlock refused the rule".into(),
    }
}

pub fn restrict_cause(e: Errno) -> String {
    match e {
        Errno::EPERM => "Landlock needs no_new_privs (or CAP_SYS_ADMIN in the user namespace): leave noNewPrivs on".into(),
        Errno::E2BIG => "the thread already has the most Landlock layers the kernel allows (16)".into(),
        _ => "Landlock refused to restrict the program".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_kernel() {
        let names = right_names();
        for n in [
            "execute",
            "write_file",
            "read_file",
            "read_dir",
            "make_reg",
            "refer",
            "truncate",
            "ioctl_dev",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
        assert_eq!(
            group("read"),
            Some(AccessFs::ReadFile as u64 | AccessFs::ReadDir as u64)
        );
        assert_eq!(right("write_file"), Some(AccessFs::WriteFile as u64));
        assert_eq!(right("nonsense"), None);
        assert_eq!(
            since(all_fs, AccessFs::Truncate as u64),
            " (ABI 3, Linux 6.2)"
        );
    }
}

/// What `slot` enforces on this kernel (never fails for compatibility: spawn() does).
#[napi(js_name = "_landlockResolve")]
pub fn landlock_resolve(env: napi::Env, slot: LandlockSlot) -> napi::Result<LandlockReport> {
    crate::errors::to_js(&env, resolve(&slot).map(|r| r.report()))
}

/// Landlock for the calling clone() child (the TypeScript layer's landlockRestrictSelf).
#[napi(js_name = "_landlockRestrictSelf")]
pub fn landlock_restrict_self(env: napi::Env, slot: LandlockSlot) -> napi::Result<LandlockReport> {
    let outcome = if crate::clone::in_clone_child() {
        restrict_self(&slot)
    } else {
        Err(Failure::Refused {
            code: crate::errors::UNSAFE_WITH_THREADS,
            syscall: "landlock_restrict_self",
            call: "landlock_restrict_self()".into(),
            why: "Landlock restricts only the calling thread, and Node.js is multithreaded: this \
                  thread would be confined while Node's other threads (the libuv threadpool \
                  that serves async fs, Workers) are not, and could not be undone. Call it in a \
                  clone() callback (the child only), or confine a program with \
                  spawn({ landlock })"
                .into(),
        })
    };
    crate::errors::to_js(&env, outcome)
}
