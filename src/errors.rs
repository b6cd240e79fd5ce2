//! Failures and how they reach JavaScript: errors shaped like Node's own (`code`, `errno`,
//! `syscall`, a message that says the cause), argument errors with Node's `ERR_*` codes.

use napi::bindgen_prelude::JsObjectValue;
use napi::{sys, Env, JsValue, Unknown};
use nix::errno::Errno;

/// `code` of the errors for calls refused because they would break Node's other threads.
pub const UNSAFE_WITH_THREADS: &str = "ERR_UNSAFE_WITH_THREADS";
/// `code` of the errors for clone() flags and arguments this package cannot support.
pub const UNSUPPORTED_CLONE_FLAG: &str = "ERR_UNSUPPORTED_CLONE_FLAG";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The kernel refused a syscall.
    Sys {
        errno: Errno,
        syscall: &'static str,
        /// The call as the message shows it: `unshare(NEWNET|NEWUTS)`.
        call: String,
        /// The likely cause in words, where it is known.
        cause: Option<String>,
        path: Option<String>,
        dest: Option<String>,
    },
    /// A step of spawn() failed, in the child or in the parent's part of it.
    Spawn {
        errno: Errno,
        /// The step's name, as in `SpawnError.step`.
        step: &'static str,
        /// Which entry of a list (`join`, ...) failed.
        index: Option<u32>,
        syscall: &'static str,
        call: String,
        cause: Option<String>,
        path: Option<String>,
    },
    /// Not attempted: it would leave Node unable to run, or cannot work in it.
    Refused {
        code: &'static str,
        syscall: &'static str,
        call: String,
        why: String,
    },
    /// A plain Error with its own code: a call made where it cannot work.
    State { code: &'static str, message: String },
    /// TypeError `ERR_INVALID_ARG_TYPE`.
    ArgType(String),
    /// TypeError `ERR_INVALID_ARG_VALUE`.
    ArgValue(String),
    /// RangeError `ERR_OUT_OF_RANGE`.
    ArgRange(String),
    /// TypeError `ERR_UNKNOWN_SIGNAL`, as `process.kill()` throws for a name it does not know.
    UnknownSignal(String),
}

pub type Outcome<T> = std::result::Result<T, Failure>;

/// Hands an outcome to napi, turning a failure into the JavaScript error to throw.
pub fn to_js<T>(env: &Env, outcome: Outcome<T>) -> napi::Result<T> {
    outcome.map_err(|f| f.into_napi(env))
}

impl Failure {
    pub fn sys(errno: Errno, syscall: &'static str, call: String, cause: Option<String>) -> Self {
        Failure::Sys {
            errno,
            syscall,
            call,
            cause,
            path: None,
            dest: None,
        }
    }

    pub fn code(&self) -> String {
        match self {
            Failure::Sys { errno, .. } | Failure::Spawn { errno, .. } => {
                errno_code(*errno).to_string()
            }
            Failure::Refused { code, .. } | Failure::State { code, .. } => code.to_string(),
            Failure::ArgType(_) => "ERR_INVALID_ARG_TYPE".to_string(),
            Failure::ArgValue(_) => "ERR_INVALID_ARG_VALUE".to_string(),
            Failure::ArgRange(_) => "ERR_OUT_OF_RANGE".to_string(),
            Failure::UnknownSignal(_) => "ERR_UNKNOWN_SIGNAL".to_string(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Sys {
                errno, call, cause, ..
            } => {
                let cause = cause.clone().unwrap_or_else(|| errno_text(*errno));
                format!("{}: {call} failed: {cause}", errno_code(*errno))
            }
            Failure::Spawn {
                errno,
                step,
                index,
                call,
                cause,
                ..
            } => {
                let cause = cause.clone().unwrap_or_else(|| errno_text(*errno));
                let entry = index.map(|i| format!(" (entry {i})")).unwrap_or_default();
                format!(
                    "{}: {call} failed at spawn step '{step}'{entry}: {cause}",
                    errno_code(*errno)
                )
            }
            Failure::Refused { call, why, .. } => format!("{call} refused: {why}"),
            Failure::State { message, .. } => message.clone(),
            Failure::ArgType(m) | Failure::ArgValue(m) | Failure::ArgRange(m) => m.clone(),
            Failure::UnknownSignal(name) => format!("Unknown signal: {name}"),
        }
    }

    /// The JavaScript error to throw. Falls back to a plain napi error if the environment
    /// cannot build objects (it is being torn down).
    pub fn into_napi(self, env: &Env) -> napi::Error {
        let message = self.message();
        match self.js_value(env, &message) {
            Ok(value) => napi::Error::from(value),
            Err(_) => napi::Error::new(napi::Status::GenericFailure, message),
        }
    }

    /// The JavaScript error as a value, for rejecting a promise.
    pub fn to_js_value<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        self.js_value(env, &self.message())
    }

