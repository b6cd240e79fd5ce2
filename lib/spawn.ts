// spawn() and spawnSync(): a program started in new or existing namespaces, set up natively in
// the child (src/spawn/), with a handle shaped like child_process's ChildProcess. This layer
// only normalises options, wraps fds in streams and turns native results into events.
import { EventEmitter } from 'node:events'
import { openSync, closeSync, readFileSync, readlinkSync, writeSync, constants as fsConstants } from 'node:fs'
import { Socket } from 'node:net'
import { isatty } from 'node:tty'
import { constants as osConstants } from 'node:os'
import { resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Duplex, Readable, Writable } from 'node:stream'

import * as native from '../index.js'
import type { WaitResult } from './native.js'
import type { NsType } from './toolkit.js'
import { checkForward, Forward, type CheckedForward, type SpawnForward } from './forward.js'
import { Placeholders, sweep, type PlaceholderNeed } from './placeholders.js'
import { confinement, confinementReport, landlockSlot, type Confinement, type ConfinementOptions, type LandlockOptions } from './confine.js'
import { policySlot, type SeccompArch, type SeccompPolicy } from './seccomp.js'


/** An open namespace: an fd, a FileHandle, or anything with a numeric `fd`. */
export type NamespaceFd = number | {
  /** The namespace fd. */
  readonly fd: number
}

/** One of the child's fds. */
export type StdioEntry =
  | 'pipe'
  | 'ignore'
  | 'inherit'
  | number
  | {
      /** An fd of this process, given to the child as it is. */
      readonly fd: number
    }
  | NodeJS.ReadableStream
  | NodeJS.WritableStream
  | null
  | undefined

/** One range of an id map: ids `inside..inside+count` in the child are `outside..` here. */
export interface IdMapRange {
  /** The first id inside the new user namespace. */
  readonly inside: number
  /** The id it is here (in this process's user namespace). */
  readonly outside: number
  /** How many consecutive ids the range holds. */
  readonly count: number
}

/** 'root': 0 inside is the caller's id; 'self': the caller's id maps to itself. */
export type IdMap = 'root' | 'self' | readonly IdMapRange[]

/** Namespaces to enter: by type (an fd, FileHandle or path each), or several through a pidfd. */
export type JoinOptions =
  | { readonly [T in NsType]?: NamespaceFd | string }
  | {
      /** A pidfd of the process whose namespaces are entered. */
      readonly pidfd: NamespaceFd
      /** Which of its namespaces to enter, all at once. */
      readonly types: readonly NsType[]
    }

/** options.terminal as an object: the pty's size, TERM, and the stream's encoding. */
export interface TerminalOptions {
  /** Columns (default 80). */
  cols?: number
  /** Rows (default 24). */
  rows?: number
  /** TERM in the program's environment (default: env's TERM, else 'xterm-256color'). */
  name?: string
  /** Decode `child.terminal`'s data as strings in this encoding (default: Buffers). */
  encoding?: BufferEncoding
}

export interface SpawnOptions extends ConfinementOptions {
  /**
   * A pseudo-terminal as the program's controlling terminal on fds 0-2, in a session of its
   * own with its group in the foreground; `child.terminal` is the other side. Made from the
   * devpts the program sees (its own with a { type: 'dev' } mount entry). See docs/terminal.md.
   */
  terminal?: boolean | TerminalOptions
  /**
   * 'deny' (the default): with a terminal, or in a confined spawn that can reach this process's
   * terminal (a terminal in stdio, or /dev/tty while it shares this process's session), a
   * seccomp filter refuses ioctl TIOCSTI and TIOCLINUX (EPERM), so that the program cannot type
   * into a terminal outside. 'allow' leaves the filter out.
   */
  tiocsti?: 'deny' | 'allow'
  /** Working directory of the program, resolved against this process's. */
  cwd?: string | URL
  /** Environment of the program (default: process.env). */
  env?: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>>
  /** argv[0] of the program (default: `file`). */
  argv0?: string
  /** The child's fds: index i is fd i. Default 'pipe' for 0-2. */
  stdio?: 'pipe' | 'ignore' | 'inherit' | readonly StdioEntry[]
  /** A session of its own (setsid). */
  detached?: boolean
  /** The program's uid (setuid after the namespaces are made; in a new user namespace, an id inside it). */
  uid?: number
  /** The program's gid (setgid, likewise). */
  gid?: number
  /** Supplementary groups. */
  groups?: readonly number[]
  /** Milliseconds before the program is sent `killSignal`. */
  timeout?: number
  /** Signal for timeout, abort and asyncDispose (default 'SIGTERM'). */
  killSignal?: NodeJS.Signals | number
  /** Aborting it kills the program with `killSignal`. */
  signal?: AbortSignal
  /** New namespaces: names, or a NEW* mask. 'all' is bwrap's --unshare-all (user, ipc, pid,
   * net, uts, cgroup, with the caller's uid and gid mapped to themselves unless uidMap/gidMap
   * say otherwise); `{ all: true, except: ['net'] }` is --unshare-all --share-net. */
  namespaces?:
    | readonly NsType[]
    | number
    | 'all'
    | {
        /** bwrap's --unshare-all. */
        readonly all: true
        /** The namespaces left shared (--share-net: ['net']). */
        readonly except: readonly NsType[]
      }
  /** Existing namespaces to enter (the user namespace first). Joining a pid or time namespace
   * costs one more process step; a time namespace also a copy of the address space, as fork. */
  join?: JoinOptions
  /** The uid map of a new user namespace. */
  uidMap?: IdMap
  /** The gid map of a new user namespace. */
  gidMap?: IdMap
  /** /proc/PID/setgroups (default 'deny' where an unprivileged gid map needs it). */
  setgroups?: 'deny' | 'allow'
  /** The hostname in the program's new UTS namespace (refused without one: it would rename the host). */
  hostname?: string
  /** The NIS domain name in the program's new UTS namespace. */
  domainname?: string
  /** lo up in a new network namespace (default true). */
  loopback?: boolean
  /** Ports that listen inside the program's network namespace (a new or joined one) and are
   * served by this process (`child.forwards`): each connection piped to its `target` here, or
   * emitted as the Forward's 'connection'. Made before the program starts, so its seccomp
   * filter or Landlock rules do not stand in the way; closed when it exits. At most 253 (they
   * reach this process in one message). spawn() only (docs/sessions.md). */
  forwards?: readonly SpawnForward[]
  /** A signal for the program when this process dies. */
  pdeathsig?: NodeJS.Signals | number
  /** The signal this process gets when the program ends: 'SIGCHLD' (default) or 0 (none). */
  exitSignal?: 'SIGCHLD' | 0
  /** A cgroup v2 directory (path or fd) to start the program in. */
  cgroup?: string | NamespaceFd
  /** Clock offsets, in seconds, for a new time namespace. */
  timeOffsets?: {
    /** Seconds added to CLOCK_MONOTONIC inside. */
    monotonic?: number
    /** Seconds added to CLOCK_BOOTTIME inside. */
    boottime?: number
  }
  /** bwrap's --json-status-fd, for spawn(): once started, a line of JSON with the program's
   * pid and the inode of each namespace made for it (`{ "child-pid": N, "net-namespace": N,
   * ... }`; a program that has already ended when spawn() returns has none left to show),
   * then, once it has ended, `{ "exit-code": N }` (128 + the signal that ended it). The fd
   * stays the caller's to close. */
  statusFd?: NamespaceFd
  /** bwrap's --info-fd, for spawn(): the first of statusFd's documents, alone. */
  infoFd?: NamespaceFd
  /**
   * bwrap's --block-fd: the sandbox is built, then the program waits to start until this fd
   * has data to read (one byte of it is consumed, as bwrap does) or is at its end (every write
   * end closed). spawn() returns while it waits, with the pid (and infoFd/statusFd written),
   * so the caller can prepare things for it, then release it. A failure of the steps after the
   * wait (the caller's seccomp filter, execve) comes once the child has exited (status 127): as
   * 'error' and a rejected `exited` (spawnSync(): `error`), after 'spawn'. kill() ends a waiting child (pid 1 of a new pid namespace only
   * with SIGKILL, as for any init). The program does not get the fd; it stays the caller's to
   * close.
   */
  blockFd?: NamespaceFd
  /**
   * bwrap's --userns-block-fd: with a new user namespace and no `uidMap`/`gidMap`, the child
   * waits in it, its id maps unwritten, until this fd has data or is at its end, so that
   * someone outside writes /proc/PID/uid_map, setgroups and gid_map (spawn() returns while it
   * waits, with the pid; infoFd/statusFd report it). As with blockFd, a failure after the wait
   * is reported once the child has exited. Not with `terminal`, `join` or `forwards`.
   */
  usernsBlockFd?: NamespaceFd
  /**
   * bwrap's --sync-fd: spawn() holds a duplicate of this fd until the program (or its init)
   * has ended and been reaped, so whoever holds the other end sees EOF (POLLHUP) then, not
   * before; the caller closes its own copy after the call. The program does not get it.
   */
  syncFd?: NamespaceFd
  /** Limits for the run, in a cgroup v2 made for it and removed after its exit (docs/limits.md). */
  limits?: Limits
  /** Where the run's cgroup is made (a cgroup v2 directory: path or fd); default: next to this
   * process's own cgroup, or in it where it is the hierarchy's root. Only with `limits`. */
  cgroupParent?: string | NamespaceFd
}

