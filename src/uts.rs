//! sethostname(2) and setdomainname(2): the names of a UTS namespace.
//!
//! Their own module rather than namespaces.rs: they neither create nor enter a namespace, and
//! need none of the thread checks there. Both change the UTS namespace of the calling thread:
//! in a clone() callback with NEWUTS the child's, on a thread that called unshare(NEWUTS) that
//! thread's, and otherwise the one the whole process shares, which for a process in the
//! initial namespace is the machine's. The kernel decides who may; nothing is refused here.

use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;

use crate::args;
use crate::errors::{to_js, Failure, Outcome};

/// The kernel's limit for both names, in bytes (__NEW_UTS_LEN, HOST_NAME_MAX).
const UTS_NAME_MAX: usize = 64;

/// Sets the hostname of the calling thread's UTS namespace: sethostname(2).
///
/// `name` is at most 64 bytes (UTF-8). In a clone() callback with NEWUTS, the child's
/// namespace; on a thread that called unshare(NEWUTS), that thread's; otherwise the process's,
/// and as root in the initial UTS namespace, that renames the machine. `os.hostname()` and the
/// programs started afterwards from the same thread see it. Needs CAP_SYS_ADMIN in the user
/// namespace that owns the UTS namespace.
#[napi(ts_args_type = "name: string")]
pub fn sethostname(env: Env, name: Unknown) -> napi::Result<()> {
    let outcome = uts_name(&name, "host name").and_then(|name| set_name(Uts::Host, name));
    to_js(&env, outcome)
}

/// Sets the NIS domain name of the calling thread's UTS namespace: setdomainname(2).
///
/// As `sethostname()`: at most 64 bytes, the calling thread's UTS namespace, CAP_SYS_ADMIN.
/// `/proc/sys/kernel/domainname` and `domainname(1)` show it.
#[napi(ts_args_type = "name: string")]
pub fn setdomainname(env: Env, name: Unknown) -> napi::Result<()> {
    let outcome = uts_name(&name, "domain name").and_then(|name| set_name(Uts::Domain, name));
    to_js(&env, outcome)
}

#[derive(Clone, Copy)]
enum Uts {
    Host,
    Domain,
}

/// A name argument: a string without NUL bytes, at most UTS_NAME_MAX bytes, which the kernel
/// would refuse with a bare EINVAL.
fn uts_name(value: &Unknown, what: &str) -> Outcome<String> {
    let name = args::path(value, "name")?;
    if name.len() > UTS_NAME_MAX {
        return Err(Failure::ArgValue(format!(
            "The argument 'name' must be at most {UTS_NAME_MAX} bytes long, the kernel's limit \
             for a {what}. Received {:?} ({} bytes)",
            args::quote(&name),
            name.len()
        )));
    }
    Ok(name)
}

fn set_name(which: Uts, name: String) -> Outcome<()> {
    let (syscall, result) = match which {
        Uts::Host => ("sethostname", nix::unistd::sethostname(&name)),
        // nix has no setdomainname.
        // SAFETY: the pointer and length describe `name`, which outlives the call.
        Uts::Domain => ("setdomainname", unsafe {
            Errno::result(libc::setdomainname(name.as_ptr().cast(), name.len())).map(drop)
        }),
    };
    result.map_err(|errno| {
        let cause = uts_cause(errno, syscall);
        Failure::sys(errno, syscall, format!("{syscall}({name:?})"), cause)
    })
}

/// The likely cause of sethostname's or setdomainname's `errno`, in words.
fn uts_cause(errno: Errno, syscall: &str) -> Option<String> {
    (errno == Errno::EPERM).then(|| {
        format!(
            "{syscall} needs CAP_SYS_ADMIN in the user namespace that owns the calling thread's \
             UTS namespace: give it a UTS namespace of its own, in a clone() callback with NEWUTS \
             (NEWUSER | NEWUTS as any user), or with unshare(NEWUTS) as root"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_says_where_a_name_may_be_set() {
        let m = uts_cause(Errno::EPERM, "sethostname").unwrap_or_default();
        assert!(m.starts_with("sethostname needs CAP_SYS_ADMIN"), "{m}");
        assert!(m.contains("NEWUTS"), "{m}");
        assert_eq!(uts_cause(Errno::EFAULT, "sethostname"), None);
    }
}
