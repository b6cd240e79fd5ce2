//! spawn()'s plan: every string, pointer array, fd and buffer the child will use, built before
//! the clone so that the child only reads it (and writes its own scratch space).

use std::ffi::{c_char, CString};
use std::ptr;

use napi_derive::napi;

use super::child::{ChildPlan, Join};
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
    pub child: Box<ChildPlan>,
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
        setsid: plan.detached,
        pdeathsig: plan.pdeathsig,
        sync_fd,
        wait_for_parent,
        err_fd,
        grandchild_stack: 0,
        grandchild_copies: false,
        dirents: dirents.as_mut_ptr(),
        dirents_len: dirents.len(),
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
