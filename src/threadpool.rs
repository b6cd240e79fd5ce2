//! Starting libuv's threadpool early. It starts on first use, from whichever thread uses it
//! first, and its threads keep the namespaces and the process they were created in for good:
//! started by a clone() child they would die with it, started after an unshare() they would
//! run all of the process's async fs in the new namespace.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use napi::{sys, Env, JsValue};

static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts the threadpool from this thread, now, if nothing has yet: before the first clone(),
/// unshare() or setns(), so that its threads have the namespaces this thread has now.
pub fn start(env: &Env) {
    if STARTED.load(Ordering::Acquire) {
        return;
    }
    unsafe extern "C" fn nothing(_env: sys::napi_env, _data: *mut c_void) {}
    unsafe extern "C" fn done(env: sys::napi_env, _status: sys::napi_status, data: *mut c_void) {
        // SAFETY: data is the slot made below, holding the work item that has finished now.
        unsafe {
            let slot = Box::from_raw(data.cast::<sys::napi_async_work>());
            sys::napi_delete_async_work(env, *slot);
        }
    }
    let Ok(name) = env.create_string("linux-clone:threadpool") else {
        return;
    };
    // The completion callback deletes the work item, which it finds through this slot.
    let slot: *mut sys::napi_async_work = Box::into_raw(Box::new(ptr::null_mut()));
    // SAFETY: env is live; napi calls `done` exactly once with `slot` after the item ran, and
    // `done` frees both. If queueing fails, both are freed here instead. Queueing creates the
    // pool's threads before it returns (libuv's init_once), from this thread.
    unsafe {
        if sys::napi_create_async_work(
            env.raw(),
            ptr::null_mut(),
            name.raw(),
            Some(nothing),
            Some(done),
            slot.cast(),
            slot,
        ) != sys::Status::napi_ok
        {
            drop(Box::from_raw(slot));
            return;
        }
        if sys::napi_queue_async_work(env.raw(), *slot) == sys::Status::napi_ok {
            STARTED.store(true, Ordering::Release);
        } else {
            sys::napi_delete_async_work(env.raw(), *slot);
            drop(Box::from_raw(slot));
        }
    }
}
