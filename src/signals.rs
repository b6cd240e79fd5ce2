//! Signal names and numbers, one table for every message and every name a caller passes.
//!
//! The numbers are Linux's generic ones, the same on x86-64 and arm64. Real-time signals read
//! 'SIGRTMIN+N' from the C library's SIGRTMIN; the two glibc keeps below it read 'SIG32',
//! 'SIG33'.

/// Signals 1 to 31 by number, as `kill -l` and `os.constants.signals` spell them.
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Other names Node's `os.constants.signals` accepts for the same numbers.
const ALIASES: [(&str, i32); 2] = [("SIGIOT", 6), ("SIGPOLL", 29)];

/// The kernel's highest signal number (_NSIG).
pub const MAX: i32 = 64;

/// A signal's name: 'SIGTERM', 'SIGRTMIN+3', 'SIG32'.
pub fn name(signo: i32) -> String {
    if let Some(name) = static_name(signo) {
        return name.to_string();
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    match signo {
        n if n == min => "SIGRTMIN".to_string(),
        n if n > min && n <= max => format!("SIGRTMIN+{}", n - min),
        n => format!("SIG{n}"),
    }
}

/// The name of signal 1 to 31 without allocating, for the fatal path.
pub fn static_name(signo: i32) -> Option<&'static str> {
    usize::try_from(signo - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
}

/// A signal number from a name as `process.kill()` takes it, or as name() prints it.
pub fn number(name: &str) -> Option<i32> {
    if let Some(i) = NAMES.iter().position(|n| *n == name) {
        return Some(i as i32 + 1);
    }
    if let Some((_, n)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        return Some(*n);
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let offset = |rest: &str| {
        rest.parse::<i32>()
            .ok()
            .filter(|n| *n >= 0 && *n <= max - min)
    };
    match name {
        "SIGRTMIN" => Some(min),
        "SIGRTMAX" => Some(max),
        _ => {
            if let Some(rest) = name.strip_prefix("SIGRTMIN+") {
                offset(rest).map(|n| min + n)
            } else if let Some(rest) = name.strip_prefix("SIGRTMAX-") {
                offset(rest).map(|n| max - n)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_c_library() {
        for (n, c) in [
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGUSR1, "SIGUSR1"),
            (libc::SIGTERM, "SIGTERM"),
            (libc::SIGSTKFLT, "SIGSTKFLT"),
            (libc::SIGCHLD, "SIGCHLD"),
            (libc::SIGTTOU, "SIGTTOU"),
            (libc::SIGWINCH, "SIGWINCH"),
            (libc::SIGIO, "SIGIO"),
            (libc::SIGPWR, "SIGPWR"),
            (libc::SIGSYS, "SIGSYS"),
        ] {
            assert_eq!(name(n), c);
        }
    }

    #[test]
    fn names_read_back_as_their_numbers() {
        for n in (1..32).chain(libc::SIGRTMIN()..=libc::SIGRTMAX()) {
            assert_eq!(number(&name(n)), Some(n), "{}", name(n));
        }
        assert_eq!(name(libc::SIGRTMIN()), "SIGRTMIN");
        assert_eq!(name(libc::SIGRTMIN() + 6), "SIGRTMIN+6");
        assert_eq!(name(32), "SIG32");
        assert_eq!(number("SIGRTMAX-1"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(number("SIGIOT"), Some(libc::SIGABRT));
        assert_eq!(number("SIGPOLL"), Some(libc::SIGIO));
        for bad in [
            "SIGFOO",
            "sigterm",
            "TERM",
            "SIGRTMIN+99",
            "SIGRTMIN+-1",
            "",
        ] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }
}
