//! exit() and execve(): called in a clone() callback, they record what the child should do and
//! throw an exception that unwinds the callback; the child then does it natively, in
//! child::main. Outside a callback they refuse, since there they would end Node itself.

use std::ffi::CString;

use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;

use super::with_frame;
use crate::args;
use crate::errors::{to_js, Failure, Outcome};

/// `code` of exit()/execve() called outside a clone() callback.
const NOT_IN_CALLBACK: &str = "ERR_NOT_IN_CLONE_CALLBACK";
/// `code` of the exception that unwinds a callback which asked to exit or exec.
const UNWINDING: &str = "ERR_CLONE_CHILD_EXITING";

/// A program the callback asked execve() to run.
pub(super) struct Exec {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// `execve("/bin/sh", ["sh", "-c"])`, for the error message, with long strings cut.
    call: String,
}

pub(super) enum Request {
    None,
    Exit(i32),
    Exec(Exec),
}

/// Records what the child should do once the callback has unwound, and starts the unwinding.
/// The first request wins: a callback that catches the unwinding still ends as asked.
fn request(what: Request, name: &str) -> Outcome<()> {
    let recorded = with_frame(|frame| {
        let mut slot = frame.request.borrow_mut();
        if matches!(*slot, Request::None) {
            *slot = what;
        }
    });
    match recorded {
        Some(()) => Err(Failure::State {
            code: UNWINDING,
            message: format!(
                "{name} was called in a clone() callback: this exception unwinds the callback so \
                 that the child can end; let it propagate"
            ),
        }),
        None => Err(Failure::State {
            code: NOT_IN_CALLBACK,
            message: format!(
                "{name} ends a clone() child and works only inside a clone() callback; here it \
                 would end Node.js itself (use process.exit(), or child_process to run a program)"
            ),
        }),
    }
}

/// Ends the clone() child this callback runs in with status `code` (0 to 255), after unwinding
/// the callback. The parent's exit handlers do not run. Outside a clone() callback it throws
/// (`ERR_NOT_IN_CLONE_CALLBACK`).
#[napi(
    js_name = "exit",
    ts_args_type = "code: number",
    ts_return_type = "never"
)]
pub fn exit_child(env: Env, code: Unknown) -> napi::Result<()> {
    let outcome = args::integer(&code, "code", 0, 255)
        .and_then(|code| request(Request::Exit(code as i32), "exit()"));
    to_js(&env, outcome)
}

/// Replaces the clone() child this callback runs in with the program at `path`: execve(2),
/// after unwinding the callback. `argv` includes the program's name (argv[0]); `env` defaults to
/// this process's environment. The program starts with stdin, stdout and stderr open, default
/// signal handling and the caller's signal mask. If the exec fails, the child exits and clone()
/// throws the error (code, errno, syscall 'execve') in the parent. Outside a clone() callback it
/// throws (`ERR_NOT_IN_CLONE_CALLBACK`).
#[napi(
    ts_args_type = "path: string, argv: readonly string[], env?: Readonly<Record<string, string | undefined>>",
    ts_return_type = "never"
)]
pub fn execve(env: Env, path: Unknown, argv: Unknown, envp: Unknown) -> napi::Result<()> {
    let outcome =
        exec_request(&path, &argv, &envp).and_then(|exec| request(Request::Exec(exec), "execve()"));
    to_js(&env, outcome)
}

fn exec_request(path: &Unknown, argv: &Unknown, envp: &Unknown) -> Outcome<Exec> {
    let path = args::path(path, "path")?;
    let argv = args::string_array(argv, "argv")?;
    let envp = if args::is_undefined(envp) {
        args::own_environment()
    } else {
        args::environment(envp, "env")?
    };
    let shown = argv
        .iter()
        .map(|a| format!("{:?}", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(", ");
    let call = format!(
        "execve({:?}, [{}])",
        args::quote(&path),
        args::quote(&shown)
    );
    Ok(Exec {
        path: args::c_string(path, "path")?,
        argv,
        envp,
        call,
    })
}

/// The error clone() throws in the parent when the child's execve() failed.
pub(super) fn exec_failure(request: &Request, errno: Errno) -> Failure {
    let (call, path) = match request {
        Request::Exec(exec) => (
            exec.call.clone(),
            Some(exec.path.to_string_lossy().into_owned()),
        ),
        _ => ("execve()".to_string(), None),
    };
    Failure::Sys {
        errno,
        syscall: "execve",
        call,
        cause: exec_cause(errno),
        path,
        dest: None,
    }
}

fn exec_cause(errno: Errno) -> Option<String> {
    let cause = match errno {
        Errno::ENOENT => "no such file (or its interpreter is missing)",
        Errno::EACCES => {
            "permission denied: not executable, or a directory on its path is not \
                          searchable, or the file system is mounted noexec"
        }
        Errno::ENOEXEC => "not an executable format the kernel knows (a script needs #!)",
        Errno::E2BIG => "argv and the environment are too large",
        _ => return None,
    };
    Some(cause.into())
}
