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

/// The address range this addon is loaded at (from the lowest to the highest of its PT_LOAD
/// segments, page-aligned), found once: what a reaper keeps of its copy of our memory.
pub fn image() -> Option<(usize, usize)> {
    static IMAGE: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *IMAGE.get_or_init(find_image)
}

struct Search {
    /// An address inside the addon's code.
    inside: usize,
    found: Option<(usize, usize)>,
}

unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> libc::c_int {
    // SAFETY: the C library passes a valid info for each loaded object, and our Search.
    unsafe {
        let search = &mut *(data as *mut Search);
        let info = &*info;
        let base = info.dlpi_addr as usize;
        let (mut lo, mut hi, mut ours) = (usize::MAX, 0usize, false);
        for i in 0..info.dlpi_phnum as usize {
            let ph = &*info.dlpi_phdr.add(i);
            if ph.p_type != libc::PT_LOAD {
                continue;
            }
            let start = base + ph.p_vaddr as usize;
            let end = start + ph.p_memsz as usize;
            lo = lo.min(start);
            hi = hi.max(end);
            ours |= (start..end).contains(&search.inside);
        }
        if ours {
            let page = 4096usize.max(libc::sysconf(libc::_SC_PAGESIZE) as usize);
            search.found = Some((lo & !(page - 1), (hi + page - 1) & !(page - 1)));
            return 1;
        }
        0
    }
}

fn find_image() -> Option<(usize, usize)> {
    let mut search = Search {
        inside: find_image as *const () as usize,
        found: None,
    };
    // SAFETY: walks the loaded objects with a callback that only reads them.
    unsafe { libc::dl_iterate_phdr(Some(each_object), &mut search as *mut Search as *mut c_void) };
    search.found
}

/// The calling thread's rseq area, as the C library registered it (glibc 2.35+ does, for every
/// thread; musl does not): a fork-like child inherits the registration, and the kernel writes
/// there whenever it returns to that child. (0, 0) if none.
pub fn rseq_area() -> (usize, usize) {
    static OFFSET: std::sync::OnceLock<Option<isize>> = std::sync::OnceLock::new();
    let offset = *OFFSET.get_or_init(|| {
        // SAFETY: dlsym with a constant name; the symbol is a ptrdiff_t glibc exports.
        unsafe {
            let size = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr()) as *const u32;
            let offset = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr()) as *const isize;
            (!size.is_null() && !offset.is_null() && *size > 0).then(|| *offset)
        }
    });
    match offset {
        Some(off) => {
            let area = thread_pointer().wrapping_add_signed(off);
            (area, area + 32)
        }
        None => (0, 0),
    }
}

/// The thread pointer, which glibc's `__rseq_offset` is relative to.
#[cfg(target_arch = "x86_64")]
fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads the TCB's self pointer, which both C libraries keep at %fs:0.
    unsafe {
        std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags))
    };
    tp
}

#[cfg(target_arch = "aarch64")]
fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads the thread pointer register.
    unsafe {
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nostack, nomem, preserves_flags))
    };
    tp
}