    fn js_value<'e>(&self, env: &'e Env, message: &str) -> napi::Result<Unknown<'e>> {
        let raw_env = env.raw();
        let code = env.create_string(self.code())?;
        let msg = env.create_string(message)?;
        let create = match self {
            Failure::ArgType(_) | Failure::ArgValue(_) | Failure::UnknownSignal(_) => {
                sys::napi_create_type_error
            }
            Failure::ArgRange(_) => sys::napi_create_range_error,
            _ => sys::napi_create_error,
        };
        let mut raw = std::ptr::null_mut();
        // SAFETY: env is the live environment of this call; code and msg are strings of it.
        let status = unsafe { create(raw_env, code.raw(), msg.raw(), &mut raw) };
        if status != sys::Status::napi_ok || raw.is_null() {
            return Err(napi::Error::from_status(napi::Status::from(status)));
        }
        // SAFETY: raw was just created by napi_create_*error and is an object.
        let unknown = unsafe { Unknown::from_raw_unchecked(raw_env, raw) };
        // SAFETY: an Error object.
        let mut obj = unsafe { unknown.cast::<napi::bindgen_prelude::Object>() }?;
        match self {
            Failure::Sys {
                errno,
                syscall,
                path,
                dest,
                ..
            } => {
                obj.set_named_property("errno", -(*errno as i32))?;
                obj.set_named_property("syscall", *syscall)?;
                if let Some(path) = path {
                    obj.set_named_property("path", path.as_str())?;
                }
                if let Some(dest) = dest {
                    obj.set_named_property("dest", dest.as_str())?;
                }
            }
            Failure::Spawn {
                errno,
                step,
                index,
                syscall,
                path,
                ..
            } => {
                obj.set_named_property("errno", -(*errno as i32))?;
                obj.set_named_property("syscall", *syscall)?;
                obj.set_named_property("step", *step)?;
                if let Some(index) = index {
                    obj.set_named_property("index", *index)?;
                }
                if let Some(path) = path {
                    obj.set_named_property("path", path.as_str())?;
                }
            }
            Failure::Refused { syscall, .. } => {
                obj.set_named_property("syscall", *syscall)?;
            }
            _ => {}
        }
        Ok(unknown)
    }
}

/// The C library's text for `errno`, as strerror(3) gives it.
pub(crate) fn errno_text(errno: Errno) -> String {
    let text = std::io::Error::from_raw_os_error(errno as i32).to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// The errno's name as libuv and `util.getSystemErrorName()` spell it.
pub fn errno_code(errno: Errno) -> &'static str {
    match errno {
        // libuv names 95 ENOTSUP; nix calls it EOPNOTSUPP.
        Errno::EOPNOTSUPP => "ENOTSUP",
        e => errno_name(e),
    }
}

fn errno_name(e: Errno) -> &'static str {
    macro_rules! names {
        ($($n:ident)*) => {
            match e { $(Errno::$n => stringify!($n),)* _ => "UNKNOWN" }
        };
    }
    names!(EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG ENOEXEC EBADF ECHILD EAGAIN ENOMEM EACCES
        EFAULT ENOTBLK EBUSY EEXIST EXDEV ENODEV ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY
        ETXTBSY EFBIG ENOSPC ESPIPE EROFS EMLINK EPIPE EDOM ERANGE EDEADLK ENAMETOOLONG ENOLCK
        ENOSYS ENOTEMPTY ELOOP ENOMSG EIDRM ENOSTR ENODATA ETIME ENOSR ENOLINK EPROTO EBADMSG
        EOVERFLOW EILSEQ EUSERS ENOTSOCK EDESTADDRREQ EMSGSIZE EPROTOTYPE ENOPROTOOPT
        EPROTONOSUPPORT ESOCKTNOSUPPORT EPFNOSUPPORT EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL
        ENETDOWN ENETUNREACH ENETRESET ECONNABORTED ECONNRESET ENOBUFS EISCONN ENOTCONN
        ESHUTDOWN ETOOMANYREFS ETIMEDOUT ECONNREFUSED EHOSTDOWN EHOSTUNREACH EALREADY
        EINPROGRESS ESTALE EDQUOT ECANCELED EOWNERDEAD ENOTRECOVERABLE ERFKILL EHWPOISON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_codes_are_libuvs() {
        assert_eq!(errno_code(Errno::EINVAL), "EINVAL");
        assert_eq!(errno_code(Errno::EPERM), "EPERM");
        assert_eq!(errno_code(Errno::EBADF), "EBADF");
        assert_eq!(errno_code(Errno::EUSERS), "EUSERS");
        assert_eq!(errno_code(Errno::EOPNOTSUPP), "ENOTSUP");
    }

    #[test]
    fn sys_message_names_code_call_and_cause() {
        let f = Failure::sys(
            Errno::EPERM,
            "unshare",
            "unshare(NEWNET)".into(),
            Some("needs CAP_SYS_ADMIN".into()),
        );
        assert_eq!(
            f.message(),
            "EPERM: unshare(NEWNET) failed: needs CAP_SYS_ADMIN"
        );
        assert_eq!(f.code(), "EPERM");
    }

    #[test]
    fn sys_message_falls_back_to_the_errno_text() {
        let f = Failure::sys(Errno::EBADF, "setns", "setns(99, 0)".into(), None);
        assert_eq!(
            f.message(),
            "EBADF: setns(99, 0) failed: Bad file descriptor"
        );
    }

    #[test]
    fn refusals_have_their_own_code() {
        let f = Failure::Refused {
            code: UNSAFE_WITH_THREADS,
            syscall: "unshare",
            call: "unshare(NEWPID)".into(),
            why: "because".into(),
        };
        assert_eq!(f.code(), UNSAFE_WITH_THREADS);
        assert_eq!(f.message(), "unshare(NEWPID) refused: because");
    }

    #[test]
    fn unknown_signals_read_as_in_process_kill() {
        let f = Failure::UnknownSignal("SIGFOO".into());
        assert_eq!(f.code(), "ERR_UNKNOWN_SIGNAL");
        assert_eq!(f.message(), "Unknown signal: SIGFOO");
    }
}
