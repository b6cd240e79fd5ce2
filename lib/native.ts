// The native binding with its public types. At run time everything here is the binding's own
// function or number; the types give every constant family a type of its own, so that a
// constant of one family passed where another is expected (setns(fd, WNOHANG),
// unshare(KCMP_VM)) fails to compile. Numbers built with `|` stay plain numbers and are
// accepted wherever flags are.
import * as binding from '../index.js'

declare const family: unique symbol

/** A constant of one family: a number at run time, a type of its own for the compiler. */
export type Constant<Family extends string> = number & { readonly [family]: Family }

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
export type Only<F extends number, Allowed extends string> = F extends { readonly [family]: infer K }
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
export type FdLike = number | { readonly fd: number }

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
  efd: number
  tfd: number
  toff: number
}

/** An environment for execve(): `process.env`, or names to strings. */
export type Environment = NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>>

// Constants, each with its family's type.
export const CSIGNAL = binding.CSIGNAL as ExitSignal
export const SIGCHLD = binding.SIGCHLD as ExitSignal

export const NEWNS = binding.NEWNS as NamespaceFlag
export const NEWUTS = binding.NEWUTS as NamespaceFlag
export const NEWIPC = binding.NEWIPC as NamespaceFlag
export const NEWNET = binding.NEWNET as NamespaceFlag
export const NEWPID = binding.NEWPID as NamespaceFlag
export const NEWUSER = binding.NEWUSER as NamespaceFlag
export const NEWCGROUP = binding.NEWCGROUP as NamespaceFlag
export const NEWTIME = binding.NEWTIME as NamespaceFlag

export const VM = binding.VM as CloneFlag
export const FS = binding.FS as CloneFlag
export const FILES = binding.FILES as CloneFlag
export const SIGHAND = binding.SIGHAND as CloneFlag
export const PIDFD = binding.PIDFD as CloneFlag
export const PTRACE = binding.PTRACE as CloneFlag
export const VFORK = binding.VFORK as CloneFlag
export const PARENT = binding.PARENT as CloneFlag
export const THREAD = binding.THREAD as CloneFlag
export const SYSVSEM = binding.SYSVSEM as CloneFlag
export const SETTLS = binding.SETTLS as CloneFlag
export const PARENT_SETTID = binding.PARENT_SETTID as CloneFlag
export const CHILD_CLEARTID = binding.CHILD_CLEARTID as CloneFlag
export const DETACHED = binding.DETACHED as CloneFlag
export const UNTRACED = binding.UNTRACED as CloneFlag
export const CHILD_SETTID = binding.CHILD_SETTID as CloneFlag
export const IO = binding.IO as CloneFlag

export const WNOHANG = binding.WNOHANG as WaitOption
export const WUNTRACED = binding.WUNTRACED as WaitOption
export const WCONTINUED = binding.WCONTINUED as WaitOption
export const __WALL = binding.__WALL as WaitOption
export const __WCLONE = binding.__WCLONE as WaitOption

export const KCMP_FILE = binding.KCMP_FILE as KcmpType
export const KCMP_VM = binding.KCMP_VM as KcmpType
export const KCMP_FILES = binding.KCMP_FILES as KcmpType
export const KCMP_FS = binding.KCMP_FS as KcmpType
export const KCMP_SIGHAND = binding.KCMP_SIGHAND as KcmpType
export const KCMP_IO = binding.KCMP_IO as KcmpType
export const KCMP_SYSVSEM = binding.KCMP_SYSVSEM as KcmpType
export const KCMP_EPOLL_TFD = binding.KCMP_EPOLL_TFD as KcmpType

export const NS_GET_USERNS = binding.NS_GET_USERNS as NsIoctlRequest
export const NS_GET_PARENT = binding.NS_GET_PARENT as NsIoctlRequest
export const NS_GET_NSTYPE = binding.NS_GET_NSTYPE as NsIoctlRequest
export const NS_GET_OWNER_UID = binding.NS_GET_OWNER_UID as NsIoctlRequest

