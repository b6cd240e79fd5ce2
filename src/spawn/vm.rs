//! Two facts about the host learned by trying, once: whether a child can share our memory
//! (CLONE_VM works everywhere but under qemu-user, which refuses it with EINVAL outside of
//! threads), and whether a new user namespace comes with capabilities in it.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, Ordering};

use super::parent::userns_restriction;
use super::UserNamespaceSupport;
use crate::sys;

const UNKNOWN: u8 = 0;
const SHARED: u8 = 1;
const COPIED: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Written by the probe child: seen by the parent only if the memory is really shared.
static MARK: AtomicU8 = AtomicU8::new(0);

const PROBE_STACK: usize = 16 * 1024;

unsafe extern "C" fn mark_and_exit(_: *mut c_void) -> ! {
    MARK.store(1, Ordering::SeqCst);
    sys::exit_group(0)
}

/// In a new user namespace: can we use CAP_SYS_ADMIN there? The exit code is the errno.
unsafe extern "C" fn try_capability(_: *mut c_void) -> ! {
    // SAFETY: unshare takes flags.
    let rc = unsafe { sys::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS as usize, 0, 0, 0) };
    sys::exit_group(if rc < 0 { (-rc) as i32 } else { 0 })
}

/// Clones `child` on a small stack of its own with `flags` and waits for it: its exit code, or
/// the clone's `-errno`.
fn run(flags: u32, child: sys::ChildFn) -> Result<i32, i32> {
    let mut stack = vec![0u128; PROBE_STACK / 16];
    let top = stack.as_mut_ptr() as usize + PROBE_STACK;
    // Signals stay blocked in the child: it makes two system calls and exits.
    let _blocked = super::Blocked::all();
    // SAFETY: the stack is ours until the child is reaped below; the child makes raw calls.
    let pid = unsafe {
        sys::clone_into(
            libc::SYS_clone,
            [(flags | libc::SIGCHLD as u32) as usize, top, 0, 0, 0],
            child,
            std::ptr::null_mut(),
        )
    };
    if pid < 0 {
        return Err((-pid) as i32);
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for the one child just made.
        let rc = unsafe { libc::waitpid(pid as i32, &mut status, libc::__WALL) };
        if rc == pid as i32 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            break;
        }
    }
    drop(stack);
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    })
}

/// Whether spawn() children can share our memory; probed on first use.
pub fn shared() -> bool {
    match MODE.load(Ordering::Relaxed) {
        SHARED => true,
        COPIED => false,
        _ => {
            MARK.store(0, Ordering::SeqCst);
            let ok = run(libc::CLONE_VM as u32, mark_and_exit).is_ok()
                && MARK.load(Ordering::SeqCst) == 1;
            MODE.store(if ok { SHARED } else { COPIED }, Ordering::Relaxed);
            ok
        }
    }
}

/// CLONE_VM when children can share our memory, else nothing: a fork-like copy.
pub fn clone_vm() -> u32 {
    if shared() {
        libc::CLONE_VM as u32
    } else {
        0
    }
}

pub fn user_namespaces() -> UserNamespaceSupport {
    let vm = if shared() {
        libc::CLONE_VM | libc::CLONE_VFORK
    } else {
        0
    } as u32;
    match run(vm | libc::CLONE_NEWUSER as u32, try_capability) {
        Ok(0) => UserNamespaceSupport { ok: true, cause: None },
        Ok(_) => UserNamespaceSupport {
            ok: false,
            cause: Some(userns_restriction().unwrap_or_else(|| {
                "a new user namespace is created but grants no capabilities (a Linux security module restricts it)".into()
            })),
        },
        Err(errno) => UserNamespaceSupport {
            ok: false,
            cause: Some(userns_restriction().unwrap_or_else(|| match errno {
                libc::ENOSPC => "the user namespace limit is reached (user.max_user_namespaces)".into(),
                libc::EINVAL => "this kernel or emulator does not support CLONE_NEWUSER here".into(),
                _ => format!(
                    "the kernel refused a new user namespace ({}); a container's seccomp profile can do that",
                    crate::errors::errno_code(nix::errno::Errno::from_raw(errno))
                ),
            })),
        },
    }
}
