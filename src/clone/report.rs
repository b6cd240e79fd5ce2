//! What a clone() child prints (an uncaught exception, a return value that is no exit status),
//! and the parent's fatal path when the child ended with the shared heap possibly mid-update.

use std::ffi::c_int;
use std::fmt::Write as _;
use std::ptr;

use napi::bindgen_prelude::{JsObjectValue, Object, ValueType};
use napi::{sys, Env, JsValue, Unknown};
use nix::errno::Errno;

use crate::{args, signals};

/// `code` of a callback's return value that is no exit status.
const BAD_RETURN: &str = "ERR_INVALID_RETURN_VALUE";

/// Takes the exception pending on `env`, if any, so that neither the child nor the parent
/// after it finds one left over.
pub(super) fn take_exception(env: sys::napi_env) -> Option<sys::napi_value> {
    let mut pending = false;
    // SAFETY: env is live; the out-pointers are locals.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        return None;
    }
    let mut error = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { sys::napi_get_and_clear_last_exception(env, &mut error) };
    (status == sys::Status::napi_ok && !error.is_null()).then_some(error)
}

/// The exit status a callback's return value stands for; anything else is printed and is 1.
pub(super) fn exit_status(env: sys::napi_env, value: sys::napi_value) -> c_int {
    match status_of(env, value) {
        Ok(code) => code,
        Err(message) => {
            write_stderr(&format!("TypeError [{BAD_RETURN}]: {message}\n"));
            1
        }
    }
}

fn status_of(env: sys::napi_env, value: sys::napi_value) -> Result<c_int, String> {
    // SAFETY: value is the callback's return value, a live handle of this scope.
    let value = unsafe { Unknown::from_raw_unchecked(env, value) };
    let mut is_promise = false;
    // SAFETY: as above.
    unsafe { sys::napi_is_promise(env, value.raw(), &mut is_promise) };
    if is_promise {
        return Err(
            "the clone() callback returned a Promise: only synchronous work runs in the \
                    child, so an async callback cannot give it an exit status; return a number \
                    (0 to 255) or nothing"
                .into(),
        );
    }
    let text = match value.get_type() {
        Ok(ValueType::Undefined) => return Ok(0),
        Ok(ValueType::Number) => {
            // SAFETY: the type was checked just above.
            let n = unsafe { value.cast::<f64>() }.unwrap_or(f64::NAN);
            if n.fract() == 0.0 && (0.0..=255.0).contains(&n) {
                return Ok(n as c_int);
            }
            format!("Received {}", args::js_number(n))
        }
        _ => args::received(&value),
    };
    Err(format!(
        "the clone() callback must return an integer from 0 to 255 (the exit status) or \
         nothing. {text}"
    ))
}

/// The callback could not be called, and left no exception to say why. True when the cause is
/// that no JavaScript may run in this thread any more.
pub(super) fn not_run(status: sys::napi_status) -> bool {
    let gone = matches!(
        status,
        sys::Status::napi_pending_exception | sys::Status::napi_cannot_run_js
    );
    let why = if gone {
        "JavaScript cannot run in this thread any more (its Worker is being terminated, or \
         Node.js is exiting), so the callback was stopped"
            .to_string()
    } else {
        format!("Node-API refused the call (napi_status {status})")
    };
    write_stderr(&format!(
        "Error: the clone() callback did not run to its end: {why}; the child (pid {}) exits \
         with status 1\n",
        crate::sys::getpid()
    ));
    gone
}

/// Prints an exception as Node prints an uncaught one: util.inspect() where Node offers it to
/// native code (process.getBuiltinModule, Node 20.16+), else the stack, else its name and
/// message read without running JavaScript (a stack overflow leaves no room for more).
/// False when nothing could be read because no JavaScript may run any more.
pub(super) fn uncaught(env: sys::napi_env, error: sys::napi_value) -> bool {
    // SAFETY: env and error are live handles of this scope.
    let error = unsafe { Unknown::from_raw_unchecked(env, error) };
    let text = inspect(env, &error)
        .or_else(|| stack_of(env, &error))
        .or_else(|| name_and_message(env, &error));
    args::clear_exception(env);
    // Nothing could be read: no JavaScript may run any more (a Worker being terminated).
    let Some(text) = text else {
        return !not_run(sys::Status::napi_pending_exception);
    };
    write_stderr(&format!(
        "{text}\n\nThrown in a clone() callback: the child (pid {}) exits with status 1\n",
        crate::sys::getpid()
    ));
    true
}

fn inspect(env: sys::napi_env, value: &Unknown) -> Option<String> {
    let env = Env::from_raw(env);
    let global = env.get_global().ok()?;
    let process: Object = global.get_named_property("process").ok()?;
    let get_builtin: Unknown = process.get_named_property("getBuiltinModule").ok()?;
    let util = call(
        &env,
        &process,
        &get_builtin,
        &[env.create_string("node:util").ok()?.raw()],
    )?;
    // SAFETY: util is the value getBuiltinModule returned; checked to be an object.
    let util = (util.get_type().ok()? == ValueType::Object)
        .then(|| unsafe { util.cast::<Object>() })?
        .ok()?;
    let inspect: Unknown = util.get_named_property("inspect").ok()?;
    let text = call(&env, &util, &inspect, &[value.raw()])?;
    string_of(&text)
}

