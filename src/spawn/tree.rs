//! The child's filesystem, prepared: `options.mounts` (and `rootfs`) turned into mount ops with
//! the paths the child will use, and, for each target, whether a missing one may be created.
//!
//! A missing target is only ever made on a mount this spawn made itself (a tmpfs, the /dev
//! tmpfs, an empty root), never on a directory of the host: that is decided here, from the
//! order of the entries, before the clone. The child only checks whether the target exists.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::ptr;

use napi_derive::napi;

use super::child::{
    MountOp, OpKind, CREATE_DIR, CREATE_FILE, CREATE_LIKE_SOURCE, CREATE_NONE, MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, ROOTFS_DIR, ROOTFS_NONE, ROOTFS_TMPFS,
};
use crate::errors::{Failure, Outcome};

/// One entry of `options.mounts`, as the TypeScript layer checked it.
#[napi(object)]
pub struct MountSlot {
    /// 'bind', 'tmpfs', 'proc', 'dev', 'mqueue', 'dir', 'symlink', 'file', 'remount',
    /// 'overlay' or 'chmod'.
    pub kind: String,
    /// A bind's source: absolute, resolved in the old root.
    pub source: Option<String>,
    /// Absolute and normalised, in the new root.
    pub target: String,
    pub readonly: Option<bool>,
    pub recursive: Option<bool>,
    pub devices: Option<bool>,
    pub optional: Option<bool>,
    /// A tmpfs's size in bytes.
    pub size: Option<f64>,
    pub mode: Option<u32>,
    pub link_to: Option<String>,
    /// A file entry's content: its index in the plan's `files`.
    pub data: Option<u32>,
    /// An overlay's lower directories, the topmost first; absolute, resolved in the old root.
    pub lower: Option<Vec<String>>,
    /// An overlay's upper directory ('tmpfs': one on a tmpfs of the spawn's own), and its work
    /// directory; none: a read-only overlay.
    pub upper: Option<String>,
    pub work: Option<String>,
}

/// What an op is, for error messages.
pub struct OpInfo {
    /// 'bind', 'tmpfs', 'proc', 'dev', 'devpts', ...
    pub what: &'static str,
    /// As the caller named them.
    pub source: Option<String>,
    pub target: String,
    pub flags: &'static str,
}

/// The ops and everything they point into.
#[derive(Default)]
pub struct Tree {
    pub rootfs: u32,
    /// MOUNT_ATTR_* for a rootfs directory: nosuid and nodev for one asked for; none for the
    /// old root itself (as file entries without a rootfs use it), whose tree stays as it was.
    pub rootfs_attr: u64,
    pub ops: Vec<MountOp>,
    pub info: Vec<OpInfo>,
    pub rootfs_dir: Option<CString>,
    pub base: Option<CString>,
    pub base_new: Option<CString>,
    pub base_old: Option<CString>,
    /// The longest target, for the child's path buffer.
    pub longest: usize,
    strings: Vec<CString>,
    data: Vec<Vec<u8>>,
}

/// How a path in the new tree came to be, for deciding what may be created below it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A mount of our own making, empty at first (tmpfs, /dev, an empty root).
    Ours,
    /// Anything else mounted there (the host's files, proc, ...).
    Theirs,
    /// A symlink entry: a target below it would be resolved through it.
    Link(usize),
}

const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
const DEV_LINKS: [(&str, &str); 6] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("core", "/proc/kcore"),
    ("ptmx", "pts/ptmx"),
];
/// What bubblewrap's --proc covers read-only: kernel settings and interfaces to hardware.
const PROC_COVERED: [&str; 4] = ["sys", "sysrq-trigger", "irq", "bus"];
/// Where the build root goes (an existing directory: nothing is created on the host).
const BASES: [&str; 4] = ["/tmp", "/mnt", "/run", "/dev"];

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The parent directory of an absolute path ("/" for "/x").
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn bad(index: usize, what: &str, why: String, value: &str) -> Failure {
    Failure::ArgValue(format!(
        "The property 'options.mounts[{index}].{what}' {why}. Received '{value}'"
    ))
}