/** A run's limits: each one a cgroup v2 file of the cgroup made for the run. */
export interface Limits {
  /** memory.max, bytes: past it the kernel reclaims, then OOM-kills the whole run. */
  memory?: number
  /** memory.swap.max, bytes (0: no swap). */
  memorySwap?: number
  /** memory.high, bytes: past it the run is throttled and reclaimed hard. */
  memoryHigh?: number
  /** pids.max: processes and threads of the run at once. */
  pids?: number
  /** cpu.max: `quota` a fraction of one CPU (0.2: a fifth), or microseconds per period. */
  cpu?: {
    /** A fraction of one CPU (0.2: a fifth; 2: two CPUs), or cpu.max's own two numbers. */
    quota:
      | number
      | {
          /** Microseconds of CPU the run may use per period. */
          max: number
          /** The period, in microseconds. */
          period: number
        }
  }
  /** cpu.weight, 1-10000 (100 by default). */
  cpuWeight?: number
  /** io.weight, 1-10000 (100 by default). */
  ioWeight?: number
}

/** What a run took, in seconds and bytes (docs/limits.md lists each field's source). */
export interface Usage extends native.Usage {}

/** Why a run ended: its own exit, a signal, spawn()'s timeout, kill() or the AbortSignal (and
 * spawnSync's maxBuffer), or one of its limits. */
export type ExitReason = 'exit' | 'signal' | 'timeout' | 'oom' | 'pids-limit' | 'killed'

/** How a program started by spawn() ended, with what it took and why. */
export interface SpawnExit extends WaitResult {
  /** What the run took: wall and CPU time, memory, I/O. */
  usage: Usage
  /** Why it ended. */
  reason: ExitReason
}

export interface SpawnSyncOptions extends SpawnOptions {
  /** Written to the program's stdin. */
  input?: string | Uint8Array
  /** Largest stdout or stderr, in bytes, before the program is killed (default 1 MiB). */
  maxBuffer?: number
  /** 'buffer' (default) or a string encoding for stdout and stderr. */
  encoding?: BufferEncoding | 'buffer'
}

export interface SpawnSyncOptionsWithStringEncoding extends SpawnSyncOptions {
  encoding: BufferEncoding
}

/** The steps of a spawn, in the order they are taken (docs/errors.md): 'limits' (the run's
 * cgroup) by the parent before the clone, the rest by the child. */
export type SpawnStep =
  | 'limits'
  | 'clone'
  | 'sync'
  | 'idmap'
  | 'setns'
  | 'unshare'
  | 'timens'
  | 'hostname'
  | 'loopback'
  | 'forward'
  | 'cgroup'
  | 'propagation'
  | 'mount'
  | 'rootfs'
  | 'landlock'
  | 'rlimit'
  | 'capabilities'
  | 'groups'
  | 'setgid'
  | 'setuid'
  | 'chdir'
  | 'terminal'
  | 'setsid'
  | 'pdeathsig'
  | 'umask'
  | 'no_new_privs'
  | 'fds'
  | 'block-fd'
  | 'reaper'
  | 'signals'
  | 'seccomp'
  | 'execve'

/** A spawn that failed, with the step that failed. Timeouts and maxBuffer in spawnSync have
 * step 'timeout' and 'maxBuffer'. */
export class SpawnError extends Error {
  /** The errno name ('ENOENT'), or 'ETIMEDOUT'/'ENOBUFS' for spawnSync's timeout and maxBuffer. */
  code: string
  /** The negative errno: `util.getSystemErrorName(errno) === code`. */
  errno: number
  /** The system call that failed ('chdir', 'mount', 'execve', ...). */
  syscall: string
  /** The path involved, where there is one (a mount target, the cwd, the program). */
  declare path?: string
  /** The program's argv. */
  spawnargs: string[]
  /** The step that failed, in the child or in this process (docs/errors.md lists them in order). */
  step: SpawnStep | 'timeout' | 'maxBuffer'
  /** Which entry of the option failed: a `mounts` or `rlimits` entry, a `join` namespace, an id map. */
  declare index?: number

  constructor(
    message: string,
    fields: { code: string; errno: number; syscall: string; path?: string; spawnargs: string[]; step: SpawnError['step']; index?: number },
  ) {
    super(message)
    this.name = 'SpawnError'
    this.code = fields.code
    this.errno = fields.errno
    this.syscall = fields.syscall
    if (fields.path !== undefined) this.path = fields.path
    this.spawnargs = fields.spawnargs
    this.step = fields.step
    if (fields.index !== undefined) this.index = fields.index
  }
}

/** What spawnSync() returns; `T` is string with an `encoding`, else Buffer. */
export interface SpawnSyncResult<T extends Buffer | string = Buffer | string> {
  /** The program's pid (0 if it never started). */
  pid: number
  /** Index i holds what the program wrote to fd i if it was a pipe (0 is always null). */
  output: (T | null)[]
  /** What the program wrote to stdout (empty unless it was a pipe). */
  stdout: T
  /** What the program wrote to stderr (empty unless it was a pipe). */
  stderr: T
  /** The exit code, or null if a signal ended the program (or it never started). */
  status: number | null
  /** The signal that ended the program, or null. */
  signal: NodeJS.Signals | null
  /** Why the program did not start or was stopped: a failed step, a timeout, maxBuffer. Never thrown. */
  error?: SpawnError
  /** What the program took; absent only if it never started. */
  usage?: Usage
  /** Why it ended; absent only if it never started. */
  reason?: ExitReason
  /** What the confinement options enforce on this kernel (Landlock's ABI, what was dropped). */
  confinement: Confinement
}

/** What spawn() can use on this host: probe()'s answer. */
export interface SpawnSupport extends native.SpawnSupport {
  /** Whether this process can create a user namespace with capabilities in it, and if not, why. */
  userNamespaces: UserNamespaceSupport
  /** Whether `limits` can work here, and where runs' cgroups are made. */
  limits: LimitsSupport
}
/** Whether user namespaces can be made here, and if not, why. */
export interface UserNamespaceSupport extends native.UserNamespaceSupport {
  /** Whether a user namespace could be made and used (measured, not guessed). */
  ok: boolean
  /** Why not, naming the setting that refuses it (a sysctl, AppArmor, a seccomp profile); absent when `ok`. */
  cause?: string
}
export type { LandlockReport, LandlockSupport } from '../index.js'
/** Whether `limits` can work here: the parent a run's cgroup would be made in, and if not, why. */
export interface LimitsSupport extends native.LimitsSupport {
  /** Whether a run's cgroup can be made here. */
  ok: boolean
}

/** What works on this host for spawn(), and why not. */
export function probe(): SpawnSupport {
  return native._probe()
}

/**
 * Compiles a seccomp policy to a classic BPF program (`struct sock_filter`s) for `arch`
 * (default: this machine's), to inspect, cache, or pass to spawn({ seccomp }) or to other tools
 * (`bwrap --seccomp FD`). Equal policies give equal bytes.
 */
export function compileSeccomp(policy: SeccompPolicy, arch?: SeccompArch): Uint8Array {
  if (arch !== undefined && arch !== 'x64' && arch !== 'arm64') throw valueError('arch', "must be 'x64' or 'arm64'", arch)
  return native._compileSeccomp(policySlot(policy, 'policy', checks), arch)
}

/**
 * Confines the calling clone() child with Landlock (the same rules as spawn({ landlock })):
 * the child only, and for good. Refused on Node's own threads (`ERR_UNSAFE_WITH_THREADS`):
 * Landlock binds only the calling thread, so the rest of Node would stay unconfined. Sets
 * no_new_privs on the child, as Landlock requires.
 */
export function landlockRestrictSelf(rules: LandlockOptions): native.LandlockReport {
  return native._landlockRestrictSelf(landlockSlot(rules, 'rules', checks))
}

// ---- argument checks, with Node's codes and wording ----

function describe(value: unknown): string {
  if (value === null) return 'Received null'
  if (value === undefined) return 'Received undefined'
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name
    return name ? `Received an instance of ${name}` : 'Received an object'
  }
  let shown = String(value).slice(0, 28)
  if (typeof value === 'string') shown = `'${shown}'`
  return `Received type ${typeof value} (${shown})`
}

function typeError(name: string, expected: string, value: unknown): TypeError {
  const e = new TypeError(`The "${name}" ${name.includes('.') ? 'property' : 'argument'} must be ${expected}. ${describe(value)}`)
  Object.defineProperty(e, 'code', { value: 'ERR_INVALID_ARG_TYPE', enumerable: true, writable: true, configurable: true })
  return e
}

function valueError(name: string, reason: string, value: unknown): TypeError {
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value)
  const e = new TypeError(`The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${shown}`)
  Object.defineProperty(e, 'code', { value: 'ERR_INVALID_ARG_VALUE', enumerable: true, writable: true, configurable: true })
  return e
}

function rangeError(name: string, range: string, value: unknown): RangeError {
  const e = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`)
  Object.defineProperty(e, 'code', { value: 'ERR_OUT_OF_RANGE', enumerable: true, writable: true, configurable: true })
  return e
}

function string(value: unknown, name: string): string {
  if (typeof value !== 'string') throw typeError(name, 'of type string', value)
  if (value.includes('\0')) throw valueError(name, 'must be a string without null bytes', value)
  return value
}

function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError(name, 'of type number', value)
  if (!Number.isInteger(value)) throw rangeError(name, 'an integer', value)
  if (value < min || value > max) throw rangeError(name, `>= ${min} && <= ${max}`, value)
  return value
}

/** A host or domain name: the kernel takes at most 64 bytes (__NEW_UTS_LEN). */
function utsName(value: unknown, name: string): string {
  const s = string(value, name)
  if (Buffer.byteLength(s) > 64) throw valueError(name, `must be at most 64 bytes (the kernel's limit); this one is ${Buffer.byteLength(s)}`, s)
  return s
}

function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw typeError(name, 'of type boolean', value)
  return value
}

