//! Forwarded ports: a listening TCP socket made inside another network namespace, by a process
//! that is in it (spawn()'s child, or the short-lived child of a sandbox's forward), then
//! served by this process's event loop. The socket calls are raw system calls on data
//! prepared before the clone: they run in children that share our memory.

use nix::errno::Errno;

use crate::sys::{syscall, syscall6};

/// Where to listen: an IPv4 address (host order), a port and listen(2)'s backlog.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ListenAt {
    pub addr: u32,
    pub port: u16,
    pub backlog: i32,
}

/// Which call failed, in a child's report: setns is the sandbox's own first stage.
pub const SETNS: u32 = 1;
pub const SOCKET: u32 = 2;
pub const SETSOCKOPT: u32 = 3;
pub const BIND: u32 = 4;
pub const LISTEN: u32 = 5;
/// spawn()'s child only: the socket could not be sent to the parent.
pub const SEND: u32 = 6;

/// socket, SO_REUSEADDR, bind and listen, in the calling process's network namespace: the
/// socket's fd (close-on-exec, non-blocking), or the stage that failed and its -errno (the
/// socket, if one was made, is closed then). No allocation, no errno: safe in a child that
/// shares our memory.
///
/// # Safety
/// Raw system calls; `l` must be readable.
pub unsafe fn listen_tcp(l: &ListenAt) -> Result<isize, (u32, isize)> {
    // SAFETY: raw system calls on `l` and this stack.
    unsafe {
        let fd = syscall(
            libc::SYS_socket,
            libc::AF_INET as usize,
            (libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as usize,
            0,
            0,
        );
        if fd < 0 {
            return Err((SOCKET, fd));
        }
        let fail = |stage: u32, rc: isize| {
            syscall(libc::SYS_close, fd as usize, 0, 0, 0);
            Err((stage, rc))
        };
        // A forward can be made again at once after a closed one whose connections are in
        // TIME_WAIT.
        let one: i32 = 1;
        let rc = syscall6(
            libc::SYS_setsockopt,
            [
                fd as usize,
                libc::SOL_SOCKET as usize,
                libc::SO_REUSEADDR as usize,
                &one as *const i32 as usize,
                std::mem::size_of::<i32>(),
                0,
            ],
        );
        if rc < 0 {
            return fail(SETSOCKOPT, rc);
        }
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = l.port.to_be();
        sa.sin_addr.s_addr = l.addr.to_be();
        let rc = syscall(
            libc::SYS_bind,
            fd as usize,
            &sa as *const libc::sockaddr_in as usize,
            std::mem::size_of::<libc::sockaddr_in>(),
            0,
        );
        if rc < 0 {
            return fail(BIND, rc);
        }
        let rc = syscall(libc::SYS_listen, fd as usize, l.backlog as usize, 0, 0);
        if rc < 0 {
            return fail(LISTEN, rc);
        }
        Ok(fd)
    }
}

/// `a.b.c.d:port`.
pub fn address(addr: u32, port: u16) -> String {
    format!(
        "{}.{}.{}.{}:{port}",
        addr >> 24,
        (addr >> 16) & 255,
        (addr >> 8) & 255,
        addr & 255
    )
}

/// The system call, the call as shown, and the cause in words of a failed socket stage;
/// `whose`: "the sandbox's" or "the program's".
pub fn describe(
    stage: u32,
    errno: Errno,
    at: &ListenAt,
    whose: &str,
) -> (&'static str, String, Option<String>) {
    let where_ = address(at.addr, at.port);
    match stage {
        SOCKET => ("socket", "socket(AF_INET, SOCK_STREAM)".to_string(), None),
        SETSOCKOPT => ("setsockopt", "setsockopt(SO_REUSEADDR)".to_string(), None),
        BIND => (
            "bind",
            format!("bind({where_}) in {whose} network namespace"),
            match errno {
                Errno::EADDRINUSE => Some(format!(
                    "something in {whose} network namespace already listens on that port"
                )),
                Errno::EADDRNOTAVAIL => Some(format!(
                    "{whose} network namespace has no such address (only lo's 127.0.0.1 is \
                     there in a new one, and only while lo is up: see loopback)"
                )),
                Errno::EACCES => Some(format!(
                    "a port below 1024 needs CAP_NET_BIND_SERVICE in the user namespace that owns \
                     {whose} network namespace"
                )),
                _ => None,
            },
        ),
        LISTEN => ("listen", format!("listen({where_})"), None),
        _ => (
            "sendmsg",
            format!("sendmsg(SCM_RIGHTS, the socket of {where_})"),
            Some("the listening socket could not be handed to this process".to_string()),
        ),
    }
}
