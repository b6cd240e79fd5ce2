// The native binding with its public types. At run time everything here is the binding's own
// function or number (waitpid excepted: a wrapper that builds its result); the types give every
// constant family a type of its own, so that a constant of one family passed where another is
// expected (setns(fd, WNOHANG), unshare(KCMP_VM)) fails to compile. Numbers built with `|`
// stay plain numbers and are accepted wherever flags are.
import * as binding from '../index.js'

declare const family: unique symbol

/** A constant of one family: a number at run time, a type of its own for the compiler. */
export type Constant<Family extends string> = number & {
  /** The family's name: for the compiler only, absent at run time. */
  readonly [family]: Family
}

/** `NEW*`: a namespace type, for clone(), unshare() and setns(). */
export type NamespaceFlag = Constant<'namespace'>
/** The other clone(2)/unshare(2) flags (`FS`, `FILES`, `PIDFD`, ...). */
export type CloneFlag = Constant<'clone flag'>
/** The exit signal in clone()'s low flags byte (`SIGCHLD`), and `CSIGNAL`, its mask. */
export type ExitSignal = Constant<'exit signal'>
/** waitpid() options. */
export type WaitOption = Constant<'wait option'>
/** kcmp() types. */
export type KcmpType = Constant<'kcmp type'>
/** nsIoctl() requests. */
export type NsIoctlRequest = Constant<'nsfs ioctl'>
/** mount() flags (`MS_*`). */
export type MountFlag = Constant<'mount flag'>
/** umount() flags (`MNT_*`, `UMOUNT_NOFOLLOW`). */
export type UmountFlag = Constant<'umount flag'>

/**
 * `F` itself, unless it is a constant of a family outside `Allowed`; then `never`, which no
 * argument matches. Plain numbers (such as `NEWNET | NEWUTS`) pass.
 */
export type Only<F extends number, Allowed extends string> = F extends {
  /** The family of a constant. */
  readonly [family]: infer K
}
  ? [K] extends [Allowed]
    ? F
    : never
  : F

/** What clone() and unshare() take as flags. */
export type CloneFlags = 'namespace' | 'clone flag' | 'exit signal'
/** What unshare() takes. */
export type UnshareFlags = 'namespace' | 'clone flag'

/** A real-time signal, as waitpid() names it: 'SIGRTMIN+3'. */
export type RealtimeSignal = 'SIGRTMIN' | 'SIGRTMAX' | `SIGRTMIN+${number}` | `SIGRTMAX-${number}` | `SIG${number}`

/** A signal name: Node's names, and the real-time ones. */
export type SignalName = NodeJS.Signals | RealtimeSignal

/** A file descriptor, or anything with one, such as a FileHandle from `node:fs/promises`. */
export type FdLike = number | {
  /** The fd. */
  readonly fd: number
}

/** How a child changed state, as waitpid() and waitExit() report it. */
export interface WaitResult {
  /** The child's pid. */
  pid: number
  /** The raw wait status, as waitpid(2) stores it. */
  status: number
  /** The exit code if the child exited (WIFEXITED), else null. */
  exitCode: number | null
  /** The signal that killed the child (WIFSIGNALED), else null. */
  signal: SignalName | null
  /** Whether the child dumped core as it was killed (WCOREDUMP). */
  coreDumped: boolean
  /** The signal that stopped the child (WIFSTOPPED, reported with WUNTRACED), else null. */
  stopSignal: SignalName | null
  /** Whether a stopped child was resumed by SIGCONT (WIFCONTINUED, reported with WCONTINUED). */
  continued: boolean
}

/** For `kcmp(..., KCMP_EPOLL_TFD, fd, slot)`: the file `tfd` at offset `toff` in epoll instance `efd`. */
export interface KcmpEpollSlot {
  /** An epoll fd of pid2. */
  efd: number
  /** The target fd number registered in it. */
  tfd: number
  /** Which registration of `tfd`, counting from 0. */
  toff: number
}

