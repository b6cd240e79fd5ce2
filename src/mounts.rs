//! pivot_root(2).

use napi::{Env, Unknown};
use napi_derive::napi;
use nix::errno::Errno;

use crate::args;
use crate::errors::{to_js, Failure, Outcome};

/// Makes `newRoot` the root of the calling thread's mount namespace and moves the old root to
/// `putOld` (a directory at or under `newRoot`): pivot_root(2).
///
/// Do it in a mount namespace of its own (`unshare(NEWNS)`, or in a clone callback), after
/// making the mounts private (`mount --make-rprivate /`); `newRoot` must be a mount point
/// (bind-mount a directory onto itself to make it one). Every thread and process of that mount
/// namespace whose root or cwd was the old root moves to the new one.
#[napi(ts_args_type = "newRoot: string, putOld: string")]
pub fn pivot_root(env: Env, new_root: Unknown, put_old: Unknown) -> napi::Result<()> {
    let outcome = args::path(&new_root, "newRoot").and_then(|new_root| {
        let put_old = args::path(&put_old, "putOld")?;
        pivot(new_root, put_old)
    });
    to_js(&env, outcome)
}

fn pivot(new_root: String, put_old: String) -> Outcome<()> {
    nix::unistd::pivot_root(new_root.as_str(), put_old.as_str()).map_err(|errno| Failure::Sys {
        errno,
        syscall: "pivot_root",
        call: format!("pivot_root({new_root:?}, {put_old:?})"),
        cause: pivot_root_cause(errno),
        path: Some(new_root),
        dest: Some(put_old),
    })
}

/// The likely cause of pivot_root's `errno`, in words.
pub fn pivot_root_cause(errno: Errno) -> Option<String> {
    let cause = match errno {
        Errno::EINVAL => {
            "newRoot must be a mount point (bind-mount it onto itself), putOld must be at or \
             under newRoot, and neither the current root nor newRoot's mounts may be shared: \
             in a new mount namespace, make them private first (mount --make-rprivate /), and \
             the current root must not be the initramfs rootfs"
        }
        Errno::EBUSY => {
            "newRoot and putOld must not be on the current root's mount: make newRoot a mount \
             point of its own (bind-mount it onto itself)"
        }
        Errno::ENOTDIR => "newRoot and putOld must both be directories",
        Errno::ENOENT => "newRoot or putOld does not exist",
        Errno::EPERM => {
            "pivot_root needs CAP_SYS_ADMIN in the user namespace that owns the caller's mount \
             namespace"
        }
        _ => return None,
    };
    Some(cause.into())
}