const signals = osConstants.signals as Readonly<Record<string, number>>

function signalNumber(value: unknown, name: string): number {
  if (typeof value === 'number') return integer(value, name, 0, 64)
  if (typeof value === 'string') {
    const n = signals[value]
    if (n === undefined) {
      const e = new TypeError(`Unknown signal: ${value}`)
      Object.defineProperty(e, 'code', { value: 'ERR_UNKNOWN_SIGNAL', enumerable: true, writable: true, configurable: true })
      throw e
    }
    return n
  }
  throw typeError(name, 'of type string or number', value)
}

function signalName(n: number): NodeJS.Signals | null {
  for (const [name, num] of Object.entries(signals)) if (num === n) return name as NodeJS.Signals
  return null
}

function fdOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value === 'object' && value !== null) {
    const fd = (value as { fd?: unknown }).fd
    if (typeof fd === 'number') return fd
    const handleFd = (value as { _handle?: { fd?: unknown } })._handle?.fd
    if (typeof handleFd === 'number' && handleFd >= 0) return handleFd
  }
  return undefined
}

const NS_FLAGS: Readonly<Record<NsType, number>> = {
  user: native.NEWUSER,
  mnt: native.NEWNS,
  pid: native.NEWPID,
  net: native.NEWNET,
  uts: native.NEWUTS,
  ipc: native.NEWIPC,
  cgroup: native.NEWCGROUP,
  time: native.NEWTIME,
}
/** The order namespaces are entered in: the user namespace first, the mount namespace last. */
const JOIN_ORDER: readonly NsType[] = ['user', 'cgroup', 'ipc', 'uts', 'net', 'pid', 'time', 'mnt']
const ALL_NS = Object.values(NS_FLAGS).reduce((a, b) => (a | b) >>> 0, 0)

/** What bwrap's --unshare-all makes. */
const UNSHARE_ALL: readonly NsType[] = ['user', 'ipc', 'pid', 'net', 'uts', 'cgroup']

/** Whether `value` is the 'all' shorthand (alone or with exceptions). */
function isAll(value: unknown): boolean {
  return value === 'all' || (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { all?: unknown }).all === true)
}

function namespaceMask(value: unknown): number {
  if (value === undefined) return 0
  if (value === 'all') return namespaceMask(UNSHARE_ALL)
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const v = value as { all?: unknown; except?: unknown }
    if (v.all !== true) throw valueError('options.namespaces.all', "must be true ({ all: true, except: [...] } is bwrap's --unshare-all with namespaces shared)", v.all)
    if (!Array.isArray(v.except)) throw typeError('options.namespaces.except', 'an array of namespace names', v.except)
    const except = namespaceMask(v.except)
    return (namespaceMask(UNSHARE_ALL) & ~except) >>> 0
  }
  if (typeof value === 'number') {
    const mask = integer(value, 'options.namespaces', -2147483648, 4294967295) >>> 0
    if ((mask & ~ALL_NS) !== 0) throw valueError('options.namespaces', 'must only hold NEW* flags', value)
    return mask
  }
  if (!Array.isArray(value)) throw typeError('options.namespaces', 'an array of namespace names or a NEW* mask', value)
  let mask = 0
  for (const [i, name] of value.entries()) {
    const flag = NS_FLAGS[name as NsType]
    if (typeof name !== 'string' || flag === undefined)
      throw valueError(`options.namespaces[${i}]`, `must be one of ${Object.keys(NS_FLAGS).join(', ')}`, name)
    mask = (mask | flag) >>> 0
  }
  return mask
}

/** A long list shown short: its first entries and how many more. */
function shortList(values: readonly unknown[], first = 8): string {
  const shown = values.slice(0, first).map(String).join(', ')
  return values.length > first ? `[${shown}, … ${values.length - first} more]` : `[${shown}]`
}

/** NGROUPS_MAX: setgroups(2) takes at most this many groups. */
const NGROUPS_MAX = 65536
/** UID_GID_MAP_MAX_EXTENTS: the most lines a uid_map or gid_map takes (Linux 4.15+). */
const MAP_MAX_EXTENTS = 340
/** KTIME_SEC_MAX / 2: a time namespace's clock plus its offset must stay in 0..this (seconds). */
const TIMENS_MAX = 4611686018