/** An environment for execve(): `process.env`, or names to strings. */
export type Environment = NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>>

// Constants, each with its family's type.
/** The mask of clone()'s exit-signal byte (0xff): the low byte of its flags is the signal sent to the parent when the child ends. */
export const CSIGNAL = binding.CSIGNAL as ExitSignal
/** The exit signal clone() children send the parent (the only one it accepts besides 0); OR it into clone()'s flags. */
export const SIGCHLD = binding.SIGCHLD as ExitSignal

/** A new mount namespace (CLONE_NEWNS): mounts made there are its own. */
export const NEWNS = binding.NEWNS as NamespaceFlag
/** A new UTS namespace: a hostname and NIS domain name of its own. */
export const NEWUTS = binding.NEWUTS as NamespaceFlag
/** A new IPC namespace: System V IPC objects and POSIX message queues of its own. */
export const NEWIPC = binding.NEWIPC as NamespaceFlag
/** A new network namespace: interfaces (only `lo`, down), routes, firewall and sockets of its own. */
export const NEWNET = binding.NEWNET as NamespaceFlag
/** A new pid namespace: the child is its pid 1. Refused by unshare() on Node's threads; fine in clone() and spawn(). */
export const NEWPID = binding.NEWPID as NamespaceFlag
/** A new user namespace: uids, gids and capabilities of its own. Only a single-threaded process may enter one, so unshare() fails with EINVAL in Node; clone() and spawn() can. */
export const NEWUSER = binding.NEWUSER as NamespaceFlag
/** A new cgroup namespace: the current cgroup becomes the root of its view of /proc/self/cgroup. */
export const NEWCGROUP = binding.NEWCGROUP as NamespaceFlag
/** A new time namespace (Linux 5.6+): monotonic and boottime clock offsets of its own. 0x80, inside clone()'s exit-signal byte, so unshare() and setns() take it and clone() cannot. */
export const NEWTIME = binding.NEWTIME as NamespaceFlag

/** CLONE_VM: share the memory. unshare(VM) fails with EINVAL in Node; clone() always adds it. */
export const VM = binding.VM as CloneFlag
/** CLONE_FS: share root, cwd and umask. unshare(FS) gives the calling thread its own, which setns() into a mount namespace needs first. */
export const FS = binding.FS as CloneFlag
/** CLONE_FILES: share the fd table. clone() always adds it; unshare(FILES) is refused on Node's threads. */
export const FILES = binding.FILES as CloneFlag
/** CLONE_SIGHAND: share signal handlers. Refused by clone(); EINVAL from unshare() in Node. */
export const SIGHAND = binding.SIGHAND as CloneFlag
/** CLONE_PIDFD (Linux 5.3+): with clone()'s `ptid`, a pidfd for the child is written into `ptid[0]`. */
export const PIDFD = binding.PIDFD as CloneFlag
/** CLONE_PTRACE: a traced parent traces the child too. */
export const PTRACE = binding.PTRACE as CloneFlag
/** CLONE_VFORK: the parent waits until the child exits or execs. clone() always adds it. */
export const VFORK = binding.VFORK as CloneFlag
/** CLONE_PARENT: the child would be this process's parent's child, which nobody here could reap; refused by clone(). */
export const PARENT = binding.PARENT as CloneFlag
/** CLONE_THREAD: the child would be a thread running JavaScript on the same heap; refused by clone(). */
export const THREAD = binding.THREAD as CloneFlag
/** CLONE_SYSVSEM: share System V semaphore undo values. */
export const SYSVSEM = binding.SYSVSEM as CloneFlag
/** CLONE_SETTLS: a new thread-local storage area; refused by clone(), as in Linux::Clone. */
export const SETTLS = binding.SETTLS as CloneFlag
/** CLONE_PARENT_SETTID: with clone()'s `ptid`, the child's tid is written into `ptid[0]`. */
export const PARENT_SETTID = binding.PARENT_SETTID as CloneFlag
/** CLONE_CHILD_CLEARTID: refused by clone(), as in Linux::Clone (no `ctid` argument). */
export const CHILD_CLEARTID = binding.CHILD_CLEARTID as CloneFlag
/** CLONE_DETACHED: ignored by the kernel since Linux 2.6; accepted for completeness. */
export const DETACHED = binding.DETACHED as CloneFlag
/** CLONE_UNTRACED: a tracer cannot force CLONE_PTRACE on the child. */
export const UNTRACED = binding.UNTRACED as CloneFlag
/** CLONE_CHILD_SETTID: refused by clone(), as in Linux::Clone (no `ctid` argument). */
export const CHILD_SETTID = binding.CHILD_SETTID as CloneFlag
/** CLONE_IO: share the I/O context (the I/O scheduler treats the processes as one). */
export const IO = binding.IO as CloneFlag