export const MS_RDONLY = binding.MS_RDONLY as MountFlag
export const MS_NOSUID = binding.MS_NOSUID as MountFlag
export const MS_NODEV = binding.MS_NODEV as MountFlag
export const MS_NOEXEC = binding.MS_NOEXEC as MountFlag
export const MS_SYNCHRONOUS = binding.MS_SYNCHRONOUS as MountFlag
export const MS_REMOUNT = binding.MS_REMOUNT as MountFlag
export const MS_MANDLOCK = binding.MS_MANDLOCK as MountFlag
export const MS_DIRSYNC = binding.MS_DIRSYNC as MountFlag
export const MS_NOSYMFOLLOW = binding.MS_NOSYMFOLLOW as MountFlag
export const MS_NOATIME = binding.MS_NOATIME as MountFlag
export const MS_NODIRATIME = binding.MS_NODIRATIME as MountFlag
export const MS_BIND = binding.MS_BIND as MountFlag
export const MS_MOVE = binding.MS_MOVE as MountFlag
export const MS_REC = binding.MS_REC as MountFlag
export const MS_SILENT = binding.MS_SILENT as MountFlag
export const MS_POSIXACL = binding.MS_POSIXACL as MountFlag
export const MS_UNBINDABLE = binding.MS_UNBINDABLE as MountFlag
export const MS_PRIVATE = binding.MS_PRIVATE as MountFlag
export const MS_SLAVE = binding.MS_SLAVE as MountFlag
export const MS_SHARED = binding.MS_SHARED as MountFlag
export const MS_RELATIME = binding.MS_RELATIME as MountFlag
export const MS_I_VERSION = binding.MS_I_VERSION as MountFlag
export const MS_STRICTATIME = binding.MS_STRICTATIME as MountFlag
export const MS_LAZYTIME = binding.MS_LAZYTIME as MountFlag

export const MNT_FORCE = binding.MNT_FORCE as UmountFlag
export const MNT_DETACH = binding.MNT_DETACH as UmountFlag
export const MNT_EXPIRE = binding.MNT_EXPIRE as UmountFlag
export const UMOUNT_NOFOLLOW = binding.UMOUNT_NOFOLLOW as UmountFlag

// Functions. Each is the binding's own; only the declared types differ.

/** unshare(2): moves the calling thread into new namespaces. See the README's Threads section. */
export const unshare: <F extends number>(flags: F & Only<F, UnshareFlags>) => void = binding.unshare

/** setns(2): moves the calling thread into the namespace behind `fd` (a namespace fd or a pidfd). */
export const setns: <F extends number = 0>(fd: FdLike, nstype?: F & Only<F, 'namespace'>) => void = binding.setns

/** The nsfs ioctls: NS_GET_NSTYPE, NS_GET_USERNS, NS_GET_PARENT, NS_GET_OWNER_UID. */
export const nsIoctl: <F extends number>(fd: FdLike, request: F & Only<F, 'nsfs ioctl'>) => number =
  binding.nsIoctl

/** kcmp(2): 0 if two processes share the resource, 1 or 2 ordered, 3 unordered. */
export const kcmp: <F extends number>(
  pid1: number,
  pid2: number,
  type: F & Only<F, 'kcmp type'>,
  idx1?: number,
  idx2?: number | KcmpEpollSlot,
) => number = binding.kcmp

/** waitpid(2), synchronous; null only with WNOHANG while the child runs. */
export const waitpid = binding.waitpid as <F extends number = 0>(
  pid: number,
  options?: F & Only<F, 'wait option'>,
) => WaitResult | null

/** Resolves when child `pid` ends, and reaps it. */
export const waitExit = binding.waitExit as (pid: number) => Promise<WaitResult>

/** pidfd_open(2): an fd that refers to process `pid` (close-on-exec). */
export const pidfdOpen: (pid: number) => number = binding.pidfdOpen

/** pidfd_send_signal(2): a number (0 to check), or a name as process.kill() takes it. */
export const pidfdSendSignal: (pidfd: FdLike, signal: number | SignalName) => void = binding.pidfdSendSignal

/** pivot_root(2). */
export const pivotRoot: (newRoot: string, putOld: string) => void = binding.pivotRoot

/**
 * mount(2), in the calling thread's mount namespace (in a clone() callback with NEWNS, the
 * child's). `source` and `fstype` may be null; `data` is the filesystem's options.
 */
export const mount: <F extends number>(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: F & Only<F, 'mount flag'>,
  data?: string | null,
) => void = binding.mount

/** umount2(2): detaches the mount at `target`; MNT_DETACH lazily, while it is still in use. */
export const umount: <F extends number = 0>(target: string, flags?: F & Only<F, 'umount flag'>) => void =
  binding.umount

/** sethostname(2), for the calling thread's UTS namespace (in a clone() callback with NEWUTS, the child's). */
export const sethostname: (name: string) => void = binding.sethostname

/** setdomainname(2), for the calling thread's UTS namespace. */
export const setdomainname: (name: string) => void = binding.setdomainname

/** Brings `lo` up in the calling thread's network namespace. */
export const configureLoopback: () => void = binding.configureLoopback

/** getpid(2), uncached: inside a clone() callback, the child's pid. */
export const getpid: () => number = binding.getpid

/** gettid(2), uncached. */
export const gettid: () => number = binding.gettid

/** Inside a clone() callback: ends the child with status `code` (0 to 255). */
export const exit: (code: number) => never = binding.exit

/**
 * Inside a clone() callback: replaces the child with the program at `path`. `argv` includes
 * argv[0]; `env` is `process.env` or names to strings, and defaults to this process's.
 */
export const execve: (path: string, argv: readonly string[], env?: Environment) => never = binding.execve