function idMap(value: unknown, name: string, own: number): string | undefined {
  if (value === undefined) return undefined
  if (value === 'root') return `0 ${own} 1\n`
  if (value === 'self') return `${own} ${own} 1\n`
  if (!Array.isArray(value) || value.length === 0)
    throw typeError(name, "'root', 'self' or a non-empty array of { inside, outside, count }", value)
  if (value.length > MAP_MAX_EXTENTS)
    throw rangeError(`${name}.length`, `<= ${MAP_MAX_EXTENTS} (the kernel's limit of ranges in a map)`, value.length)
  const ranges = value.map((r: unknown, i: number) => {
    if (typeof r !== 'object' || r === null) throw typeError(`${name}[${i}]`, 'an object', r)
    const range = r as Record<string, unknown>
    const inside = integer(range.inside, `${name}[${i}].inside`, 0, 4294967294)
    const outside = integer(range.outside, `${name}[${i}].outside`, 0, 4294967294)
    const count = integer(range.count, `${name}[${i}].count`, 1, 4294967295)
    for (const [side, start] of [['inside', inside], ['outside', outside]] as const)
      if (start + count > 4294967295)
        throw rangeError(`${name}[${i}].count`, `<= ${4294967295 - start} (ids ${side} end below 4294967295)`, count)
    return { inside, outside, count }
  })
  // The kernel refuses overlaps with EINVAL and no word on where: name the two ranges.
  for (let i = 0; i < ranges.length; i++)
    for (let j = 0; j < i; j++)
      for (const side of ['inside', 'outside'] as const) {
        const a = ranges[j]!
        const b = ranges[i]!
        if (a[side] < b[side] + b.count && b[side] < a[side] + a.count)
          throw valueError(`${name}[${i}]`, `must not overlap ${name}[${j}]: both map ${side} ids from ${Math.max(a[side], b[side])}`, `${b.inside} ${b.outside} ${b.count}`)
      }
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}\n`).join('')
}

/** Now on `clock` as a new time namespace's offsets are checked against, in seconds. */
function clockNow(clock: 'monotonic' | 'boottime'): number {
  return native._clockNow(clock)
}

interface Normalized {
  plan: native.SpawnPlan
  spawnargs: string[]
  /** fds this layer opened (join paths, cgroup path), closed after the clone. */
  opened: number[]
  killSignal: number
  timeout: number
  pipes: boolean[]
  /** With options.terminal: the encoding of child.terminal, if any. */
  terminal?: { encoding?: BufferEncoding }
  confinement: Confinement
  /** Targets to make on this host for `placeholder: true` entries. */
  placeholders: PlaceholderNeed[]
  /** statusFd and infoFd. */
  statusFd?: number
  infoFd?: number
  /** options.forwards, checked. */
  forwards: CheckedForward[]
}

/** The namespaces bwrap names in its status, by its names. */
const STATUS_NS: readonly NsType[] = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts']

/** The start of statusFd/infoFd's report: the pid and the inode of each namespace made for it. */
function reportStart(n: Normalized, pid: number): ((result: WaitResult) => void) | undefined {
  if (n.statusFd === undefined && n.infoFd === undefined) return undefined
  const info: Record<string, number> = { 'child-pid': pid }
  for (const t of STATUS_NS) {
    if ((n.plan.namespaces & NS_FLAGS[t]) === 0) continue
    try {
      const link = readlinkSync(`/proc/${pid}/ns/${t}`)
      info[`${t}-namespace`] = Number(/\[(\d+)\]/.exec(link)?.[1])
    } catch {
      // The program has already ended: its namespaces are gone.
    }
  }
  if (n.infoFd !== undefined) writeSync(n.infoFd, `${JSON.stringify(info, null, 4)}\n`)
  const fd = n.statusFd
  if (fd === undefined) return undefined
  writeSync(fd, `${JSON.stringify(info)}\n`)
  return (result) => {
    const sig = result.signal === null ? 0 : (signals[result.signal] ?? 0)
    writeSync(fd, `${JSON.stringify({ 'exit-code': result.exitCode ?? 128 + sig })}\n`)
  }
}

let swept = false

/** Placeholders left by sandboxes whose parent died are removed by the next spawn: the first
 * of each process, and every one that makes placeholders. */
function placeholdersFor(n: Normalized): Placeholders {
  if (!swept || n.placeholders.length > 0) {
    swept = true
    sweep()
  }
  return new Placeholders(n.placeholders)
}

let legacyTiocsti: boolean | undefined
/** Whether the kernel refuses TIOCSTI without CAP_SYS_ADMIN (dev.tty.legacy_tiocsti = 0), read once. */
function kernelRefusesTiocsti(): boolean {
  if (legacyTiocsti === undefined) {
    try {
      legacyTiocsti = readFileSync('/proc/sys/dev/tty/legacy_tiocsti', 'utf8').trim() !== '0'
    } catch {
      legacyTiocsti = true // before Linux 6.2 the kernel always allows it
    }
  }
  return !legacyTiocsti
}

/** Whether this process has a controlling terminal (tty_nr in /proc/self/stat). */
function hasControllingTerminal(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4] !== '0'
  } catch {
    return false
  }
}

const TERMINAL_KEYS = ['cols', 'rows', 'name', 'encoding']

function terminalOptions(value: unknown): { cols: number; rows: number; name?: string; encoding?: BufferEncoding } | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return { cols: 80, rows: 24 }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw typeError('options.terminal', 'of type boolean or an object { cols, rows, name, encoding }', value)
  const t = value as Record<string, unknown>
  for (const k of Object.keys(t))
    if (!TERMINAL_KEYS.includes(k)) throw valueError(`options.terminal.${k}`, `is not an option of terminal (${TERMINAL_KEYS.join(', ')})`, k)
  const cols = t.cols === undefined ? 80 : integer(t.cols, 'options.terminal.cols', 1, 65535)
  const rows = t.rows === undefined ? 24 : integer(t.rows, 'options.terminal.rows', 1, 65535)
  let name: string | undefined
  if (t.name !== undefined) {
    name = string(t.name, 'options.terminal.name')
    if (name === '') throw valueError('options.terminal.name', 'cannot be empty', name)
  }
  let encoding: BufferEncoding | undefined
  if (t.encoding !== undefined) {
    if (typeof t.encoding !== 'string' || !Buffer.isEncoding(t.encoding)) throw valueError('options.terminal.encoding', 'is invalid encoding', t.encoding)
    encoding = t.encoding
  }
  return { cols, rows, name, encoding }
}

function normalize(file: unknown, args: unknown, options: unknown): Normalized {
  const f = string(file, 'file')
  if (f.length === 0) throw valueError('file', 'cannot be empty', f)
  if (args !== undefined && !Array.isArray(args)) throw typeError('args', 'an instance of Array', args)
  const list = ((args ?? []) as unknown[]).map((a, i) => string(a, `args[${i}]`))
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options)))
    throw typeError('options', 'of type object', options)
  const o = (options ?? {}) as SpawnOptions
  const argv0 = o.argv0 === undefined ? f : string(o.argv0, 'options.argv0')
  const spawnargs = [argv0, ...list]

  let cwd: string | undefined
  if (o.cwd !== undefined) {
    const c = o.cwd instanceof URL ? fileURLToPath(o.cwd) : string(o.cwd, 'options.cwd')
    cwd = resolvePath(c)
  }

  const envObj = o.env === undefined ? process.env : o.env
  if (typeof envObj !== 'object' || envObj === null) throw typeError('options.env', 'of type object', envObj)
  const terminal = terminalOptions(o.terminal)
  const env: string[] = []
  for (const [k, v] of Object.entries(envObj)) {
    if (v === undefined) continue
    if (terminal?.name !== undefined && k === 'TERM') continue
    const text = `${k}=${String(v)}`
    if (text.includes('\0')) throw valueError('options.env', 'must not contain null bytes', k)
    env.push(text)
  }
  if (terminal !== undefined && (terminal.name !== undefined || envObj.TERM === undefined))
    env.push(`TERM=${terminal.name ?? 'xterm-256color'}`)

  // stdio
  const raw = o.stdio === undefined ? 'pipe' : o.stdio
  let entries: StdioEntry[]
  if (typeof raw === 'string') {
    if (raw !== 'pipe' && raw !== 'ignore' && raw !== 'inherit') throw valueError('options.stdio', "must be 'pipe', 'ignore', 'inherit' or an array", raw)
    entries = [raw, raw, raw]
  } else if (Array.isArray(raw)) {
    entries = [...raw]
  } else {
    throw typeError('options.stdio', 'a string or an array', raw)
  }
  if (terminal !== undefined) {
    // fds 0-2 are the terminal; entries from 3 on are as usual.
    if (o.stdio !== undefined && (typeof raw === 'string' || entries.slice(0, 3).some((e) => e !== undefined && e !== null)))
      throw valueError('options.stdio', 'must leave fds 0-2 out (null) with options.terminal: they are the terminal', raw)
    entries.splice(0, 3, 'ignore', 'ignore', 'ignore')
  }
  while (entries.length < 3) entries.push(undefined)
  const stdio: native.StdioSlot[] = []
  const pipes: boolean[] = []
  entries.forEach((entry, i) => {
    const e = entry ?? (i < 3 ? 'pipe' : 'ignore')
    pipes.push(e === 'pipe')
    if (e === 'pipe') stdio.push({ kind: 'pipe' })
    else if (e === 'ignore') stdio.push({ kind: i < 3 && terminal === undefined ? 'null' : 'close' })
    else if (e === 'inherit') stdio.push(i < 3 ? { kind: 'fd', fd: i } : { kind: 'close' })
    else {
      const fd = fdOf(e)
      if (fd === undefined) throw typeError(`options.stdio[${i}]`, "'pipe', 'ignore', 'inherit', an fd, a FileHandle or a stream with an fd", e)
      stdio.push({ kind: 'fd', fd: integer(fd, `options.stdio[${i}]`, 0, 2147483647) })
    }
  })

  const uid = o.uid === undefined ? undefined : integer(o.uid, 'options.uid', 0, 4294967294)
  const gid = o.gid === undefined ? undefined : integer(o.gid, 'options.gid', 0, 4294967294)
  let groups: number[] | undefined
  if (o.groups !== undefined) {
    if (!Array.isArray(o.groups)) throw typeError('options.groups', 'an array of numbers', o.groups)
    if (o.groups.length > NGROUPS_MAX)
      throw rangeError('options.groups.length', `<= ${NGROUPS_MAX} (NGROUPS_MAX, the kernel's limit)`, `${o.groups.length}: ${shortList(o.groups)}`)
    groups = o.groups.map((g, i) => integer(g, `options.groups[${i}]`, 0, 4294967294))
  }

  let namespaces = namespaceMask(o.namespaces)
  const joinsMnt = o.join !== undefined && typeof o.join === 'object' && o.join !== null &&
    ('pidfd' in o.join ? Array.isArray(o.join.types) && o.join.types.includes('mnt') : (o.join as Record<string, unknown>).mnt !== undefined)
  const confined = confinement(o, namespaces, joinsMnt, cwd !== undefined, checks)
  namespaces = confined.namespaces
  if (confined.cwd !== undefined) cwd = confined.cwd
  const nofile = confined.plan.rlimits?.find((r) => r.name === 'nofile')
  if (nofile !== undefined && nofile.soft !== -1 && nofile.soft < stdio.length)
    throw rangeError('options.rlimits.nofile.soft', `>= ${stdio.length} (the program's fds 0-${stdio.length - 1} from stdio)`, nofile.soft)
  const newUser = (namespaces & native.NEWUSER) !== 0

  // join: ordered, the user namespace first.
  const join: native.JoinSlot[] = []
  const opened: number[] = []
  if (o.join !== undefined) {
    if (typeof o.join !== 'object' || o.join === null) throw typeError('options.join', 'of type object', o.join)
    const j = o.join as Record<string, unknown>
    if ('pidfd' in j) {
      const fd = fdOf(j.pidfd)
      if (fd === undefined) throw typeError('options.join.pidfd', 'an fd or an object with an fd', j.pidfd)
      if (!Array.isArray(j.types) || j.types.length === 0) throw typeError('options.join.types', 'a non-empty array of namespace names', j.types)
      const mask = namespaceMask(j.types)
      join.push({ fd, nstype: mask, label: `pidfd ${fd} (${(j.types as string[]).join(', ')})` })
      checkJoin(j.types as NsType[], namespaces)
    } else {
      const types = Object.keys(j).filter((k) => j[k] !== undefined)
      for (const t of types) if (!(t in NS_FLAGS)) throw valueError(`options.join.${t}`, `is not a namespace type (${Object.keys(NS_FLAGS).join(', ')})`, t)
      checkJoin(types as NsType[], namespaces)
      for (const t of JOIN_ORDER) {
        const v = j[t]
        if (v === undefined) continue
        let fd: number | undefined
        let label: string = t
        if (typeof v === 'string') {
          fd = openSync(v, fsConstants.O_RDONLY)
          opened.push(fd)
          label = `${t} (${v})`
        } else fd = fdOf(v)
        if (fd === undefined) throw typeError(`options.join.${t}`, 'an fd, a FileHandle or a path', v)
        join.push({ fd, nstype: NS_FLAGS[t], label })
      }
    }
  }

  // 'all' maps the caller's ids to themselves, as bwrap does.
  // Not with usernsBlockFd: the maps are written from outside then.
  const selfMaps = isAll(o.namespaces) && newUser && o.usernsBlockFd === undefined
  const uidMap = idMap(o.uidMap ?? (selfMaps ? 'self' : undefined), 'options.uidMap', process.geteuid?.() ?? 0)
  const gidMap = idMap(o.gidMap ?? (selfMaps ? 'self' : undefined), 'options.gidMap', process.getegid?.() ?? 0)
  if ((uidMap !== undefined || gidMap !== undefined || o.setgroups !== undefined) && !newUser)
    throw valueError('options.uidMap', "needs a new user namespace: add 'user' to namespaces", o.uidMap ?? o.gidMap ?? o.setgroups)
  // The kernel takes a user namespace's maps only from a process in it or in its parent: with
  // a joined user namespace as the parent, that is not this process.
  if ((uidMap !== undefined || gidMap !== undefined || o.setgroups !== undefined) && join.some((j) => (j.nstype & native.NEWUSER) !== 0))
    throw valueError(
      uidMap !== undefined ? 'options.uidMap' : gidMap !== undefined ? 'options.gidMap' : 'options.setgroups',
      'cannot be written for a user namespace made inside a joined one (options.join.user): the kernel takes its maps only from a process in the joined namespace, which this process is not. Leave the maps out (the program runs unmapped, as the overflow uid), or join only the other namespaces',
      o.uidMap ?? o.gidMap ?? o.setgroups,
    )
  let setgroups: string | undefined
  if (o.setgroups !== undefined) {
    if (o.setgroups !== 'deny' && o.setgroups !== 'allow') throw valueError('options.setgroups', "must be 'deny' or 'allow'", o.setgroups)
    setgroups = o.setgroups
  } else if (gidMap !== undefined && process.geteuid?.() !== 0) {
    setgroups = 'deny'
  }

  const hostname = o.hostname === undefined ? undefined : utsName(o.hostname, 'options.hostname')
  const domainname = o.domainname === undefined ? undefined : utsName(o.domainname, 'options.domainname')
  // Without a UTS namespace of its own the child would rename the host (or this container).
  const ownUts = (namespaces & native.NEWUTS) !== 0 || join.some((j) => (j.nstype & native.NEWUTS) !== 0)
  if ((hostname !== undefined || domainname !== undefined) && !ownUts)
    throw valueError(hostname !== undefined ? 'options.hostname' : 'options.domainname', "would rename this host: add 'uts' to namespaces, or join a UTS namespace", hostname ?? domainname)
  const loopback = bool(o.loopback, 'options.loopback', true) && (namespaces & native.NEWNET) !== 0
  const forwards: CheckedForward[] = []
  if (o.forwards !== undefined) {
    if (!Array.isArray(o.forwards)) throw typeError('options.forwards', 'an array of forwards', o.forwards)
    // They reach this process in one SCM_RIGHTS message, which carries at most SCM_MAX_FD fds.
    if (o.forwards.length > 253)
      throw rangeError('options.forwards', 'at most 253 entries (their sockets reach this process in one message, which carries at most 253 fds); for more ports, a sandbox and sandbox.forward()', o.forwards.length)
    o.forwards.forEach((f: unknown, i) => forwards.push(checkForward(f, (f as SpawnForward | null)?.target, `options.forwards[${i}]`, `options.forwards[${i}].target`)))
    // In this process's own network namespace a forward would only be a second listener here.
    const ownNet = (namespaces & native.NEWNET) !== 0 || join.some((j) => (j.nstype & native.NEWNET) !== 0)
    if (forwards.length > 0 && !ownNet)
      throw valueError('options.forwards', "listen inside the program's network namespace, and it has none of its own: add 'net' to namespaces (or join one)", o.forwards)
    // A new network namespace's lo stays down without `loopback`: bind works, connect does not.
    const down = (namespaces & native.NEWNET) !== 0 && !loopback ? forwards.findIndex((f) => f.host.startsWith('127.')) : -1
    if (down >= 0)
      throw valueError(`options.forwards[${down}].host`, 'is on lo, which options.loopback: false leaves down: nothing inside could connect to it', forwards[down]!.host)
  }
  const pdeathsig = o.pdeathsig === undefined ? 0 : signalNumber(o.pdeathsig, 'options.pdeathsig')
  let exitSignal = native.SIGCHLD
  if (o.exitSignal !== undefined) {
    const n = signalNumber(o.exitSignal, 'options.exitSignal')
    if (n !== 0 && n !== native.SIGCHLD)
      throw valueError('options.exitSignal', "must be 'SIGCHLD' or 0: any other signal would reach this process when the program ends, and most of them kill or stop Node", o.exitSignal)
    exitSignal = n
  }

  const limits = limitsSlot(o, o.cgroup !== undefined, opened)
  let cgroupFd: number | undefined
  let cgroupPath: string | undefined
  if (o.cgroup !== undefined) {
    if (typeof o.cgroup === 'string') {
      cgroupPath = o.cgroup
      cgroupFd = openSync(o.cgroup, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
      opened.push(cgroupFd)
    } else {
      cgroupFd = fdOf(o.cgroup)
      if (cgroupFd === undefined) throw typeError('options.cgroup', 'a path, an fd or a FileHandle', o.cgroup)
    }
  }

  let timeOffsets: string | undefined
  if (o.timeOffsets !== undefined) {
    if ((namespaces & native.NEWTIME) === 0) throw valueError('options.timeOffsets', "needs a new time namespace: add 'time' to namespaces", o.timeOffsets)
    const t = o.timeOffsets
    if (typeof t !== 'object' || t === null) throw typeError('options.timeOffsets', 'of type object', t)
    const lines: string[] = []
    for (const clock of ['monotonic', 'boottime'] as const) {
      const v = t[clock]
      if (v === undefined) continue
      if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(`options.timeOffsets.${clock}`, 'a finite number', v)
      // The kernel refuses (ERANGE) an offset that puts the clock below 0 or above TIMENS_MAX.
      const now = clockNow(clock)
      const low = -Math.floor(now)
      const high = Math.floor(TIMENS_MAX - now)
      if (v < low || v > high)
        throw rangeError(`options.timeOffsets.${clock}`, `>= ${low} && <= ${high} (the ${clock} clock, at ${Math.floor(now)} s, plus its offset must stay within 0 and ${TIMENS_MAX} s)`, v)
      // Seconds and nanoseconds as the kernel reads them: nanoseconds in 0..999999999.
      let secs = Math.floor(v)
      let nanos = Math.round((v - secs) * 1e9)
      if (nanos >= 1e9) {
        secs += 1
        nanos = 0
      }
      lines.push(`${clock} ${secs} ${nanos}\n`)
    }
    timeOffsets = lines.join('')
  } else if ((namespaces & native.NEWTIME) !== 0) {
    timeOffsets = ''
  }

  // The filter refusing TIOCSTI/TIOCLINUX: with a terminal of its own, and where a confined
  // program could reach this process's terminal: an fd of it in stdio, or /dev/tty, which it can
  // open while it shares this process's session (the kernel allows TIOCSTI on one's
  // controlling terminal unless dev.tty.legacy_tiocsti is 0, and on any to CAP_SYS_ADMIN).
  if (o.tiocsti !== undefined && o.tiocsti !== 'deny' && o.tiocsti !== 'allow') throw valueError('options.tiocsti', "must be 'deny' or 'allow'", o.tiocsti)
  const confinedSpawn = namespaces !== 0 || join.length > 0 || Object.keys(confined.plan).length > 0
  const detached = bool(o.detached, 'options.detached', false)
  const reachesTty = () =>
    stdio.some((slot) => slot.kind === 'fd' && slot.fd !== undefined && isatty(slot.fd)) || (!detached && hasControllingTerminal())
  const tiocstiFilter = o.tiocsti !== 'allow' && (terminal !== undefined || (confinedSpawn && reachesTty()))

  const killSignal = o.killSignal === undefined ? osConstants.signals.SIGTERM : signalNumber(o.killSignal, 'options.killSignal')
  const timeout = o.timeout === undefined ? 0 : integer(o.timeout, 'options.timeout', 0, 2147483647)
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw typeError('options.signal', 'an instance of AbortSignal', o.signal)

  const fdOption = (name: 'statusFd' | 'infoFd' | 'blockFd' | 'usernsBlockFd' | 'syncFd'): number | undefined => {
    const v = o[name]
    if (v === undefined) return undefined
    const fd = fdOf(v)
    if (fd === undefined) throw typeError(`options.${name}`, 'an fd or an object with an fd', v)
    return integer(fd, `options.${name}`, 0, 2147483647)
  }
  const statusFds = { statusFd: fdOption('statusFd'), infoFd: fdOption('infoFd') }
  const waitFds = { blockFd: fdOption('blockFd'), usernsBlockFd: fdOption('usernsBlockFd'), syncFd: fdOption('syncFd') }
  if (waitFds.usernsBlockFd !== undefined) {
    const name = 'options.usernsBlockFd'
    if (!newUser) throw valueError(name, "waits in a new user namespace: add 'user' to namespaces", o.usernsBlockFd)
    if (o.uidMap !== undefined || o.gidMap !== undefined || o.setgroups !== undefined)
      throw valueError(name, 'is for id maps written from outside: leave uidMap, gidMap and setgroups out', o.usernsBlockFd)
    if (terminal !== undefined) throw valueError(name, 'cannot be used with options.terminal: the pty is opened after the wait, and spawn() returns before it', o.usernsBlockFd)
    // Joins make the user namespace after them (or a grandchild runs the program), and
    // forwarded ports are sent to spawn() after the wait, which it would then wait for.
    if (join.length > 0) throw valueError(name, 'cannot be used with options.join: the user namespace is made after the joins there, and the program may run in a grandchild', o.usernsBlockFd)
    if (forwards.length > 0) throw valueError(name, 'cannot be used with options.forwards: their sockets are made after the wait, and spawn() returns before it ends', o.usernsBlockFd)
  }

  return {
    ...statusFds,
    plan: {
      file: f,
      args: spawnargs,
      env,
      cwd,
      stdio,
      detached,
      uid,
      gid,
      groups,
      namespaces,
      join,
      uidMap,
      gidMap,
      setgroups,
      hostname,
      domainname,
      loopback,
      pdeathsig,
      exitSignal,
      cgroupFd,
      cgroupPath,
      timeOffsets,
      ...waitFds,
      ...confined.plan,
      terminal: terminal === undefined ? undefined : { cols: terminal.cols, rows: terminal.rows },
      tiocstiFilter,
      limits,
      forwards: forwards.length > 0 ? forwards.map((f) => ({ addr: f.addr, port: f.port, backlog: f.backlog })) : undefined,
    },
    spawnargs,
    opened,
    killSignal,
    timeout,
    pipes,
    terminal: terminal === undefined ? undefined : { encoding: terminal.encoding },
    placeholders: confined.placeholders,
    forwards,
    confinement: { ...confinementReport(confined.plan), tiocsti: tiocstiFilter ? 'filter' : kernelRefusesTiocsti() ? 'kernel' : 'none' },
  }
}

