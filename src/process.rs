//! Process-level neighbours: kcmp(2). nix does not wrap it, so it goes through libc's syscall().

use napi::bindgen_prelude::{JsObjectValue, Object, ValueType};
use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;

use crate::args;
use crate::errors::{to_js, Failure, Outcome};
use crate::flags::KCMP_EPOLL_TFD;

const PID_MAX: i64 = i32::MAX as i64;
/// kcmp's idx arguments are unsigned longs; JS numbers are exact up to 2^53 - 1.
const IDX_MAX: i64 = (1 << 53) - 1;

/// For `kcmp(..., KCMP_EPOLL_TFD, fd, slot)`: the file `tfd` at offset `toff` registered in the
/// epoll instance `efd` of pid2.
// Declared for the TypeScript types; kcmp reads it field by field to report each one's errors.
#[allow(dead_code)]
#[napi(object)]
pub struct KcmpEpollSlot {
    pub efd: u32,
    pub tfd: u32,
    pub toff: u32,
}

/// Compares a kernel resource of two processes: kcmp(2). Returns 0 (the same), 1 or 2 (an
/// order, as pid1's is less or greater than pid2's) or 3 (different, unordered).
///
/// `type` is one of the KCMP_* constants. For KCMP_FILE, `idx1` and `idx2` are fds of pid1 and
/// pid2; for KCMP_EPOLL_TFD, `idx1` is an fd of pid1 and `idx2` a KcmpEpollSlot of pid2.
/// Needs ptrace read access to both processes (the same user, or CAP_SYS_PTRACE).
#[napi(
    ts_args_type = "pid1: number, pid2: number, type: number, idx1?: number, idx2?: number | KcmpEpollSlot"
)]
pub fn kcmp(
    env: Env,
    pid1: Unknown,
    pid2: Unknown,
    r#type: Unknown,
    idx1: Unknown,
    idx2: Unknown,
) -> napi::Result<u32> {
    let outcome = (|| {
        let pid1 = args::integer(&pid1, "pid1", 1, PID_MAX)?;
        let pid2 = args::integer(&pid2, "pid2", 1, PID_MAX)?;
        let kind = args::integer(&r#type, "type", 0, PID_MAX)?;
        let idx1 = args::opt_integer(&idx1, "idx1", 0, IDX_MAX, 0)?;
        if kind == i64::from(KCMP_EPOLL_TFD) {
            let slot = epoll_slot(&idx2)?;
            let ptr = &slot as *const libc::c_uint as usize;
            let text = format!(
                "{{ efd: {}, tfd: {}, toff: {} }}",
                slot[0], slot[1], slot[2]
            );
            return kcmp_raw(pid1, pid2, kind, idx1 as u64, ptr as u64, &text);
        }
        let idx2 = args::opt_integer(&idx2, "idx2", 0, IDX_MAX, 0)?;
        kcmp_raw(
            pid1,
            pid2,
            kind,
            idx1 as u64,
            idx2 as u64,
            &idx2.to_string(),
        )
    })();
    to_js(&env, outcome)
}

/// Reads `{ efd, tfd, toff }` into the kernel's struct kcmp_epoll_slot layout.
fn epoll_slot(v: &Unknown) -> Outcome<[libc::c_uint; 3]> {
    let bad = || {
        Failure::ArgType(format!(
            "The \"idx2\" argument must be of type object ({{ efd, tfd, toff }}) for KCMP_EPOLL_TFD. {}",
            args::received(v)
        ))
    };
    if v.get_type().ok() != Some(ValueType::Object) {
        return Err(bad());
    }
    // SAFETY: the type was checked just above.
    let obj = unsafe { v.cast::<Object>() }.map_err(|_| bad())?;
    let mut slot = [0; 3];
    for (i, name) in ["efd", "tfd", "toff"].into_iter().enumerate() {
        let field = obj.get_named_property::<Unknown>(name).map_err(|_| bad())?;
        slot[i] =
            args::integer(&field, &format!("idx2.{name}"), 0, u32::MAX.into())? as libc::c_uint;
    }
    Ok(slot)
}

fn kcmp_raw(
    pid1: i64,
    pid2: i64,
    kind: i64,
    idx1: u64,
    idx2: u64,
    idx2_text: &str,
) -> Outcome<u32> {
    // SAFETY: kcmp reads its integer arguments; for KCMP_EPOLL_TFD idx2 points at a live slot.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid1 as libc::pid_t,
            pid2 as libc::pid_t,
            kind as libc::c_int,
            idx1,
            idx2,
        )
    };
    if rc >= 0 {
        return Ok(rc as u32);
    }
    let errno = Errno::last();
    let cause = match errno {
        Errno::ESRCH => Some(format!("no process {pid1} or no process {pid2}")),
        Errno::EPERM => Some(
            "kcmp needs ptrace read access to both processes: the same user (and dumpable), or \
             CAP_SYS_PTRACE"
                .into(),
        ),
        Errno::EBADF => Some(format!(
            "fd {idx1} is not open in process {pid1}, or fd {idx2_text} not in process {pid2}"
        )),
        Errno::EINVAL if kind == i64::from(KCMP_EPOLL_TFD) => Some(format!(
            "{idx2_text} does not name an epoll instance of process {pid2}: efd must be an epoll \
             fd there"
        )),
        Errno::EINVAL => Some(format!("{kind} is not a KCMP_* type this kernel knows")),
        Errno::ENOENT => Some("the file is not registered in that epoll instance".into()),
        Errno::ENOSYS | Errno::EOPNOTSUPP => {
            Some("this kernel was built without kcmp (CONFIG_KCMP)".into())
        }
        _ => None,
    };
    Err(Failure::sys(
        errno,
        "kcmp",
        format!("kcmp({pid1}, {pid2}, {kind}, {idx1}, {idx2_text})"),
        cause,
    ))
}

/// Closes an fd that native code opened (a pidfd, a namespace fd). Runtimes that keep their own
/// table of fds (Deno) refuse `fs.closeSync()` for fds they did not open themselves.
#[napi(js_name = "_closeFd")]
pub fn close_fd(env: Env, fd: i32) -> napi::Result<()> {
    // SAFETY: close(2) of an integer the caller owns; a wrong one is EBADF.
    let rc = unsafe { libc::close(fd) };
    if rc == 0 {
        return Ok(());
    }
    to_js(
        &env,
        Err(Failure::sys(
            Errno::last(),
            "close",
            format!("close({fd})"),
            None,
        )),
    )
}

/// Seconds on CLOCK_MONOTONIC or CLOCK_BOOTTIME, as a new time namespace's offsets are checked
/// against (a runtime's own hrtime need not be either: Bun's starts at the process's start).
#[napi(
    js_name = "_clockNow",
    ts_args_type = "clock: 'monotonic' | 'boottime'"
)]
pub fn clock_now(env: Env, clock: String) -> napi::Result<f64> {
    use nix::time::{clock_gettime, ClockId};
    let id = if clock == "boottime" {
        ClockId::CLOCK_BOOTTIME
    } else {
        ClockId::CLOCK_MONOTONIC
    };
    let outcome = clock_gettime(id)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .map_err(|e| Failure::sys(e, "clock_gettime", format!("clock_gettime({clock})"), None));
    to_js(&env, outcome)
}
