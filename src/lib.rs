//! linux-clone: Linux clone(2), unshare(2), setns(2) and their neighbours for Node.js.
#![deny(clippy::unwrap_used)]
// The napi exports are compiled out of unit-test builds, which leaves their helpers unused there.
#![cfg_attr(test, allow(dead_code))]

mod args;
mod cgroup;
mod clone;
mod errors;
mod flags;
mod landlock;
mod listen;
mod mounts;
mod namespaces;
mod net;
mod pidfd;
mod process;
mod reaper;
mod sandbox;
mod seccomp;
mod signals;
mod spawn;
mod sys;
mod threadpool;
mod toolkit;
mod usage;
mod uts;
mod wait;