const checks = { typeError, valueError, rangeError, string, integer, bool, fdOf }

/** For createSandbox(): a checked plan and the fds opened for it (the caller closes them after
 * the clone). Reached through SpawnedProcess.plan, so that the package exports no such name. */
function planOf(file: string, options: SpawnOptions): { plan: native.SpawnPlan; opened: number[] } {
  const n = normalize(file, [], options)
  return { plan: n.plan, opened: n.opened }
}

/** Bytes as the cgroup files take them: a whole number up to 2^53. */
function bytes(value: unknown, name: string): number {
  return integer(value, name, 0, Number.MAX_SAFE_INTEGER)
}

/** options.limits and options.cgroupParent, checked, as the native plan takes them. */
function limitsSlot(o: SpawnOptions, hasCgroup: boolean, opened: number[]): native.LimitsSlot | undefined {
  if (o.limits === undefined) {
    if (o.cgroupParent !== undefined) throw valueError('options.cgroupParent', 'is where the cgroup for options.limits is made: give limits too', o.cgroupParent)
    return undefined
  }
  const l = o.limits
  if (typeof l !== 'object' || l === null) throw typeError('options.limits', 'of type object', l)
  if (hasCgroup) throw valueError('options.limits', 'makes a cgroup for the run, and options.cgroup names one already: choose one (cgroupParent says where the run\'s cgroup goes)', 'limits')
  const known = ['memory', 'memorySwap', 'memoryHigh', 'pids', 'cpu', 'cpuWeight', 'ioWeight']
  for (const k of Object.keys(l)) if (!known.includes(k)) throw valueError(`options.limits.${k}`, `is not a limit (${known.join(', ')})`, k)
  const slot: native.LimitsSlot = {}
  if (l.memory !== undefined) slot.memory = bytes(l.memory, 'options.limits.memory')
  if (l.memorySwap !== undefined) slot.memorySwap = bytes(l.memorySwap, 'options.limits.memorySwap')
  if (l.memoryHigh !== undefined) slot.memoryHigh = bytes(l.memoryHigh, 'options.limits.memoryHigh')
  if (l.pids !== undefined) slot.pids = integer(l.pids, 'options.limits.pids', 1, 4194304)
  if (l.cpu !== undefined) {
    if (typeof l.cpu !== 'object' || l.cpu === null) throw typeError('options.limits.cpu', 'an object with a quota', l.cpu)
    const q = l.cpu.quota
    if (typeof q === 'number') {
      // cpu.max over the kernel's default period of 100 ms; the kernel's smallest quota is 1 ms.
      if (!Number.isFinite(q) || q < 0.01 || q > 4096) throw rangeError('options.limits.cpu.quota', '>= 0.01 && <= 4096 (a fraction of one CPU)', q)
      slot.cpuMax = `${Math.round(q * 100000)} 100000`
    } else if (typeof q === 'object' && q !== null) {
      const period = integer(q.period, 'options.limits.cpu.quota.period', 1000, 1000000)
      const max = integer(q.max, 'options.limits.cpu.quota.max', 1000, Number.MAX_SAFE_INTEGER)
      slot.cpuMax = `${max} ${period}`
    } else {
      throw typeError('options.limits.cpu.quota', 'a number (a fraction of one CPU) or { max, period } in microseconds', q)
    }
  }
  if (l.cpuWeight !== undefined) slot.cpuWeight = integer(l.cpuWeight, 'options.limits.cpuWeight', 1, 10000)
  if (l.ioWeight !== undefined) slot.ioWeight = integer(l.ioWeight, 'options.limits.ioWeight', 1, 10000)
  if (o.cgroupParent !== undefined) {
    if (typeof o.cgroupParent === 'string') {
      slot.parentPath = string(o.cgroupParent, 'options.cgroupParent')
      slot.parentFd = openSync(o.cgroupParent, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
      opened.push(slot.parentFd)
    } else {
      const fd = fdOf(o.cgroupParent)
      if (fd === undefined) throw typeError('options.cgroupParent', 'a path, an fd or a FileHandle', o.cgroupParent)
      slot.parentFd = integer(fd, 'options.cgroupParent', 0, 2147483647)
    }
  }
  return slot
}

/** Why a run ended: what this layer did to it, else what the kernel reported. */
function reasonOf(report: native.RunReport, timedOut: boolean, killed: boolean): ExitReason {
  if (timedOut) return 'timeout'
  if (killed) return 'killed'
  return report.reason as ExitReason
}

function checkJoin(types: readonly NsType[], namespaces: number): void {
  for (const t of types) {
    // A joined user namespace and a new one: the new one is made inside it, after every join.
    if (t === 'user') continue
    if ((namespaces & NS_FLAGS[t]) !== 0)
      throw valueError(`options.join.${t}`, `names a namespace that options.namespaces also creates: choose one`, t)
  }
}

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd)
    } catch {
      // already closed by the caller
    }
  }
}