/** waitpid(): return null at once if the child has not changed state. */
export const WNOHANG = binding.WNOHANG as WaitOption
/** waitpid(): also report children stopped by a signal (`stopSignal`). */
export const WUNTRACED = binding.WUNTRACED as WaitOption
/** waitpid(): also report stopped children resumed by SIGCONT (`continued`). */
export const WCONTINUED = binding.WCONTINUED as WaitOption
/** waitpid(): wait for children whatever their exit signal (added unless __WCLONE is given). */
export const __WALL = binding.__WALL as WaitOption
/** waitpid(): wait only for children whose exit signal is not SIGCHLD (or none). */
export const __WCLONE = binding.__WCLONE as WaitOption

/** kcmp(): do fd `idx1` of pid1 and fd `idx2` of pid2 refer to the same open file? */
export const KCMP_FILE = binding.KCMP_FILE as KcmpType
/** kcmp(): do the processes share their memory? */
export const KCMP_VM = binding.KCMP_VM as KcmpType
/** kcmp(): do the processes share their fd table? */
export const KCMP_FILES = binding.KCMP_FILES as KcmpType
/** kcmp(): do the processes share root, cwd and umask? */
export const KCMP_FS = binding.KCMP_FS as KcmpType
/** kcmp(): do the processes share their signal handlers? */
export const KCMP_SIGHAND = binding.KCMP_SIGHAND as KcmpType
/** kcmp(): do the processes share their I/O context? */
export const KCMP_IO = binding.KCMP_IO as KcmpType
/** kcmp(): do the processes share System V semaphore undo values? */
export const KCMP_SYSVSEM = binding.KCMP_SYSVSEM as KcmpType
/** kcmp(): is fd `idx1` of pid1 the target described by `idx2` ({ efd, tfd, toff }) in pid2's epoll instance? */
export const KCMP_EPOLL_TFD = binding.KCMP_EPOLL_TFD as KcmpType

/** nsIoctl(): a new fd for the user namespace that owns the namespace (close it). */
export const NS_GET_USERNS = binding.NS_GET_USERNS as NsIoctlRequest
/** nsIoctl(): a new fd for the parent of a pid or user namespace (close it). */
export const NS_GET_PARENT = binding.NS_GET_PARENT as NsIoctlRequest
/** nsIoctl(): the namespace's type, as a `NEW*` flag. */
export const NS_GET_NSTYPE = binding.NS_GET_NSTYPE as NsIoctlRequest
/** nsIoctl(): the uid that created a user namespace. */
export const NS_GET_OWNER_UID = binding.NS_GET_OWNER_UID as NsIoctlRequest