/// One op as the builder describes it (see `MountOp`); what is left out is none, 0 or false.
struct Spec<'s> {
    entry: usize,
    kind: OpKind,
    /// For error messages: 'bind', 'tmpfs', 'devpts', ...
    what: &'static str,
    /// As the caller named it, and as the child sees it.
    source: Option<(&'s str, String)>,
    target: &'s str,
    fstype: Option<&'s str>,
    /// mount(2) flags, and their names for error messages.
    flags: (usize, &'static str),
    data: Option<Vec<u8>>,
    attr: u64,
    recursive: bool,
    optional: bool,
    create: u8,
    mode: u32,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            entry: 0,
            kind: OpKind::Mount,
            what: "",
            source: None,
            target: "/",
            fstype: None,
            flags: (0, ""),
            data: None,
            attr: 0,
            recursive: false,
            optional: false,
            create: CREATE_NONE,
            mode: 0,
        }
    }
}

struct Builder<'a> {
    tree: Tree,
    /// Mount points and symlinks made so far, by path in the new tree.
    points: BTreeMap<String, Origin>,
    new_pid: bool,
    slots: &'a [MountSlot],
    files: &'a [&'a [u8]],
}

impl Builder<'_> {
    fn c(&mut self, s: &str) -> Outcome<*const libc::c_char> {
        let c = CString::new(s).map_err(|_| {
            Failure::ArgValue(format!(
                "The property 'options.mounts' must not contain null bytes. Received {s:?}"
            ))
        })?;
        let p = c.as_ptr();
        self.tree.strings.push(c);
        Ok(p)
    }

    /// A target as the child sees it while building.
    fn target(&self, path: &str) -> String {
        match self.tree.rootfs {
            ROOTFS_NONE => path.to_string(),
            _ if path == "/" => "/newroot".into(),
            _ => format!("/newroot{path}"),
        }
    }

    /// A source as the child sees it while building.
    fn source(&self, path: &str) -> String {
        match self.tree.rootfs {
            ROOTFS_NONE => path.to_string(),
            _ if path == "/" => "/oldroot".into(),
            _ => format!("/oldroot{path}"),
        }
    }

    /// Where creation may start for `path` (see `MountOp::create_from`): the deepest mount
    /// point or symlink above it decides.
    fn create_from(&self, index: usize, path: &str) -> Outcome<usize> {
        let mut above = parent(path);
        loop {
            if let Some(origin) = self.points.get(above) {
                return match *origin {
                    Origin::Ours => Ok(self.target(above).len()),
                    Origin::Theirs => Ok(0),
                    Origin::Link(j) => Err(bad(
                        index,
                        "target",
                        format!(
                            "passes through the symlink made by options.mounts[{j}] ({above}): \
                             name the path it points to"
                        ),
                        path,
                    )),
                };
            }
            if above == "/" {
                return Ok(0);
            }
            above = parent(above);
        }
    }

    /// Something is mounted at `path`: what was below it is hidden.
    fn mounted(&mut self, path: &str, origin: Origin) {
        let below = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let hidden: Vec<String> = self
            .points
            .range(below.clone()..)
            .take_while(|(k, _)| k.starts_with(&below))
            .map(|(k, _)| k.clone())
            .collect();
        for k in hidden {
            self.points.remove(&k);
        }
        self.points.insert(path.to_string(), origin);
    }

    fn push(&mut self, op: Spec<'_>) -> Outcome<()> {
        let Spec {
            entry,
            kind,
            what,
            source,
            target,
            fstype,
            flags,
            data,
            attr,
            recursive,
            optional,
            create,
            mode,
        } = op;
        let create_from = if create == CREATE_NONE {
            0
        } else {
            self.create_from(entry, target)?
        };
        let child_target = self.target(target);
        self.tree.longest = self.tree.longest.max(child_target.len());
        let target_ptr = self.c(&child_target)?;
        let (source_ptr, shown) = match &source {
            Some((shown, child)) => (self.c(child)?, Some(shown.to_string())),
            None => (ptr::null(), None),
        };
        let fstype_ptr = match fstype {
            Some(f) => self.c(f)?,
            None => ptr::null(),
        };
        let (data_ptr, data_len) = match data {
            Some(bytes) => {
                let out = (bytes.as_ptr(), bytes.len());
                self.tree.data.push(bytes);
                out
            }
            None => (ptr::null(), 0),
        };
        self.tree.ops.push(MountOp {
            kind,
            entry: entry as u32,
            source: source_ptr,
            target: target_ptr,
            fstype: fstype_ptr,
            flags: flags.0,
            data: data_ptr,
            data_len,
            attr,
            recursive,
            optional,
            create,
            create_from,
            mode,
        });
        self.tree.info.push(OpInfo {
            what,
            source: shown,
            target: target.to_string(),
            flags: flags.1,
        });
        Ok(())
    }

    /// mount(2) data: a C string.
    fn cdata(s: String) -> Option<Vec<u8>> {
        let mut v = s.into_bytes();
        v.push(0);
        Some(v)
    }

    fn entry(&mut self, i: usize, deferred: &mut Vec<usize>) -> Outcome<()> {
        let slot = &self.slots[i];
        let t = slot.target.clone();
        let readonly = slot.readonly.unwrap_or(false);
        let nosuid_nodev = (libc::MS_NOSUID | libc::MS_NODEV) as usize;
        let hidden = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as usize;
        match slot.kind.as_str() {
            "bind" => {
                let src = slot.source.clone().unwrap_or_default();
                let devices = slot.devices.unwrap_or(false);
                let attr = MOUNT_ATTR_NOSUID
                    | if devices { 0 } else { MOUNT_ATTR_NODEV }
                    | if readonly { MOUNT_ATTR_RDONLY } else { 0 };
                let recursive = slot.recursive.unwrap_or(true);
                let child_src = self.source(&src);
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Bind,
                    what: "bind",
                    source: Some((&src, child_src)),
                    target: &t,
                    flags: if recursive {
                        ((libc::MS_BIND | libc::MS_REC) as usize, "MS_BIND|MS_REC")
                    } else {
                        (libc::MS_BIND as usize, "MS_BIND")
                    },
                    attr,
                    recursive,
                    optional: slot.optional.unwrap_or(false),
                    create: CREATE_LIKE_SOURCE,
                    ..Spec::default()
                })?;
                self.mounted(&t, Origin::Theirs);
            }
            "tmpfs" => {
                let mut data = format!("mode={:o}", slot.mode.unwrap_or(0o755));
                if let Some(size) = slot.size {
                    data.push_str(&format!(",size={}", size as u64));
                }
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Mount,
                    what: "tmpfs",
                    source: Some(("tmpfs", "tmpfs".into())),
                    target: &t,
                    fstype: Some("tmpfs"),
                    flags: (nosuid_nodev, "MS_NOSUID|MS_NODEV"),
                    data: Self::cdata(data),
                    create: CREATE_DIR,
                    ..Spec::default()
                })?;
                self.mounted(&t, Origin::Ours);
                if readonly {
                    deferred.push(i);
                }
            }
            "proc" => {
                if self.new_pid {
                    self.push(Spec {
                        entry: i,
                        kind: OpKind::Mount,
                        what: "proc",
                        source: Some(("proc", "proc".into())),
                        target: &t,
                        fstype: Some("proc"),
                        flags: (hidden, "MS_NOSUID|MS_NODEV|MS_NOEXEC"),
                        create: CREATE_DIR,
                        ..Spec::default()
                    })?;
                } else {
                    // Without a pid namespace of its own the child may not mount a procfs
                    // (it shows a pid namespace, which needs CAP_SYS_ADMIN over its owner):
                    // the one it sees already, bound.
                    let child_src = self.source("/proc");
                    self.push(Spec {
                        entry: i,
                        kind: OpKind::Bind,
                        what: "bind",
                        source: Some(("/proc", child_src)),
                        target: &t,
                        flags: ((libc::MS_BIND | libc::MS_REC) as usize, "MS_BIND|MS_REC"),
                        attr: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                        recursive: true,
                        create: CREATE_DIR,
                        ..Spec::default()
                    })?;
                }
                self.mounted(&t, Origin::Theirs);
                for name in PROC_COVERED {
                    let sub = join(&t, name);
                    let child = self.target(&sub);
                    self.push(Spec {
                        entry: i,
                        kind: OpKind::Bind,
                        what: "bind",
                        source: Some((&sub, child)),
                        target: &sub,
                        flags: ((libc::MS_BIND | libc::MS_REC) as usize, "MS_BIND|MS_REC"),
                        attr: MOUNT_ATTR_RDONLY
                            | MOUNT_ATTR_NOSUID
                            | MOUNT_ATTR_NODEV
                            | MOUNT_ATTR_NOEXEC,
                        recursive: true,
                        optional: true,
                        ..Spec::default()
                    })?;
                }
            }
            "dev" => {
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Mount,
                    what: "tmpfs",
                    source: Some(("tmpfs", "tmpfs".into())),
                    target: &t,
                    fstype: Some("tmpfs"),
                    flags: (nosuid_nodev, "MS_NOSUID|MS_NODEV"),
                    data: Self::cdata("mode=0755".into()),
                    create: CREATE_DIR,
                    ..Spec::default()
                })?;
                self.mounted(&t, Origin::Ours);
                for name in DEV_NODES {
                    let host = format!("/dev/{name}");
                    let child_src = self.source(&host);
                    // Device nodes work through a bind of the host's (mknod is refused in a
                    // user namespace); nodev would break them.
                    self.push(Spec {
                        entry: i,
                        kind: OpKind::Bind,
                        what: "bind",
                        source: Some((&host, child_src)),
                        target: &join(&t, name),
                        flags: (libc::MS_BIND as usize, "MS_BIND"),
                        attr: MOUNT_ATTR_NOSUID,
                        create: CREATE_FILE,
                        ..Spec::default()
                    })?;
                }
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Dir,
                    what: "dir",
                    target: &join(&t, "shm"),
                    create: CREATE_DIR,
                    mode: 0o1777,
                    ..Spec::default()
                })?;
                let pts = join(&t, "pts");
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Mount,
                    what: "devpts",
                    source: Some(("devpts", "devpts".into())),
                    target: &pts,
                    fstype: Some("devpts"),
                    flags: (
                        (libc::MS_NOSUID | libc::MS_NOEXEC) as usize,
                        "MS_NOSUID|MS_NOEXEC",
                    ),
                    data: Self::cdata("newinstance,ptmxmode=0666,mode=620".into()),
                    create: CREATE_DIR,
                    ..Spec::default()
                })?;
                self.mounted(&pts, Origin::Theirs);
                for (name, to) in DEV_LINKS {
                    self.symlink(i, &join(&t, name), to)?;
                }
            }
            "mqueue" => {
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Mount,
                    what: "mqueue",
                    source: Some(("mqueue", "mqueue".into())),
                    target: &t,
                    fstype: Some("mqueue"),
                    flags: (hidden, "MS_NOSUID|MS_NODEV|MS_NOEXEC"),
                    create: CREATE_DIR,
                    ..Spec::default()
                })?;
                self.mounted(&t, Origin::Theirs);
            }
            "dir" => {
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Dir,
                    what: "dir",
                    target: &t,
                    create: CREATE_DIR,
                    mode: slot.mode.unwrap_or(0o755),
                    ..Spec::default()
                })?;
            }
            "symlink" => {
                let to = slot.link_to.clone().unwrap_or_default();
                self.symlink(i, &t, &to)?;
                self.points.insert(t.clone(), Origin::Link(i));
            }
            "file" => {
                let bytes = slot
                    .data
                    .and_then(|k| self.files.get(k as usize))
                    .map(|d| d.to_vec())
                    .unwrap_or_default();
                // The content goes into a file of the build root (a tmpfs of ours that is
                // detached at the end), which is then bound onto the target.
                let staged = format!("/file-{i}");
                let attr = MOUNT_ATTR_NOSUID
                    | MOUNT_ATTR_NODEV
                    | if readonly { MOUNT_ATTR_RDONLY } else { 0 };
                self.push(Spec {
                    entry: i,
                    kind: OpKind::File,
                    what: "file",
                    source: Some(("(data)", staged)),
                    target: &t,
                    flags: (libc::MS_BIND as usize, "MS_BIND"),
                    data: Some(bytes),
                    attr,
                    create: CREATE_FILE,
                    mode: slot.mode.unwrap_or(0o644),
                    ..Spec::default()
                })?;
                self.mounted(&t, Origin::Theirs);
            }
            "remount" => self.read_only(i, &t)?,
            "chmod" => {
                self.push(Spec {
                    entry: i,
                    kind: OpKind::Chmod,
                    what: "chmod",
                    target: &t,
                    mode: slot.mode.unwrap_or(0o755),
                    ..Spec::default()
                })?;
            }
            "overlay" => self.overlay(i, slot)?,
            other => {
                return Err(bad(
                    i,
                    "type",
                    "must be one of bind, tmpfs, proc, dev, mqueue, dir, symlink, file, remount, \
                     overlay, chmod"
                        .into(),
                    other,
                ))
            }
        }
        Ok(())
    }

    /// An overlayfs at the target: its lower (and upper and work) directories read in the
    /// host's tree; an upper 'tmpfs' goes in the build root, which only the overlay keeps.
    fn overlay(&mut self, i: usize, slot: &MountSlot) -> Outcome<()> {
        let t = slot.target.clone();
        let lower: Vec<String> = slot
            .lower
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|l| self.source(l))
            .collect();
        let mut data = format!("lowerdir={}", lower.join(":"));
        match (slot.upper.as_deref(), slot.work.as_deref()) {
            (Some("tmpfs"), _) => {
                let dir = format!("/overlay-{i}");
                for d in [dir.clone(), format!("{dir}/upper"), format!("{dir}/work")] {
                    self.push_in_build_root(i, &d)?;
                }
                data.push_str(&format!(",upperdir={dir}/upper,workdir={dir}/work"));
            }
            (Some(upper), Some(work)) => {
                let (u, w) = (self.source(upper), self.source(work));
                data.push_str(&format!(",upperdir={u},workdir={w}"));
            }
            _ => {}
        }
        self.push(Spec {
            entry: i,
            kind: OpKind::Mount,
            what: "overlay",
            source: Some(("overlay", "overlay".into())),
            target: &t,
            fstype: Some("overlay"),
            flags: (
                (libc::MS_NOSUID | libc::MS_NODEV) as usize,
                "MS_NOSUID|MS_NODEV",
            ),
            data: Self::cdata(data),
            create: CREATE_DIR,
            ..Spec::default()
        })?;
        self.mounted(&t, Origin::Theirs);
        Ok(())
    }

    /// A directory of the build root (the tmpfs of our own that is the root while building).
    fn push_in_build_root(&mut self, entry: usize, path: &str) -> Outcome<()> {
        let target = self.c(path)?;
        self.tree.longest = self.tree.longest.max(path.len());
        self.tree.ops.push(MountOp {
            kind: OpKind::Dir,
            entry: entry as u32,
            source: ptr::null(),
            target,
            fstype: ptr::null(),
            flags: 0,
            data: ptr::null(),
            data_len: 0,
            attr: 0,
            recursive: false,
            optional: false,
            create: CREATE_DIR,
            // The build root is ours from "/" on.
            create_from: 1,
            mode: 0o755,
        });
        self.tree.info.push(OpInfo {
            what: "dir",
            source: None,
            target: path.to_string(),
            flags: "",
        });
        Ok(())
    }

    /// The mount at `target` made read-only (not its submounts), as bwrap's --remount-ro.
    fn read_only(&mut self, entry: usize, target: &str) -> Outcome<()> {
        self.push(Spec {
            entry,
            kind: OpKind::Setattr,
            what: "remount",
            target,
            flags: (
                (libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY) as usize,
                "MS_REMOUNT|MS_BIND|MS_RDONLY",
            ),
            attr: MOUNT_ATTR_RDONLY,
            ..Spec::default()
        })
    }

    fn symlink(&mut self, entry: usize, target: &str, to: &str) -> Outcome<()> {
        let len = to.len();
        self.push(Spec {
            entry,
            kind: OpKind::Symlink,
            what: "symlink",
            source: Some((to, to.to_string())),
            target,
            create: CREATE_FILE,
            ..Spec::default()
        })?;
        // The comparison with an existing link reads the link's text, without the NUL.
        if let Some(op) = self.tree.ops.last_mut() {
            op.data_len = len;
        }
        Ok(())
    }
}