function toSpawnError(err: unknown, spawnargs: string[]): unknown {
  const e = err as { code?: unknown; errno?: unknown; syscall?: unknown; step?: unknown; path?: unknown; index?: unknown; message?: unknown }
  if (typeof e?.step !== 'string' || typeof e.code !== 'string') return err
  return new SpawnError(String(e.message), {
    code: e.code,
    errno: Number(e.errno),
    syscall: String(e.syscall),
    path: typeof e.path === 'string' ? e.path : undefined,
    spawnargs,
    step: e.step as SpawnStep,
    index: typeof e.index === 'number' ? e.index : undefined,
  })
}

/** The failure a child reported past its blockFd/usernsBlockFd wait, once it has exited; the
 * pipe is closed. */
function lateFailure(late: { fd: number; plan: native.SpawnPlan }, spawnargs: string[]): SpawnError | undefined {
  try {
    native._lateFailure(late.plan, late.fd)
    return undefined
  } catch (err) {
    const e = toSpawnError(err, spawnargs)
    return e instanceof SpawnError ? e : undefined
  } finally {
    closeAll([late.fd])
  }
}

function start(n: Normalized, held: Placeholders): native.NativeSpawned {
  try {
    const started = native._spawn(n.plan)
    held.owned(started.pid)
    return started
  } catch (e) {
    held.release()
    throw e
  } finally {
    closeAll(n.opened)
  }
}

/** What of Bun's own API the streams below use (the package does not depend on Bun's types). */
interface BunFileSink {
  write(chunk: Uint8Array | string): number | Promise<number>
  flush(): number | Promise<number>
  end(): number | Promise<number>
}
interface BunRuntime {
  file(fd: number): { stream(): ReadableStream<Uint8Array>; writer(): BunFileSink }
}
const bun = (globalThis as { Bun?: BunRuntime }).Bun

/** A stream over the parent's end of a pipe: a socket where the runtime can, as libuv's pipes. */
function pipeStream(fd: number, readable: boolean, writable: boolean): Readable | Writable {
  if (!bun) return new Socket({ fd, readable, writable })
  return readable ? bunReadable(bun, fd) : bunWritable(bun, fd)
}

/*
 * Bun's net.Socket does not read from an fd it is given, and its fs streams read on its thread
 * pool, which has as many threads as CPUs: a read waiting for a program's output holds a thread,
 * so two programs waiting for their stdin would take the whole pool and the write to their stdin
 * would never run. Bun's own file streams wait in its event loop instead. Bun never closes an fd
 * given to Bun.file(): these streams close it once Bun is done with it.
 */
function bunReadable(bun: BunRuntime, fd: number): Readable {
  const reader = bun.file(fd).stream().getReader()
  return new Readable({
    read() {
      reader.read().then(
        ({ done, value }) => this.push(done ? null : Buffer.from(value.buffer, value.byteOffset, value.byteLength)),
        (err: unknown) => this.destroy(err as Error),
      )
    },
    destroy(err, callback) {
      const close = (): void => (closeAll([fd]), callback(err))
      reader.cancel().then(close, close)
    },
  })
}

function bunWritable(bun: BunRuntime, fd: number): Writable {
  const sink = bun.file(fd).writer()
  // A write that has not settled holds the fd in Bun's event loop: close it after that.
  const settled = (f: () => number | Promise<number>): Promise<unknown> => {
    try {
      return Promise.resolve(f())
    } catch (e) {
      return Promise.reject(e)
    }
  }
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      settled(() => {
        const n = sink.write(chunk)
        return typeof n === 'number' ? sink.flush() : n
      }).then(() => callback(), callback)
    },
    final(callback) {
      settled(() => sink.flush()).then(() => callback(), callback)
    },
    destroy(err, callback) {
      const close = (): void => (closeAll([fd]), callback(err))
      settled(() => sink.end()).then(close, close)
    },
  })
}

/**
 * The terminal's stream over the relay's socket: a socket where the runtime reads from an fd
 * it is given; in Bun a Duplex of Bun's read and write streams on it (`writer` is a second fd of
 * the same socket, each stream closing its own).
 */