/** mount(): read-only. */
export const MS_RDONLY = binding.MS_RDONLY as MountFlag
/** mount(): setuid and setgid bits and file capabilities are ignored. */
export const MS_NOSUID = binding.MS_NOSUID as MountFlag
/** mount(): device files cannot be opened. */
export const MS_NODEV = binding.MS_NODEV as MountFlag
/** mount(): programs cannot be executed from it. */
export const MS_NOEXEC = binding.MS_NOEXEC as MountFlag
/** mount(): writes are synchronous. */
export const MS_SYNCHRONOUS = binding.MS_SYNCHRONOUS as MountFlag
/** mount(): change the flags of an existing mount (with MS_BIND, only its per-mount flags). */
export const MS_REMOUNT = binding.MS_REMOUNT as MountFlag
/** mount(): allow mandatory locks (no longer supported since Linux 5.15). */
export const MS_MANDLOCK = binding.MS_MANDLOCK as MountFlag
/** mount(): directory changes are synchronous. */
export const MS_DIRSYNC = binding.MS_DIRSYNC as MountFlag
/** mount(): symlinks are not followed when resolving paths (Linux 5.10+). */
export const MS_NOSYMFOLLOW = binding.MS_NOSYMFOLLOW as MountFlag
/** mount(): access times are not updated. */
export const MS_NOATIME = binding.MS_NOATIME as MountFlag
/** mount(): directory access times are not updated. */
export const MS_NODIRATIME = binding.MS_NODIRATIME as MountFlag
/** mount(): bind `source` (a file or directory) onto `target`; with MS_REC, the mounts beneath too. */
export const MS_BIND = binding.MS_BIND as MountFlag
/** mount(): move the mount at `source` to `target`. */
export const MS_MOVE = binding.MS_MOVE as MountFlag
/** mount(): with MS_BIND or a propagation flag, apply to every mount beneath as well. */
export const MS_REC = binding.MS_REC as MountFlag
/** mount(): fewer kernel log messages. */
export const MS_SILENT = binding.MS_SILENT as MountFlag
/** mount(): POSIX ACLs (set by the filesystem; not for callers). */
export const MS_POSIXACL = binding.MS_POSIXACL as MountFlag
/** mount(): propagation: private, and cannot be bind-mounted. */
export const MS_UNBINDABLE = binding.MS_UNBINDABLE as MountFlag
/** mount(): propagation: mounts neither propagate to nor from peers (`mount --make-private`). */
export const MS_PRIVATE = binding.MS_PRIVATE as MountFlag
/** mount(): propagation: receives mounts from its peers, sends none. */
export const MS_SLAVE = binding.MS_SLAVE as MountFlag
/** mount(): propagation: mounts propagate both ways among peers. */
export const MS_SHARED = binding.MS_SHARED as MountFlag
/** mount(): access times updated relative to modification times (the default). */
export const MS_RELATIME = binding.MS_RELATIME as MountFlag
/** mount(): update inode i_version on changes. */
export const MS_I_VERSION = binding.MS_I_VERSION as MountFlag
/** mount(): always update access times. */
export const MS_STRICTATIME = binding.MS_STRICTATIME as MountFlag
/** mount(): keep timestamp updates in memory and write them lazily. */
export const MS_LAZYTIME = binding.MS_LAZYTIME as MountFlag

/** umount(): force it, even if busy (network filesystems; may lose data). */
export const MNT_FORCE = binding.MNT_FORCE as UmountFlag
/** umount(): detach it now; the kernel frees it when the last user is gone (`umount -l`). */
export const MNT_DETACH = binding.MNT_DETACH as UmountFlag
/** umount(): mark it expired (EAGAIN); a second call unmounts it if nothing used it meanwhile. */
export const MNT_EXPIRE = binding.MNT_EXPIRE as UmountFlag
/** umount(): do not follow `target` if it is a symlink. */
export const UMOUNT_NOFOLLOW = binding.UMOUNT_NOFOLLOW as UmountFlag

// Functions. Each is the binding's own; only the declared types differ.

/**
 * unshare(2): moves the calling thread into new namespaces. See docs/threads.md for what that changes.
 *
 * @function
 */
export const unshare: <F extends number>(flags: F & Only<F, UnshareFlags>) => void = binding.unshare

/**
 * setns(2): moves the calling thread into the namespace behind `fd` (a namespace fd or a pidfd).
 *
 * @function
 */
export const setns: <F extends number = 0>(fd: FdLike, nstype?: F & Only<F, 'namespace'>) => void = binding.setns