fn string_of(value: &Unknown) -> Option<String> {
    // SAFETY: checked to be a string first.
    (value.get_type().ok()? == ValueType::String)
        .then(|| unsafe { value.cast::<String>() })?
        .ok()
}

fn own_property(env: sys::napi_env, value: &Unknown, name: &str) -> Option<String> {
    if value.get_type().ok()? != ValueType::Object {
        return None;
    }
    // SAFETY: the type was checked just above.
    let obj = unsafe { value.cast::<Object>() }.ok()?;
    let found = obj.get_named_property::<Unknown>(name).ok();
    args::clear_exception(env);
    string_of(&found?)
}

fn stack_of(env: sys::napi_env, value: &Unknown) -> Option<String> {
    if let Some(stack) = own_property(env, value, "stack") {
        return Some(stack);
    }
    let mut text = ptr::null_mut();
    // SAFETY: value is live; coercion may throw, which is cleared below.
    let status = unsafe { sys::napi_coerce_to_string(env, value.raw(), &mut text) };
    if status != sys::Status::napi_ok {
        args::clear_exception(env);
        return None;
    }
    // SAFETY: napi_coerce_to_string returned a string.
    string_of(&unsafe { Unknown::from_raw_unchecked(env, text) })
}

fn name_and_message(env: sys::napi_env, value: &Unknown) -> Option<String> {
    let message = own_property(env, value, "message")?;
    // The name lives on the prototype; a RangeError is what a stack overflow throws.
    let name = own_property(env, value, "name").unwrap_or_else(|| "Error".into());
    Some(format!("{name}: {message}"))
}

/// Calls `f` if it is a function; None if it is not or it threw.
fn call<'e>(
    env: &'e Env,
    this: &Object,
    f: &Unknown,
    argv: &[sys::napi_value],
) -> Option<Unknown<'e>> {
    if f.get_type().ok()? != ValueType::Function {
        return None;
    }
    let mut result = ptr::null_mut();
    // SAFETY: f is a function; argv holds live handles.
    let status = unsafe {
        sys::napi_call_function(
            env.raw(),
            this.raw(),
            f.raw(),
            argv.len(),
            argv.as_ptr(),
            &mut result,
        )
    };
    if status != sys::Status::napi_ok {
        args::clear_exception(env.raw());
        return None;
    }
    // SAFETY: a value napi just returned.
    Some(unsafe { Unknown::from_raw_unchecked(env.raw(), result) })
}

fn write_stderr(text: &str) {
    write_bytes(text.as_bytes())
}

fn write_bytes(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(std::io::stderr(), bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// The child died while JavaScript ran on the heap this process shares with it: end the
/// process now, saying why, rather than crash later at a random place.
pub(super) fn died_in_javascript(pid: i32) -> ! {
    // libc: nix's waitid panics on a real-time signal.
    // SAFETY: a zeroed siginfo_t is valid for the kernel to fill; WNOWAIT leaves the child.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a live local.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::__WALL,
        )
    };
    // SAFETY: filled by waitid for a child that has ended.
    let signo = unsafe { info.si_status() };
    let how = match info.si_code {
        libc::CLD_KILLED | libc::CLD_DUMPED if rc == 0 => (
            "was killed by ",
            signals::static_name(signo).unwrap_or("a real-time signal"),
        ),
        libc::CLD_EXITED if rc == 0 => ("exited", ""),
        _ => ("ended", ""),
    };
    fatal(format_args!(
        "the clone() child (pid {pid}) {}{} while its JavaScript callback was running. The \
         child shared this process's memory, so the JavaScript heap may be left half-modified",
        how.0, how.1
    ))
}

/// The callback started threads, which ran on this process's memory and ended with the child.
pub(super) fn left_threads(pid: i32) -> ! {
    fatal(format_args!(
        "the clone() callback of child {pid} started threads (a Worker, inspector.open()); \
         they ran on this process's memory and were ended with the child, possibly \
         mid-operation. Start Workers and the inspector outside clone() callbacks"
    ))
}

/// Ends the process with a message. The child may have died holding any lock of this process
/// (malloc's, Node's, V8's), so nothing here allocates, locks or calls into Node: the message
/// is formatted on the stack and written with write(2).
fn fatal(what: std::fmt::Arguments) -> ! {
    let mut text = StackText::default();
    let _ = writeln!(
        text,
        "FATAL ERROR: linux-clone: {what}; the process cannot safely continue"
    );
    write_bytes(text.as_bytes());
    std::process::abort()
}

/// A message formatted without allocating; what does not fit is cut off.
struct StackText {
    buf: [u8; 768],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 768],
            len: 0,
        }
    }
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
