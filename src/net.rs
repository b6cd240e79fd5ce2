//! configureLoopback: bring `lo` up, as `ip link set lo up` does, without running `ip`.

use std::os::fd::AsRawFd;

use napi::Env;
use napi_derive::napi;
use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::errors::{to_js, Failure, Outcome};

/// Brings the loopback interface `lo` up in the calling thread's network namespace, so that
/// 127.0.0.1 and ::1 work right after `unshare(NEWNET)` (a new network namespace starts with
/// `lo` down). The kernel adds the local routes itself. Needs CAP_NET_ADMIN.
#[napi]
pub fn configure_loopback(env: Env) -> napi::Result<()> {
    to_js(&env, loopback_up())
}

fn loopback_up() -> Outcome<()> {
    let fail = |errno: Errno, syscall: &'static str| {
        let cause = match errno {
            Errno::EPERM | Errno::EACCES => {
                Some("bringing an interface up needs CAP_NET_ADMIN in the network namespace's user namespace".into())
            }
            Errno::ENODEV => Some("this network namespace has no interface named lo".into()),
            _ => None,
        };
        Failure::sys(
            errno,
            syscall,
            format!("{syscall}(lo, SIOCSIFFLAGS IFF_UP)"),
            cause,
        )
    };
    // The socket is made on this thread, so it belongs to this thread's network namespace.
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| fail(e, "socket"))?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // nix has no SIOCGIFFLAGS/SIOCSIFFLAGS wrappers; the request type differs between glibc
    // (c_ulong) and musl (c_int), hence the casts to libc::Ioctl. SAFETY: req is a valid ifreq that lives
    // across both calls; the kernel reads and writes only within it.
    unsafe {
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS as libc::Ioctl,
            &mut req,
        ) < 0
        {
            return Err(fail(Errno::last(), "ioctl"));
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as libc::Ioctl, &req) < 0 {
            return Err(fail(Errno::last(), "ioctl"));
        }
    }
    Ok(())
}