function terminalStream(fd: number, writer: number): Duplex {
  if (!bun) {
    closeAll([writer])
    return new Socket({ fd, readable: true, writable: true })
  }
  const readable = bunReadable(bun, fd)
  const writable = bunWritable(bun, writer)
  const duplex = new Duplex({
    allowHalfOpen: false,
    read: () => void readable.resume(),
    write: (chunk, encoding, done) => void writable.write(chunk, encoding, done),
    final: (done) => void writable.end(done),
    destroy: (err, done) => {
      readable.destroy()
      writable.destroy()
      done(err)
    },
  })
  readable.on('data', (chunk) => {
    if (!duplex.push(chunk)) readable.pause()
  })
  readable.on('end', () => duplex.push(null))
  readable.on('error', (err) => duplex.destroy(err))
  writable.on('error', (err) => duplex.destroy(err))
  return duplex
}

function abortError(signal: AbortSignal): Error {
  const e = new Error('The operation was aborted', { cause: signal.reason })
  e.name = 'AbortError'
  Object.defineProperty(e, 'code', { value: 'ABORT_ERR', enumerable: true, writable: true, configurable: true })
  return e
}

/** A program started by spawn(): the surface of child_process's ChildProcess. */
export class SpawnedProcess extends EventEmitter {
  /** The program's pid; undefined if it could not be started. */
  pid: number | undefined
  /** A pidfd of the program, owned by this object and closed once it has exited. */
  pidfd: number | undefined
  /** The program's stdin, when it is a pipe. */
  stdin: Writable | null = null
  /** The program's stdout, when it is a pipe. */
  stdout: Readable | null = null
  /** The program's stderr, when it is a pipe. */
  stderr: Readable | null = null
  /** Streams for the child's fds that are pipes, by fd number; null for the others. */
  readonly stdio: (Readable | Writable | null)[] = []
  /**
   * With options.terminal: the terminal's other side (the pty master, relayed). What the
   * program writes is read here, what is written here the program reads as typed input. It
   * ends once every process holding the terminal has closed it, and 'close' waits for that.
   */
  terminal: Duplex | null = null
  /**
   * Whether the program runs under the filter refusing ioctl TIOCSTI and TIOCLINUX (with a
   * terminal, or confined within reach of this process's terminal; see options.tiocsti).
   */
  readonly tiocstiFilter: boolean
  /** The exit code once the program has exited, else null. */
  exitCode: number | null = null
  /** The signal that ended the program, else null. */
  signalCode: NodeJS.Signals | null = null
  /** Whether a signal was sent successfully by kill(). */
  killed = false
  /** The file given to spawn(). */
  readonly spawnfile: string
  /** The program's argv. */
  readonly spawnargs: string[]
  /** Settles with how the program ended, what it took and why; rejects with the SpawnError if
   * it never started. */
  readonly exited: Promise<SpawnExit>
  /** What the confinement options enforce on this kernel (Landlock's ABI, what was dropped). */
  readonly confinement: Confinement
  /** options.forwards, in their order: each a listening socket inside the program's network
   * namespace, served here; closed when the program exits (empty without forwards). */
  readonly forwards: readonly Forward[] = []

  #watch = -1
  #referenced = true
  #killSignal: number
  #timer: NodeJS.Timeout | undefined
  #settle!: { resolve: (r: SpawnExit) => void; reject: (e: unknown) => void }
  /** Whether the timeout's signal was sent, and whether kill() or the AbortSignal sent one. */
  #timedOut = false
  #killedByCaller = false
  #openStreams = 0
  #exitArgs: [number | null, NodeJS.Signals | null] | undefined
  #abort: (() => void) | undefined
  #signal: AbortSignal | undefined
  /** The pty master, for TIOCSWINSZ; -1 once the terminal stream has closed. */
  #terminalFd = -1
  /** fds held until the exit: syncFd's duplicate, the pipe a child waiting on blockFd checks. */
  #held: number[] = []
  /** A child left waiting on blockFd/usernsBlockFd: its error pipe and plan, for a failure
   * past the wait. */
  #late?: { fd: number; plan: native.SpawnPlan }
  #placeholders: Placeholders | undefined
  #report: ((result: WaitResult) => void) | undefined

  /** @internal */
  static plan = planOf

  /** @internal A native failure as a SpawnError where it names a step; else as it was. */
  static spawnError = toSpawnError

  /** @internal */
  static start(n: Normalized, file: string, options: SpawnOptions): SpawnedProcess {
    return new SpawnedProcess(n, file, options)
  }

  private constructor(n: Normalized, file: string, options: SpawnOptions) {
    super()
    this.spawnfile = file
    this.spawnargs = n.spawnargs
    this.tiocstiFilter = n.plan.tiocstiFilter ?? false
    this.confinement = n.confinement
    this.#killSignal = n.killSignal
    this.exited = new Promise<SpawnExit>((resolve, reject) => {
      this.#settle = { resolve, reject }
    })
    // A caller who only listens for 'error' must not also get an unhandled rejection.
    this.exited.catch(() => {})

    const signal = options.signal
    if (signal?.aborted) {
      closeAll(n.opened)
      this.#failEarly(abortError(signal), n.pipes, null)
      return
    }
    let started: native.NativeSpawned
    try {
      this.#placeholders = placeholdersFor(n)
    } catch (err) {
      closeAll(n.opened)
      throw err
    }
    try {
      started = start(n, this.#placeholders)
    } catch (err) {
      const e = toSpawnError(err, n.spawnargs)
      if (!(e instanceof SpawnError)) throw e
      this.#failEarly(e, n.pipes, e.errno)
      return
    }
    // First: until the wait has whom to tell, a Worker's teardown closes the pipe ends.
    native._watchExit(started.watch, (error, result, report) => this.#onExit(error, result as WaitResult | undefined, report))
    this.#watch = started.watch
    this.#held = started.held
    if (started.late != null) this.#late = { fd: started.late, plan: n.plan }
    this.pid = started.pid
    this.pidfd = started.pidfd
    started.fds.forEach((fd, i) => {
      if (fd < 0 || !n.pipes[i]) {
        this.stdio.push(null)
        return
      }
      const readable = i !== 0
      const stream = pipeStream(fd, readable, i === 0 || i > 2)
      this.stdio.push(stream)
      // 'close' waits for what the program wrote, as child_process does: the readable ends.
      if (!readable) return
      this.#openStreams++
      stream.once('close', () => {
        this.#openStreams--
        this.#maybeClose()
      })
    })
    if (started.terminal !== undefined && started.terminal !== null) {
      const term = terminalStream(started.terminal, started.terminalWriter ?? -1)
      this.terminal = term
      this.#terminalFd = started.terminalControl ?? -1
      if (n.terminal?.encoding !== undefined) term.setEncoding(n.terminal.encoding)
      // Input typed after the program is gone has nobody to read it.
      term.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET' && this.listenerCount('error') > 0) this.emit('error', err)
      })
      this.#openStreams++
      term.once('close', () => {
        if (this.#terminalFd >= 0) closeAll([this.#terminalFd])
        this.#terminalFd = -1
        this.#openStreams--
        this.#maybeClose()
      })
    }
    this.stdin = (this.stdio[0] as Writable | null) ?? null
    this.stdout = (this.stdio[1] as Readable | null) ?? null
    this.stderr = (this.stdio[2] as Readable | null) ?? null
    if (started.forwards.length > 0) this.forwards = Object.freeze(started.forwards.map((fd, i) => Forward._create(fd, n.forwards[i], () => {})))
    try {
      this.#report = reportStart(n, started.pid)
    } catch (err) {
      // The status fd was not writable: the program runs, and the caller hears why.
      process.nextTick(() => this.emit('error', err))
    }
    if (n.timeout > 0)
      this.#timer = setTimeout(() => {
        if (this.#send(this.#killSignal)) this.#timedOut = true
      }, n.timeout)
    if (signal) {
      this.#signal = signal
      this.#abort = () => {
        this.kill(this.#killSignal)
        this.emit('error', abortError(signal))
      }
      signal.addEventListener('abort', this.#abort, { once: true })
    }
    process.nextTick(() => this.emit('spawn'))
  }

  /**
   * A spawn that never started, as child_process reports one: the pipes exist but are at
   * their end, 'error' comes first, then 'close' with `code` (child_process gives the negative
   * errno, and sets exitCode to it) once the pipes have closed; no 'spawn', no 'exit'.
   */
  #failEarly(error: unknown, pipes: readonly boolean[], code: number | null): void {
    pipes.forEach((pipe, i) => {
      if (!pipe) {
        this.stdio.push(null)
        return
      }
      if (i === 0) {
        const stdin = new Writable({ write: (_chunk, _encoding, done) => done() })
        this.stdio.push(stdin)
        return
      }
      const stream = new Readable({ read() {} })
      this.stdio.push(stream)
      this.#openStreams++
      stream.once('close', () => {
        this.#openStreams--
        this.#maybeClose()
      })
    })
    this.stdin = (this.stdio[0] as Writable | null) ?? null
    this.stdout = (this.stdio[1] as Readable | null) ?? null
    this.stderr = (this.stdio[2] as Readable | null) ?? null
    process.nextTick(() => {
      this.#settle.reject(error)
      this.exitCode = code
      this.#exitArgs = [code, null]
      this.emit('error', error)
      this.stdin?.destroy()
      for (const s of this.stdio)
        if (s && s !== this.stdin) {
          // Ended, read to its end by nobody, then destroyed: 'end' and 'close' as a socket.
          ;(s as Readable).push(null)
          ;(s as Readable).resume()
        }
      this.#maybeClose()
    })
  }