/**
 * The nsfs ioctls: NS_GET_NSTYPE, NS_GET_USERNS, NS_GET_PARENT, NS_GET_OWNER_UID.
 *
 * @function
 */
export const nsIoctl: <F extends number>(fd: FdLike, request: F & Only<F, 'nsfs ioctl'>) => number =
  binding.nsIoctl

/**
 * kcmp(2): 0 if two processes share the resource, 1 or 2 ordered, 3 unordered.
 *
 * @function
 */
export const kcmp: <F extends number>(
  pid1: number,
  pid2: number,
  type: F & Only<F, 'kcmp type'>,
  idx1?: number,
  idx2?: number | KcmpEpollSlot,
) => number = binding.kcmp

const waitpidPacked = binding._waitpidPacked as (pid: number, options?: number) => number | WaitResult | null

/**
 * waitpid(2), synchronous; null only with WNOHANG while the child runs.
 */
export function waitpid<F extends number = 0>(pid: number, options?: F & Only<F, 'wait option'>): WaitResult | null {
  // A child that exited comes back as `pid * 256 + exit code`: an object literal here costs a
  // fraction of one built through Node-API, and waitpid() is half of every clone() round trip.
  const r = waitpidPacked(pid, options)
  if (typeof r !== 'number') return r
  const exitCode = r & 0xff
  return { pid: r >> 8, status: exitCode << 8, exitCode, signal: null, coreDumped: false, stopSignal: null, continued: false }
}

/**
 * Resolves when child `pid` ends, and reaps it.
 *
 * @function
 */
export const waitExit = binding.waitExit as (pid: number) => Promise<WaitResult>

/**
 * pidfd_open(2): an fd that refers to process `pid` (close-on-exec).
 *
 * @function
 */
export const pidfdOpen: (pid: number) => number = binding.pidfdOpen

/**
 * pidfd_send_signal(2): a number (0 to check), or a name as process.kill() takes it.
 *
 * @function
 */
export const pidfdSendSignal: (pidfd: FdLike, signal: number | SignalName) => void = binding.pidfdSendSignal

/**
 * pivot_root(2).
 *
 * @function
 */
export const pivotRoot: (newRoot: string, putOld: string) => void = binding.pivotRoot

/**
 * mount(2), in the calling thread's mount namespace (in a clone() callback with NEWNS, the
 * child's). `source` and `fstype` may be null; `data` is the filesystem's options.
 *
 * @function
 */
export const mount: <F extends number>(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: F & Only<F, 'mount flag'>,
  data?: string | null,
) => void = binding.mount

/**
 * umount2(2): detaches the mount at `target`; MNT_DETACH lazily, while it is still in use.
 *
 * @function
 */
export const umount: <F extends number = 0>(target: string, flags?: F & Only<F, 'umount flag'>) => void =
  binding.umount

/**
 * sethostname(2), for the calling thread's UTS namespace (in a clone() callback with NEWUTS, the child's).
 *
 * @function
 */
export const sethostname: (name: string) => void = binding.sethostname

/**
 * setdomainname(2), for the calling thread's UTS namespace.
 *
 * @function
 */
export const setdomainname: (name: string) => void = binding.setdomainname

/**
 * Brings `lo` up in the calling thread's network namespace.
 *
 * @function
 */
export const configureLoopback: () => void = binding.configureLoopback

/**
 * getpid(2), uncached: inside a clone() callback, the child's pid.
 *
 * @function
 */
export const getpid: () => number = binding.getpid

/**
 * gettid(2), uncached.
 *
 * @function
 */
export const gettid: () => number = binding.gettid

/**
 * Inside a clone() callback: ends the child with status `code` (0 to 255).
 *
 * @function
 */
export const exit: (code: number) => never = binding.exit

/**
 * Inside a clone() callback: replaces the child with the program at `path`. `argv` includes
 * argv[0]; `env` is `process.env` or names to strings, and defaults to this process's.
 *
 * @function
 */
export const execve: (path: string, argv: readonly string[], env?: Environment) => never = binding.execve