/// The tree of a spawn's plan: its mount entries, file contents, rootfs and pid namespace.
pub fn of_plan(plan: &super::SpawnPlan) -> Outcome<Tree> {
    let files: Vec<&[u8]> = plan
        .files
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|b| &b[..])
        .collect();
    build(
        plan.mounts.as_deref().unwrap_or(&[]),
        &files,
        plan.rootfs.as_deref(),
        plan.namespaces & libc::CLONE_NEWPID as u32 != 0,
    )
}

/// The ops for `mounts` and `rootfs` ('tmpfs', or an absolute directory); `new_pid`: the
/// child has a pid namespace of its own (proc entries mount a fresh procfs).
pub fn build(
    slots: &[MountSlot],
    files: &[&[u8]],
    rootfs: Option<&str>,
    new_pid: bool,
) -> Outcome<Tree> {
    // File entries need the build root for their content, and bind sources (a bind, the host's
    // device nodes of a dev entry, the procfs a proc entry binds without a pid namespace) are
    // read in the host's tree as it was before any entry, as bubblewrap reads them: without a
    // rootfs, the old root itself becomes the new one, and stays reachable at /oldroot while
    // the entries are mounted.
    //
    // Where no source is under an earlier entry's target, the tree as the entries leave it is
    // the host's for every source, and the mounts are made in place: no root is built, so they
    // also work where pivot_root cannot (a chroot, the initramfs).
    let hides = |i: usize, source: &str| {
        slots[..=i].iter().enumerate().any(|(j, earlier)| {
            // An entry hides its own sources only when it mounts over them (a dev entry on
            // /dev covers /dev/null); a bind's source is read before its own target is covered.
            if j == i && earlier.kind != "dev" {
                return false;
            }
            if !matches!(
                earlier.kind.as_str(),
                "tmpfs" | "bind" | "dev" | "proc" | "mqueue" | "overlay"
            ) {
                return false;
            }
            let t = earlier.target.as_str();
            t == "/" || source == t || source.starts_with(&format!("{t}/"))
        })
    };
    let needs_old_root = slots
        .iter()
        .enumerate()
        .any(|(i, s)| match s.kind.as_str() {
            "file" | "overlay" => true,
            "bind" => s.source.as_deref().is_some_and(|src| hides(i, src)),
            "dev" => DEV_NODES.iter().any(|n| hides(i, &format!("/dev/{n}"))),
            "proc" => !new_pid && hides(i, "/proc"),
            _ => false,
        });
    let (kind, dir, attr) = match rootfs {
        Some("tmpfs") => (ROOTFS_TMPFS, None, 0),
        Some(dir) => (
            ROOTFS_DIR,
            Some(dir.to_string()),
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        ),
        None if needs_old_root => (ROOTFS_DIR, Some("/".to_string()), 0),
        None => (ROOTFS_NONE, None, 0),
    };
    let mut b = Builder {
        tree: Tree {
            rootfs: kind,
            rootfs_attr: attr,
            ops: Vec::with_capacity(slots.len()),
            info: Vec::with_capacity(slots.len()),
            rootfs_dir: None,
            base: None,
            base_new: None,
            base_old: None,
            longest: 0,
            strings: Vec::with_capacity(2 * slots.len()),
            data: Vec::new(),
        },
        points: BTreeMap::new(),
        new_pid,
        slots,
        files,
    };
    b.points.insert(
        "/".into(),
        if kind == ROOTFS_TMPFS {
            Origin::Ours
        } else {
            Origin::Theirs
        },
    );
    if kind != ROOTFS_NONE {
        let base = BASES
            .iter()
            .find(|d| std::path::Path::new(d).is_dir())
            .copied()
            .unwrap_or("/tmp");
        let c = |s: String| {
            CString::new(s).map_err(|_| {
                Failure::ArgValue(
                    "The property 'options.rootfs' must not contain null bytes".into(),
                )
            })
        };
        b.tree.base = Some(c(base.to_string())?);
        b.tree.base_new = Some(c(format!("{base}/newroot"))?);
        b.tree.base_old = Some(c(format!("{base}/oldroot"))?);
        if let Some(dir) = dir {
            b.tree.rootfs_dir = Some(c(b.source(&dir))?);
        }
    }
    let mut deferred = Vec::new();
    for i in 0..slots.len() {
        b.entry(i, &mut deferred)?;
    }
    // Read-only tmpfs entries last, so that entries below them could be created first.
    for i in deferred {
        b.read_only(i, &slots[i].target)?;
    }
    Ok(b.tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(kind: &str, target: &str) -> MountSlot {
        MountSlot {
            kind: kind.into(),
            source: None,
            target: target.into(),
            readonly: None,
            recursive: None,
            devices: None,
            optional: None,
            size: None,
            mode: None,
            link_to: None,
            data: None,
            lower: None,
            upper: None,
            work: None,
        }
    }

    fn bind(source: &str, target: &str) -> MountSlot {
        MountSlot {
            source: Some(source.into()),
            ..slot("bind", target)
        }
    }

    #[test]
    fn targets_are_created_only_on_mounts_of_our_own() {
        // Over the host's root: nothing may be created.
        let t = build(&[bind("/usr", "/nowhere/usr")], &[], None, false).expect("tree");
        assert_eq!(t.ops[0].create_from, 0);
        // Below a tmpfs of ours: from the tmpfs on; the source is not under it, so the mounts
        // are made in place.
        let t = build(
            &[slot("tmpfs", "/tmp"), bind("/usr", "/tmp/a/usr")],
            &[],
            None,
            false,
        )
        .expect("tree");
        assert_eq!(t.rootfs, ROOTFS_NONE);
        assert_eq!(t.ops[1].create_from, "/tmp".len());
        // A source under the tmpfs: read in the host's tree, through the old root bound as the
        // new one.
        let t = build(
            &[slot("tmpfs", "/tmp"), bind("/tmp/src", "/tmp/a/usr")],
            &[],
            None,
            false,
        )
        .expect("tree");
        assert_eq!(t.rootfs, ROOTFS_DIR);
        assert_eq!(t.ops[1].create_from, "/newroot/tmp".len());
        // An empty root: everything, translated under /newroot.
        let t = build(&[bind("/usr", "/usr")], &[], Some("tmpfs"), false).expect("tree");
        assert_eq!(t.ops[0].create_from, "/newroot".len());
        // A bind over the tmpfs hides it: below the bind is the host's again.
        let t = build(
            &[
                slot("tmpfs", "/a/b"),
                bind("/x", "/a"),
                bind("/y", "/a/b/c"),
            ],
            &[],
            Some("tmpfs"),
            false,
        )
        .expect("tree");
        assert_eq!(t.ops[2].create_from, 0);
    }

    #[test]
    fn bind_sources_are_read_in_the_hosts_tree() {
        // A tmpfs over /x must not hide the source /x/y of a later bind, nor a dev tmpfs the
        // host's /dev/null: sources are read under /oldroot, targets made under /newroot.
        let t = build(
            &[slot("tmpfs", "/x"), bind("/x/y", "/x/z")],
            &[],
            None,
            false,
        )
        .expect("tree");
        assert_eq!(t.rootfs, ROOTFS_DIR);
        assert_eq!(t.info[1].source.as_deref(), Some("/x/y"));
        let src = unsafe { std::ffi::CStr::from_ptr(t.ops[1].source) };
        assert_eq!(src.to_str().ok(), Some("/oldroot/x/y"));
        // Without a bind, dev or file entry the tree is built in place.
        let t = build(&[slot("tmpfs", "/x")], &[], None, false).expect("tree");
        assert_eq!(t.rootfs, ROOTFS_NONE);
    }

    #[test]
    fn a_target_through_a_symlink_entry_is_refused() {
        let mut link = slot("symlink", "/l");
        link.link_to = Some("/usr".into());
        let err = build(&[link, bind("/x", "/l/x")], &[], Some("tmpfs"), false)
            .err()
            .map(|f| f.message())
            .unwrap_or_default();
        assert!(
            err.contains("passes through the symlink made by options.mounts[0]"),
            "{err}"
        );
    }
}