  #onExit(error: Error | null, waited: WaitResult | undefined, report: native.RunReport | undefined): void {
    this.pidfd = undefined
    closeAll(this.#held)
    this.#held = []
    const late = this.#late === undefined ? undefined : lateFailure(this.#late, this.spawnargs)
    this.#late = undefined
    // Nothing is left to connect to: the program's network namespace ends with it.
    for (const f of this.forwards) void f.close()
    this.#placeholders?.release()
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#abort) this.#signal?.removeEventListener('abort', this.#abort)
    if (error || !waited || !report) {
      this.#settle.reject(error)
      this.emit('error', error)
      return
    }
    const result: SpawnExit = { ...waited, usage: report.usage, reason: reasonOf(report, this.#timedOut, this.#killedByCaller) }
    this.exitCode = result.exitCode
    this.signalCode = (result.signal as NodeJS.Signals | null) ?? null
    // Nobody reads the program's stdin any more.
    this.stdin?.destroy()
    // A stream nobody reads would hold its data, its end and so 'close' forever: drain it, as
    // child_process does at exit (not one read through 'readable', whose reader decides).
    for (const s of this.stdio) if (s && s !== this.stdin && (s as Readable).readable && s.listenerCount('readable') === 0) (s as Readable).resume()
    try {
      this.#report?.(result)
    } catch {
      // The caller closed the status fd: nobody is listening any more.
    }
    // A step past the wait failed: an error as for any failed step, though the process ran.
    if (late) {
      this.#settle.reject(late)
      this.emit('error', late)
    } else {
      this.#settle.resolve(result)
    }
    this.#exitArgs = [this.exitCode, this.signalCode]
    this.emit('exit', this.exitCode, this.signalCode)
    this.#maybeClose()
  }

  #maybeClose(): void {
    if (this.#exitArgs && this.#openStreams === 0) {
      const args = this.#exitArgs
      this.#exitArgs = undefined
      this.emit('close', ...args)
    }
  }

  /**
   * Sends a signal (default 'SIGTERM') through the pidfd. False once the program has exited:
   * a pidfd never reaches a process that reuses the pid.
   */
  kill(signal?: NodeJS.Signals | number): boolean {
    const n = signal === undefined ? osConstants.signals.SIGTERM : signalNumber(signal, 'signal')
    const sent = this.#send(n)
    if (sent && n !== 0) this.#killedByCaller = true
    return sent
  }

  #send(n: number): boolean {
    if (this.pidfd === undefined) return false
    try {
      native.pidfdSendSignal(this.pidfd, n)
    } catch (err) {
      if ((err as { code?: string }).code === 'ESRCH') return false
      throw err
    }
    if (n !== 0) this.killed = true
    return true
  }

  /**
   * Sets the terminal's size (TIOCSWINSZ); the program's foreground group gets SIGWINCH.
   * False once the terminal has closed.
   */
  resize(cols: number, rows: number): boolean {
    integer(cols, 'cols', 1, 65535)
    integer(rows, 'rows', 1, 65535)
    if (this.terminal === null) {
      const e = new Error('resize() needs a terminal: spawn() with options.terminal')
      Object.defineProperty(e, 'code', { value: 'ERR_INVALID_STATE', enumerable: true, writable: true, configurable: true })
      throw e
    }
    if (this.#terminalFd < 0) return false
    native._terminalResize(this.#terminalFd, cols, rows)
    return true
  }

  /** Keeps the event loop alive until the program exits (the default). */
  ref(): void {
    this.#referenced = true
    if (this.#watch >= 0) native._exitRef(this.#watch, true)
    this.#timer?.ref()
    for (const s of [...this.stdio, this.terminal]) (s as Partial<Socket> | null)?.ref?.()
  }

  /** Lets the event loop end without waiting for the program. */
  unref(): void {
    this.#referenced = false
    if (this.#watch >= 0) native._exitRef(this.#watch, false)
    this.#timer?.unref()
    for (const s of [...this.stdio, this.terminal]) (s as Partial<Socket> | null)?.unref?.()
  }

  /** Whether the program keeps the event loop alive. */
  get referenced(): boolean {
    return this.#referenced
  }

  /** Kills the program with killSignal if it still runs, then waits for its exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.pid === undefined) return
    if (this.exitCode === null && this.signalCode === null) this.kill(this.#killSignal)
    await this.exited.catch(() => {})
  }
}

/**
 * Starts `file` with `args` in the namespaces and with the set-up `options` ask for. Returns at
 * once; 'spawn' or 'error' follows, then 'exit' and 'close'.
 */
export function spawn(file: string, args?: readonly string[], options?: SpawnOptions): SpawnedProcess
export function spawn(file: string, options?: SpawnOptions): SpawnedProcess
export function spawn(file: string, args?: readonly string[] | SpawnOptions, options?: SpawnOptions): SpawnedProcess {
  if (args !== undefined && !Array.isArray(args)) {
    options = args as SpawnOptions
    args = undefined
  }
  const n = normalize(file, args, options)
  return SpawnedProcess.start(n, file, options ?? {})
}

/** Runs `file` to its end and returns its output, as child_process.spawnSync does. */
export function spawnSync(file: string, args: readonly string[], options: SpawnSyncOptionsWithStringEncoding): SpawnSyncResult<string>
export function spawnSync(file: string, options: SpawnSyncOptionsWithStringEncoding): SpawnSyncResult<string>
export function spawnSync(file: string, args?: readonly string[], options?: SpawnSyncOptions): SpawnSyncResult<Buffer>
export function spawnSync(file: string, options?: SpawnSyncOptions): SpawnSyncResult<Buffer>
export function spawnSync(file: string, args?: readonly string[] | SpawnSyncOptions, options?: SpawnSyncOptions): SpawnSyncResult {
  if (args !== undefined && !Array.isArray(args)) {
    options = args as SpawnSyncOptions
    args = undefined
  }
  const o = options ?? {}
  if (o.terminal !== undefined && o.terminal !== false)
    throw valueError('options.terminal', 'is not supported by spawnSync(): nothing could type into the terminal or read it while this thread waits; use spawn() and child.terminal', o.terminal)
  for (const name of ['statusFd', 'infoFd'] as const)
    if (o[name] !== undefined) throw valueError(`options.${name}`, 'is for spawn(): spawnSync() returns only once the program has ended, too late to report it running', o[name])
  if (o.forwards !== undefined && (!Array.isArray(o.forwards) || o.forwards.length > 0))
    throw valueError('options.forwards', "is for spawn(): forwarded ports are served by this thread's event loop, which spawnSync() blocks, so a program using one would wait forever", 'forwards')
  const n = normalize(file, args, o)
  let input: Buffer | undefined
  if (o.input !== undefined) {
    if (typeof o.input === 'string') input = Buffer.from(o.input)
    else if (o.input instanceof Uint8Array) input = Buffer.from(o.input.buffer, o.input.byteOffset, o.input.byteLength)
    else throw typeError('options.input', 'of type string or an instance of Uint8Array', o.input)
  }
  const maxBuffer = o.maxBuffer === undefined ? 1024 * 1024 : o.maxBuffer
  if (typeof maxBuffer !== 'number' || Number.isNaN(maxBuffer) || maxBuffer < 0) throw rangeError('options.maxBuffer', 'a positive number', maxBuffer)
  const encoding = o.encoding ?? 'buffer'
  if (encoding !== 'buffer' && !Buffer.isEncoding(encoding)) throw valueError('options.encoding', 'is invalid encoding', encoding)
  const decode = (b: Buffer | null | undefined): Buffer | string | null =>
    b === null || b === undefined ? null : encoding === 'buffer' ? b : b.toString(encoding)

  let done: native.NativeSpawnSync
  let held: Placeholders | undefined
  try {
    held = placeholdersFor(n)
    done = native._spawnSync(n.plan, input, n.timeout, n.killSignal, maxBuffer === Infinity ? 0 : maxBuffer)
  } catch (err) {
    const e = toSpawnError(err, n.spawnargs)
    if (!(e instanceof SpawnError)) throw e
    const empty = decode(Buffer.alloc(0)) as Buffer | string
    return { pid: 0, output: [null, empty, empty], stdout: empty, stderr: empty, status: null, signal: null, error: e, confinement: n.confinement }
  } finally {
    closeAll(n.opened)
    held?.release()
  }
  const late = done.late == null ? undefined : lateFailure({ fd: done.late, plan: n.plan }, n.spawnargs)
  const status = done.status
  const exited = (status & 0x7f) === 0
  const output = done.output.map((b, i) => (i === 0 ? null : decode(b)))
  const result: SpawnSyncResult = {
    pid: done.pid,
    output,
    stdout: output[1] ?? decode(Buffer.alloc(0))!,
    stderr: output[2] ?? decode(Buffer.alloc(0))!,
    status: exited ? (status >> 8) & 0xff : null,
    signal: exited ? null : signalName(status & 0x7f),
    usage: done.report.usage,
    // maxBuffer's kill is this layer's doing, as kill() is spawn()'s.
    reason: reasonOf(done.report, done.error === 'ETIMEDOUT', done.error === 'ENOBUFS'),
    confinement: n.confinement,
  }
  if (done.error) {
    const code = done.error
    result.error = new SpawnError(`spawnSync ${file} ${code}`, {
      code,
      errno: -(osConstants.errno[code as keyof typeof osConstants.errno] ?? 0),
      syscall: `spawnSync ${file}`,
      path: file,
      spawnargs: n.spawnargs,
      step: code === 'ETIMEDOUT' ? 'timeout' : 'maxBuffer',
    })
  } else if (late) {
    result.error = late
  }
  return result
}
