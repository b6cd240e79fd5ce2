//! Raw system calls, for code that runs in a child sharing memory with a running parent.
//!
//! The C library's wrappers set `errno`, which lives in the calling thread's TLS: a CLONE_VM
//! child that has not set up TLS of its own would write into its parent thread's. These return
//! the kernel's answer as it is (`-errno` on failure) and touch nothing but registers and the
//! memory their arguments name. The clone trampoline enters the child on its new stack without
//! the C library's clone() wrapper, whose older versions (glibc 2.24 and earlier) write the
//! calling thread's TCB when CLONE_VM is set.

use std::arch::asm;
use std::ffi::c_void;

/// The code a child runs after the trampoline: it must not return (it execs or exits).
pub type ChildFn = unsafe extern "C" fn(*mut c_void) -> !;

/// A system call with up to six arguments; the result is the kernel's, `-errno` on failure.
///
/// # Safety
/// The arguments must be valid for system call `nr`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn syscall6(nr: i64, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; syscall clobbers rcx and r11 only.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A system call with up to six arguments; the result is the kernel's, `-errno` on failure.
///
/// # Safety
/// The arguments must be valid for system call `nr`.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn syscall6(nr: i64, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; svc preserves every register but x0.
    unsafe {
        asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

/// clone(2) or clone3(2) (`nr`, with its arguments) whose child starts running `child(arg)` on
/// the stack the arguments give it. Returns the child's pid, or `-errno`, in the parent.
///
/// # Safety
/// The arguments must ask for a new stack that stays mapped and unused by anyone else until the
/// child has exec'd or exited; `child` must never return and must only make raw system calls on
/// memory no other thread writes while it runs.
#[cfg(target_arch = "x86_64")]
pub unsafe fn clone_into(nr: i64, a: [usize; 5], child: ChildFn, arg: *mut c_void) -> isize {
    let ret: isize;
    // The child comes back from `syscall` with rax = 0 and rsp at the top of its new stack (16-
    // byte aligned, so the call below leaves it as the ABI expects); r12 and r13 still hold
    // what they held in the parent.
    // SAFETY: as the caller vouches; the parent path clobbers only rax, rcx and r11.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r13",
            "call r12",
            "ud2",
            "2:",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4],
            in("r12") child, in("r13") arg,
            lateout("rcx") _, lateout("r11") _,
        );
    }
    ret
}

/// clone(2) or clone3(2) (`nr`, with its arguments) whose child starts running `child(arg)` on
/// the stack the arguments give it. Returns the child's pid, or `-errno`, in the parent.
///
/// # Safety
/// As for the x86-64 version.
#[cfg(target_arch = "aarch64")]
pub unsafe fn clone_into(nr: i64, a: [usize; 5], child: ChildFn, arg: *mut c_void) -> isize {
    let ret: isize;
    // The child comes back from `svc` with x0 = 0 and sp at the top of its new stack; x9 and
    // x10 still hold what they held in the parent.
    // SAFETY: as the caller vouches; the parent path clobbers only x0.
    unsafe {
        asm!(
            "svc 0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x30, xzr",
            "mov x0, x10",
            "blr x9",
            "brk #0",
            "2:",
            in("x8") nr,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4],
            in("x9") child, in("x10") arg,
        );
    }
    ret
}

/// The calling process's exit, as the last act of a child that failed: no atexit handlers, no
/// stdio flush (those belong to the parent, whose memory the child shares).
///
/// A seccomp filter can refuse exit_group (and exit): looping on it would leave a child that
/// never ends and a parent waiting for it forever. So: exit (a single-threaded child ends with
/// its only thread), then a fault, whose signal the kernel delivers even to a pid 1 and which
/// no filter can refuse, after asking for no core dump (the memory may be the parent's).
pub fn exit_group(code: i32) -> ! {
    // SAFETY: plain integers; neither call returns unless a filter refuses it.
    unsafe {
        syscall6(libc::SYS_exit_group, [code as usize, 0, 0, 0, 0, 0]);
        syscall6(libc::SYS_exit, [code as usize, 0, 0, 0, 0, 0]);
        let none = [0u64; 2];
        syscall6(
            libc::SYS_prlimit64,
            [
                0,
                libc::RLIMIT_CORE as usize,
                none.as_ptr() as usize,
                0,
                0,
                0,
            ],
        );
    }
    fault()
}

/// An illegal instruction: SIGILL, forced on the task whatever its mask and dispositions.
#[cfg(target_arch = "x86_64")]
pub fn fault() -> ! {
    // SAFETY: traps; never returns.
    unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
}

/// An illegal instruction: SIGILL, forced on the task whatever its mask and dispositions.
#[cfg(target_arch = "aarch64")]
pub fn fault() -> ! {
    // SAFETY: traps; never returns.
    unsafe { asm!("udf #0", options(noreturn, nomem, nostack)) }
}

/// Shorthand for calls with fewer arguments.
///
/// # Safety
/// As for [`syscall6`].
#[inline(always)]
pub unsafe fn syscall(nr: i64, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    // SAFETY: passed on.
    unsafe { syscall6(nr, [a0, a1, a2, a3, 0, 0]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_calls_return_the_kernels_answer() {
        // SAFETY: getpid takes no arguments.
        let pid = unsafe { syscall(libc::SYS_getpid, 0, 0, 0, 0) };
        assert_eq!(pid, std::process::id() as isize);
        // SAFETY: close of an fd that cannot be open.
        let rc = unsafe { syscall(libc::SYS_close, -1i32 as u32 as usize, 0, 0, 0) };
        assert_eq!(rc, -(libc::EBADF as isize));
    }
}

/// Functions to run when this process exits through exit(3), which process.exit() calls
/// without any Node-API teardown; in no other process: a clone() child that shares our memory
/// (and this list) may reach exit() too.
static AT_EXIT: std::sync::Mutex<Vec<fn()>> = std::sync::Mutex::new(Vec::new());
static AT_EXIT_OWNER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Runs `f` at this process's exit (see AT_EXIT).
pub fn at_exit(f: fn()) {
    let mut list = AT_EXIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if list.is_empty() {
        AT_EXIT_OWNER.store(getpid(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: registers a plain extern "C" function, once.
        unsafe { libc::atexit(run_at_exit) };
    }
    list.push(f);
}

extern "C" fn run_at_exit() {
    if getpid() != AT_EXIT_OWNER.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    // Copied out: a function may take a lock another thread holds while it registers one.
    let list = AT_EXIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for f in list.iter().rev() {
        f();
    }
}

/// getpid(2), asked of the kernel every time: glibc before 2.25 answers from a cache in the
/// thread's TCB, which a CLONE_VM child shares with its parent and would report as its own.
pub fn getpid() -> i32 {
    // SAFETY: getpid takes no arguments.
    unsafe { syscall(libc::SYS_getpid, 0, 0, 0, 0) as i32 }
}

/// gettid(2), likewise uncached.
pub fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments.
    unsafe { syscall(libc::SYS_gettid, 0, 0, 0, 0) as i32 }
}
