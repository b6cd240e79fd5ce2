//! The default parent's leaves, made ahead of the runs that take them and removed behind the
//! runs that used them, on a thread of their own. A cgroup's mkdir and rmdir are the kernel's
//! work, and not little of it (in an emulated guest the two cost a fifth to a quarter of a
//! spawnSync('/bin/true')); neither needs to hold up the caller.
//!
//! - One spare leaf per set of limits, for the last few sets (SPARES): a process gets one from
//!   its second run with the same limits on (a process that runs once never makes one). Taking
//!   it asks for the next at once, so that a series of runs finds each one ready, also when
//!   runs with different limits take turns.
//! - A used leaf is handed over once the run's usage has been read; the thread removes it,
//!   killing what the program left in it first (as a synchronous removal does).
//! - Only for the default parent: a cgroupParent is the caller's, who may remove it as soon as
//!   the run has returned (cgroup.rs makes and removes those leaves in the run).
//! - At exit (sys::at_exit, as the reaper's) the spares is removed and the removals under
//!   way are waited for, a bounded time. A process killed outright leaves them to the next
//!   run of any process, which removes leaves whose maker is gone.
//!
//! Without the thread (it could not be started) there are no spares, and a leaf is removed
//! where it is handed over.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{make_leaf, remove_stale, Files, Leaf, Parent};

enum Job {
    Make(Parent, Files),
    Remove(Leaf),
}

/// A parent's path and the limits written: what a spare is for.
type Key = (String, Files);

struct Keeper {
    /// The oldest first.
    spares: Vec<(Key, Leaf)>,
    jobs: VecDeque<Job>,
    /// A job taken by the thread and not done.
    busy: bool,
    /// The spares being made (queued or under way): one per key at a time is enough.
    making: Vec<Key>,
    thread: Thread,
    /// The limits of the last leaves made in runs, to tell a process that runs with them again.
    seen: Vec<Key>,
}

/// Spares kept at most (each an empty cgroup, with the kernel's memory for its controllers).
const SPARES: usize = 4;

#[derive(PartialEq)]
enum Thread {
    NotStarted,
    Running,
    Failed,
}

static KEEPER: Mutex<Keeper> = Mutex::new(Keeper {
    spares: Vec::new(),
    jobs: VecDeque::new(),
    busy: false,
    making: Vec::new(),
    thread: Thread::NotStarted,
    seen: Vec::new(),
});
/// Signalled when a job is queued.
static QUEUED: Condvar = Condvar::new();
/// Signalled when a job is done.
static DONE: Condvar = Condvar::new();
/// How long the atexit handler waits for the removals under way.
const AT_EXIT: Duration = Duration::from_secs(3);

fn lock() -> std::sync::MutexGuard<'static, Keeper> {
    KEEPER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The spare leaf, if one was made under `parent` with these limits; the next is asked for.
pub(super) fn take(parent: &Parent, files: &Files) -> Option<Leaf> {
    let mut k = lock();
    let at = k
        .spares
        .iter()
        .position(|((path, f), _)| *path == parent.path && f == files)?;
    let (_, leaf) = k.spares.remove(at);
    // A controller disabled in the parent since takes its files from the spare, and with them
    // the limits: such a spare goes, and the run makes its leaf (and meets the error) itself.
    if !files.iter().all(|(file, _)| leaf.has(file)) {
        k.jobs.push_back(Job::Remove(leaf));
        QUEUED.notify_one();
        return None;
    }
    make(k, parent, files);
    Some(leaf)
}

/// A leaf was made in a run with these limits: from the second such run on, a spare is made.
pub(super) fn made(parent: &Parent, files: &Files) {
    let mut k = lock();
    let key = (parent.path.clone(), files.clone());
    if !k.seen.contains(&key) {
        if k.seen.len() == SPARES {
            k.seen.remove(0);
        }
        k.seen.push(key);
        return;
    }
    make(k, parent, files);
}

fn make(mut k: std::sync::MutexGuard<'static, Keeper>, parent: &Parent, files: &Files) {
    let key = (parent.path.clone(), files.clone());
    if !k.making.contains(&key) {
        k.making.push(key);
        queue(k, Job::Make(parent.clone(), files.clone()));
    }
}

/// The spare for `key` is made (or could not be): another may be asked for.
fn made_spare(k: &mut Keeper, key: &Key) {
    k.making.retain(|m| m != key);
}

/// Removes a used leaf on the thread.
pub(super) fn remove_later(leaf: Leaf) {
    queue(lock(), Job::Remove(leaf));
}

fn queue(mut k: std::sync::MutexGuard<'static, Keeper>, job: Job) {
    if k.thread == Thread::NotStarted {
        let started = std::thread::Builder::new()
            .name("linux-clone cgroups".into())
            .spawn(work);
        k.thread = if started.is_ok() {
            crate::sys::at_exit(at_exit);
            Thread::Running
        } else {
            Thread::Failed
        };
    }
    if k.thread == Thread::Failed {
        drop(k);
        match job {
            // Made where it is asked for, a spare would only add to the run's time.
            Job::Make(parent, files) => made_spare(&mut lock(), &(parent.path, files)),
            Job::Remove(leaf) => drop(leaf),
        }
        return;
    }
    k.jobs.push_back(job);
    QUEUED.notify_one();
}

fn work() {
    let mut k = lock();
    loop {
        let Some(job) = k.jobs.pop_front() else {
            k = QUEUED.wait(k).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        k.busy = true;
        drop(k);
        run(job);
        k = lock();
        k.busy = false;
        DONE.notify_all();
    }
}

fn run(job: Job) {
    match job {
        // Dropping a leaf removes it.
        Job::Remove(leaf) => drop(leaf),
        Job::Make(parent, files) => {
            // Off the runs' path, so on each spare: a maker may have died since the last run.
            remove_stale(parent.dir.as_raw_fd());
            // A failure is the next run's to report: it makes its leaf itself.
            let made = make_leaf(&parent, &files).ok();
            let key = (parent.path, files);
            let mut k = lock();
            made_spare(&mut k, &key);
            let mut old = Vec::new();
            if let Some(leaf) = made {
                if let Some(at) = k.spares.iter().position(|(s, _)| *s == key) {
                    old.push(k.spares.remove(at));
                }
                if k.spares.len() == SPARES {
                    old.push(k.spares.remove(0));
                }
                k.spares.push((key, leaf));
            }
            drop(k);
            // Dropping a leaf removes it: not while the others wait for the lock.
            drop(old);
        }
    }
}

/// Removes the spare and waits (a bounded time) for the removals under way.
fn at_exit() {
    let mut k = lock();
    // Leaves not made yet are not needed any more.
    k.jobs.retain(|j| matches!(j, Job::Remove(_)));
    let spares = std::mem::take(&mut k.spares);
    let deadline = Instant::now() + AT_EXIT;
    while k.busy || !k.jobs.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        k = DONE
            .wait_timeout(k, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    // A Make that was under way may have left a spare since.
    let late = std::mem::take(&mut k.spares);
    drop(k);
    drop(spares);
    drop(late);
}
