// spawn()'s confinement options (mounts, a new root, capabilities, no_new_privs, seccomp,
// rlimits, umask, the pid 1 reaper): their types, and their checks into the native plan.
import { realpathSync } from 'node:fs'
import { posix, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'

import type * as native from '../index.js'
import { NEWNS, NEWPID, _compileSeccomp, _landlockResolve, _readFilter } from '../index.js'
import { placeholderNeeds, type PlaceholderNeed } from './placeholders.js'
import { isPolicy, policySlot, type SeccompPolicy } from './seccomp.js'

/** A capability, as capabilities(7) names it. */
export type CapName =
  | 'CAP_CHOWN'
  | 'CAP_DAC_OVERRIDE'
  | 'CAP_DAC_READ_SEARCH'
  | 'CAP_FOWNER'
  | 'CAP_FSETID'
  | 'CAP_KILL'
  | 'CAP_SETGID'
  | 'CAP_SETUID'
  | 'CAP_SETPCAP'
  | 'CAP_LINUX_IMMUTABLE'
  | 'CAP_NET_BIND_SERVICE'
  | 'CAP_NET_BROADCAST'
  | 'CAP_NET_ADMIN'
  | 'CAP_NET_RAW'
  | 'CAP_IPC_LOCK'
  | 'CAP_IPC_OWNER'
  | 'CAP_SYS_MODULE'
  | 'CAP_SYS_RAWIO'
  | 'CAP_SYS_CHROOT'
  | 'CAP_SYS_PTRACE'
  | 'CAP_SYS_PACCT'
  | 'CAP_SYS_ADMIN'
  | 'CAP_SYS_BOOT'
  | 'CAP_SYS_NICE'
  | 'CAP_SYS_RESOURCE'
  | 'CAP_SYS_TIME'
  | 'CAP_SYS_TTY_CONFIG'
  | 'CAP_MKNOD'
  | 'CAP_LEASE'
  | 'CAP_AUDIT_WRITE'
  | 'CAP_AUDIT_CONTROL'
  | 'CAP_SETFCAP'
  | 'CAP_MAC_OVERRIDE'
  | 'CAP_MAC_ADMIN'
  | 'CAP_SYSLOG'
  | 'CAP_WAKE_ALARM'
  | 'CAP_BLOCK_SUSPEND'
  | 'CAP_AUDIT_READ'
  | 'CAP_PERFMON'
  | 'CAP_BPF'
  | 'CAP_CHECKPOINT_RESTORE'

/** Capability names in number order: CAPABILITIES[n] is capability n. */
export const CAPABILITIES: readonly CapName[] = Object.freeze([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const)

/** A path in the child's new tree, or a source path here (string or file: URL). */
export type PathLike = string | URL

/** One entry of `mounts`, applied in order. Targets are absolute paths in the new tree. */
export type MountEntry =
  /** A directory or file of this host (`--bind`, `--ro-bind`, `--dev-bind`, `--bind-try`). Always nosuid. */
  | {
      /** A bind mount. */
      readonly type: 'bind'
      /** The file or directory of this host, resolved here (symlinks included). */
      readonly source: PathLike
      /** Where it appears in the new tree. */
      readonly target: PathLike
      /** Read-only, submounts included (default false). */
      readonly readonly?: boolean
      /** Submounts come along (default true). */
      readonly recursive?: boolean
      /** Device files work (default false: nodev). */
      readonly devices?: boolean
      /** A missing source skips the entry (default false). */
      readonly optional?: boolean
      /** A missing target on this host's tree is made there as an empty placeholder (a file,
       * or a directory for a directory source) and removed after the sandbox has ended
       * (default false: refused). See docs/migrating-from-bwrap.md. */
      readonly placeholder?: boolean
    }
  /** An empty tmpfs (`--tmpfs`, `--size`, `--perms`). Read-only is applied after every entry. */
  | {
      /** A tmpfs. */
      readonly type: 'tmpfs'
      /** Where it is mounted. */
      readonly target: PathLike
      /** Its size limit in bytes (default: the kernel's, half of RAM). */
      readonly size?: number
      /** The mode of its root directory (default 0o755). */
      readonly mode?: number
      /** Read-only, applied after every other entry, so entries below it can be made first. */
      readonly readonly?: boolean
      /** A missing target on this host's tree is made there as an empty placeholder, removed
       * after the sandbox has ended (default false: refused). See docs/migrating-from-bwrap.md. */
      readonly placeholder?: boolean
    }
  /** A procfs (`--proc`): fresh with a new pid namespace, else the current one bound. */
  | {
      /** A procfs. */
      readonly type: 'proc'
      /** Where it is mounted (default /proc). */
      readonly target?: PathLike
    }
  /** A minimal /dev (`--dev`). */
  | {
      /** A minimal /dev: null, zero, full, random, urandom, tty, a new devpts, shm, fd, stdio links. */
      readonly type: 'dev'
      /** Where it is mounted (default /dev). */
      readonly target?: PathLike
    }
  /** A POSIX message queue filesystem (`--mqueue`). */
  | {
      /** An mqueue filesystem (needs a new ipc namespace). */
      readonly type: 'mqueue'
      /** Where it is mounted. */
      readonly target: PathLike
    }
  /** A directory (`--dir`, `--perms`). */
  | {
      /** A directory. */
      readonly type: 'dir'
      /** Its path in the new tree. */
      readonly target: PathLike
      /** Its mode (default 0o755). */
      readonly mode?: number
    }
  /** A symlink (`--symlink`). */
  | {
      /** A symlink. */
      readonly type: 'symlink'
      /** The symlink's path in the new tree. */
      readonly target: PathLike
      /** What it points to, as `ln -s` takes it (an existing symlink pointing elsewhere is an error). */
      readonly linkTo: string
    }
  /** A file with this content (`--file`, `--ro-bind-data`). */
  | {
      /** A file with given content, bound onto `target`. */
      readonly type: 'file'
      /** Its path in the new tree. */
      readonly target: PathLike
      /** Its content, copied before the clone. */
      readonly data: string | Uint8Array
      /** Its mode (default 0o644). */
      readonly mode?: number
      /** A read-only mount. */
      readonly readonly?: boolean
      /** A missing target on this host's tree is made there as an empty placeholder, removed
       * after the sandbox has ended (default false: refused). See docs/migrating-from-bwrap.md. */
      readonly placeholder?: boolean
    }
  /** An existing mount made read-only (`--remount-ro`), not its submounts. */
  | {
      /** A remount of an existing mount. */
      readonly type: 'remount'
      /** The mount to change. */
      readonly target: PathLike
      /** Read-only: the only change a remount entry makes. */
      readonly readonly: true
    }
  /** The mode of an existing path changed (`--chmod`), in order with the other entries. */
  | {
      /** A change of mode. */
      readonly type: 'chmod'
      /** The path in the new tree. */
      readonly target: PathLike
      /** The new mode. */
      readonly mode: number
    }
  /**
   * An overlayfs (`--overlay`, `--tmp-overlay`, `--ro-overlay`): `lower` directories of this
   * host, the topmost first; writes go to `upper` (with `work`, an empty directory on the same
   * filesystem), to a tmpfs of the spawn's own with `upper: 'tmpfs'`, or nowhere without
   * `upper` (read-only; the kernel then needs two lower directories at least). Rootless in a
   * user namespace on Linux 5.11 and later. Always nosuid and nodev.
   */
  | {
      /** An overlayfs. */
      readonly type: 'overlay'
      /** Where it is mounted. */
      readonly target: PathLike
      /** The lower directories of this host, the topmost first. */
      readonly lower: readonly PathLike[]
      /** Where writes go: a directory of this host (with `work`), or 'tmpfs'; none: read-only. */
      readonly upper?: PathLike | 'tmpfs'
      /** overlayfs's work directory: empty, on the same filesystem as `upper`. */
      readonly work?: PathLike
    }

/** Capabilities of the program. Each list names what *remains*. A uid-0 program gets its
 * bounding set at execve (the kernel's rule for root); a program of another uid keeps only its
 * ambient capabilities. */
export interface CapabilityOptions {
  /** Permitted and effective, and inheritable within `bounding` (default 'none'). */
  readonly keep?: 'none' | 'all' | readonly CapName[]
  /** Ambient: kept across execve by a program that is not uid 0. Must be in `keep` (and in
   * `bounding` when that is a list). */
  readonly ambient?: readonly CapName[]
  /** The bounding set (default 'keep': the same as `keep`, so a uid 0 program gets no more). */
  readonly bounding?: 'keep' | readonly CapName[]
}

/** A resource limit: numbers, or 'unlimited'. Without `hard`, the hard limit stays. */
export interface RlimitValue {
  /** The soft limit, which the kernel enforces. */
  readonly soft: number | 'unlimited'
  /** The hard limit, the ceiling for the soft one (default: unchanged). */
  readonly hard?: number | 'unlimited'
}

/** The resources of setrlimit(2), by their `ulimit`/prlimit names. */
export type RlimitName =
  | 'cpu' | 'fsize' | 'data' | 'stack' | 'core' | 'rss' | 'nproc' | 'nofile' | 'memlock' | 'as'
  | 'locks' | 'sigpending' | 'msgqueue' | 'nice' | 'rtprio' | 'rttime'

const RLIMITS: Readonly<Record<RlimitName, number>> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9,
  locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
}

/** A Landlock filesystem access right, as the kernel names it (LANDLOCK_ACCESS_FS_* in lower
 * case). Each came with a Landlock ABI: refer 2, truncate 3, ioctl_dev 5, resolve_unix 9. */
export type RawRightName =
  | 'execute' | 'write_file' | 'read_file' | 'read_dir' | 'remove_dir' | 'remove_file'
  | 'make_char' | 'make_dir' | 'make_reg' | 'make_sock' | 'make_fifo' | 'make_block' | 'make_sym'
  | 'refer' | 'truncate' | 'ioctl_dev' | 'resolve_unix'

/** A Landlock scope: what a program may not reach outside its Landlock domain (ABI 6). */
export type LandlockScope = 'abstract-unix-socket' | 'signal'

/**
 * Landlock rules (Linux 5.13+): confinement that needs no namespace and no privilege. Everything
 * a handled right covers is denied unless a rule grants it. Paths are opened by the child after
 * its mounts and new root, so they name files as the program sees them; a rule covers the whole
 * tree beneath a directory.
 */
export interface LandlockOptions {
  /** Filesystem rules. Given at all, every filesystem right the kernel knows is handled: the
   * program can read only beneath `read`, write only beneath `write`, execute only beneath
   * `execute`. */
  readonly fs?: {
    /** read_file and read_dir. */
    readonly read?: readonly PathLike[]
    /** Writing, making, removing, truncating and moving files (and reading). */
    readonly write?: readonly PathLike[]
    /** Executing (and reading). */
    readonly execute?: readonly PathLike[]
    /** Raw rights beneath a path. */
    readonly rights?: readonly {
      /** The file or directory the rights apply beneath. */
      readonly path: PathLike
      /** The rights, by Landlock's names. */
      readonly access: readonly RawRightName[]
    }[]
  }
  /** TCP ports (Landlock ABI 4, Linux 6.7). Given, connecting (or binding) is allowed to these
   * ports only; not given, it is not restricted. */
  readonly net?: {
    /** The TCP ports the program may connect to. */
    readonly connect?: readonly number[]
    /** The TCP ports the program may bind. */
    readonly bind?: readonly number[]
  }
  /** What the program cannot reach outside its domain (ABI 6, Linux 6.12): abstract unix
   * sockets made by others, signals to processes outside. */
  readonly scope?: readonly LandlockScope[]
  /** 'best-effort' (default): apply what this kernel supports, report the rest in
   * `confinement.landlock.dropped`. 'require': fail at step 'landlock' instead. */
  readonly compatibility?: 'best-effort' | 'require'
}

/** What a spawn's confinement enforces, as this kernel applies it. */
export interface Confinement {
  /** With `landlock`: the ABI, the rights and scopes handled, and what was dropped. */
  landlock?: native.LandlockReport
  /** With `seccomp`: the filter's length. */
  seccomp?: {
    /** How many BPF instructions the installed filter has. */
    instructions: number
  }
  /** Whether no_new_privs is set by the options (landlock sets it unless noNewPrivs is false;
   * a seccomp filter installed without CAP_SYS_ADMIN sets it too, as the kernel requires). */
  noNewPrivs: boolean
  /**
   * What stops the program from pushing input into a terminal (ioctl TIOCSTI): 'filter', the
   * package's seccomp filter (options.tiocsti, docs/terminal.md); 'kernel', none, but this
   * kernel refuses it to programs without CAP_SYS_ADMIN (dev.tty.legacy_tiocsti = 0); 'none'.
   */
  tiocsti?: 'filter' | 'kernel' | 'none'
}

/** The confinement options of spawn() (see SpawnOptions). */
export interface ConfinementOptions {
  /** Mounts in a new mount namespace, in order ('mnt' is added to namespaces). */
  mounts?: readonly MountEntry[]
  /** A new root: a directory of this host, or 'tmpfs' for an empty one built from `mounts`. */
  rootfs?: PathLike
  /** Mount propagation from the host (default 'private' in a new mount namespace). */
  propagation?: 'private' | 'slave' | 'unchanged'
  /** The capabilities that remain for the program (`{}`: none); without it, what execve gives. */
  capabilities?: CapabilityOptions
  /** PR_SET_NO_NEW_PRIVS: execve grants no privileges (setuid bits, file capabilities). */
  noNewPrivs?: boolean
  /** A seccomp policy by name (compiled for this machine: see compileSeccomp()), a classic BPF
   * filter (`struct sock_filter`s, 8 bytes each), or an fd to read one from (a file from its
   * start, whatever its position; a pipe until EOF). Installed last, just before execve. */
  seccomp?: SeccompPolicy | Uint8Array | number | {
    /** The fd to read the filter from. */
    readonly fd: number
  }
  /** Landlock rules, applied after no_new_privs (which they turn on unless `noNewPrivs` is
   * false) and before the seccomp filter. */
  landlock?: LandlockOptions
  /** Resource limits, by their `ulimit`/prlimit names (RlimitName), set with prlimit64 before the ids change. */
  rlimits?: {
    /** RLIMIT_CPU: CPU seconds. */
    readonly cpu?: RlimitValue
    /** RLIMIT_FSIZE: the largest file written, in bytes. */
    readonly fsize?: RlimitValue
    /** RLIMIT_DATA: data segment and heap, in bytes. */
    readonly data?: RlimitValue
    /** RLIMIT_STACK: the stack, in bytes. */
    readonly stack?: RlimitValue
    /** RLIMIT_CORE: core dumps, in bytes (0: none). */
    readonly core?: RlimitValue
    /** RLIMIT_RSS: resident memory (ignored by Linux). */
    readonly rss?: RlimitValue
    /** RLIMIT_NPROC: processes of the real uid. */
    readonly nproc?: RlimitValue
    /** RLIMIT_NOFILE: open fds (one more than the highest fd number). */
    readonly nofile?: RlimitValue
    /** RLIMIT_MEMLOCK: locked memory, in bytes. */
    readonly memlock?: RlimitValue
    /** RLIMIT_AS: address space, in bytes. */
    readonly as?: RlimitValue
    /** RLIMIT_LOCKS: file locks (ignored by Linux). */
    readonly locks?: RlimitValue
    /** RLIMIT_SIGPENDING: queued signals of the real uid. */
    readonly sigpending?: RlimitValue
    /** RLIMIT_MSGQUEUE: bytes in POSIX message queues of the real uid. */
    readonly msgqueue?: RlimitValue
    /** RLIMIT_NICE: the ceiling of the nice value, as 20 - nice. */
    readonly nice?: RlimitValue
    /** RLIMIT_RTPRIO: the real-time priority ceiling. */
    readonly rtprio?: RlimitValue
    /** RLIMIT_RTTIME: CPU microseconds a real-time task may run without blocking. */
    readonly rttime?: RlimitValue
  }
  /** The program's umask. */
  umask?: number
  /**
   * With a new pid namespace: who is pid 1 (default 'program', which ignores every signal it has
   * no handler for). 'reaper': a small init is pid 1; it passes signals on to the program (pid
   * 2), reaps orphans, and ends with the program's exit code, or 128 + the signal that killed it
   * (exitCode 143, signal null, for SIGTERM).
   */
  pidns?: {
    /** 'program' (default): the program is pid 1; 'reaper': a small init is. */
    readonly init: 'program' | 'reaper'
  }
}

/** What the checks hand to the native plan. */
export type ConfinementPlan = Pick<
  native.SpawnPlan,
  'mounts' | 'files' | 'rootfs' | 'propagation' | 'cwdFallback' | 'capabilities' | 'noNewPrivs' | 'seccomp' | 'rlimits' | 'umask' | 'reaper' | 'landlock'
>

/** Argument errors with Node's codes, from spawn.ts. */
export interface Checks {
  typeError(name: string, expected: string, value: unknown): TypeError
  valueError(name: string, reason: string, value: unknown): TypeError
  rangeError(name: string, range: string, value: unknown): RangeError
  string(value: unknown, name: string): string
  integer(value: unknown, name: string, min: number, max: number): number
  bool(value: unknown, name: string, fallback: boolean): boolean
  fdOf(value: unknown): number | undefined
}

const TYPES = ['bind', 'tmpfs', 'proc', 'dev', 'mqueue', 'dir', 'symlink', 'file', 'remount', 'chmod', 'overlay'] as const

function pathOf(value: unknown, name: string, c: Checks): string {
  if (value instanceof URL) return fileURLToPath(value)
  return c.string(value, name)
}

/** An absolute, normalised target ('/a/b', never '/a/b/'). */
function target(value: unknown, name: string, c: Checks): string {
  const t = pathOf(value, name, c)
  if (!t.startsWith('/')) throw c.valueError(name, 'must be an absolute path (in the new tree)', t)
  const n = posix.normalize(t)
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n
}

/** A source (or a rootfs directory) resolved here, symlinks too, so that an absolute link is
 * not read in the build root; once per path in one spawn's entries. */
function source(value: unknown, name: string, c: Checks, seen: Map<string, string>): string {
  const s = resolvePath(pathOf(value, name, c))
  let real = seen.get(s)
  if (real === undefined) {
    try {
      real = realpathSync(s)
    } catch {
      // Missing here: the child reports it (or skips an optional entry).
      real = s
    }
    seen.set(s, real)
  }
  return real
}

function mode(value: unknown, name: string, c: Checks): number | undefined {
  return value === undefined ? undefined : c.integer(value, name, 0, 0o7777)
}

function mountSlot(entry: unknown, i: number, c: Checks, files: Buffer[], seen: Map<string, string>, placeholders: number[]): native.MountSlot {
  const at = `options.mounts[${i}]`
  if (typeof entry !== 'object' || entry === null) throw c.typeError(at, 'an object', entry)
  const e = entry as Record<string, unknown>
  const type = e.type
  if (typeof type !== 'string' || !(TYPES as readonly string[]).includes(type))
    throw c.valueError(`${at}.type`, `must be one of ${TYPES.join(', ')}`, type)
  const slot: native.MountSlot = {
    kind: type,
    target: target(e.target ?? (type === 'proc' ? '/proc' : type === 'dev' ? '/dev' : undefined), `${at}.target`, c),
  }
  switch (type) {
    case 'bind':
      slot.source = source(e.source, `${at}.source`, c, seen)
      slot.readonly = c.bool(e.readonly, `${at}.readonly`, false)
      slot.recursive = c.bool(e.recursive, `${at}.recursive`, true)
      slot.devices = c.bool(e.devices, `${at}.devices`, false)
      slot.optional = c.bool(e.optional, `${at}.optional`, false)
      break
    case 'tmpfs':
      if (e.size !== undefined) slot.size = c.integer(e.size, `${at}.size`, 1, Number.MAX_SAFE_INTEGER)
      slot.mode = mode(e.mode, `${at}.mode`, c)
      slot.readonly = c.bool(e.readonly, `${at}.readonly`, false)
      break
    case 'dir':
      slot.mode = mode(e.mode, `${at}.mode`, c)
      break
    case 'symlink': {
      const to = c.string(e.linkTo, `${at}.linkTo`)
      if (to.length === 0) throw c.valueError(`${at}.linkTo`, 'must not be empty', to)
      slot.linkTo = to
      break
    }
    case 'file': {
      const d = e.data
      if (typeof d === 'string') files.push(Buffer.from(d))
      else if (d instanceof Uint8Array) files.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength))
      else throw c.typeError(`${at}.data`, 'a string or a Uint8Array', d)
      slot.data = files.length - 1
      slot.mode = mode(e.mode, `${at}.mode`, c)
      slot.readonly = c.bool(e.readonly, `${at}.readonly`, false)
      break
    }
  }
  if (e.placeholder !== undefined) {
    if (type !== 'bind' && type !== 'tmpfs' && type !== 'file')
      throw c.valueError(`${at}.placeholder`, 'is only for bind, tmpfs and file entries', e.placeholder)
    if (c.bool(e.placeholder, `${at}.placeholder`, false)) placeholders.push(i)
  }
  switch (type) {
    case 'chmod':
      if (e.mode === undefined) throw c.typeError(`${at}.mode`, 'of type number', e.mode)
      slot.mode = mode(e.mode, `${at}.mode`, c)
      break
    case 'overlay': {
      if (!Array.isArray(e.lower) || e.lower.length === 0) throw c.typeError(`${at}.lower`, 'a non-empty array of paths', e.lower)
      // overlayfs options separate paths with ':' and ','; the kernel's escapes are not worth the risk.
      const dir = (v: unknown, name: string): string => {
        const p = source(v, name, c, seen)
        if (/[:,\\]/.test(p)) throw c.valueError(name, "must not contain ':', ',' or '\\' (overlayfs separates its directories with them)", p)
        return p
      }
      slot.lower = e.lower.map((l: unknown, k: number) => dir(l, `${at}.lower[${k}]`))
      if (e.upper === 'tmpfs') {
        if (e.work !== undefined) throw c.valueError(`${at}.work`, "must be left out with upper: 'tmpfs' (the work directory goes on the same tmpfs)", e.work)
        slot.upper = 'tmpfs'
      } else if (e.upper !== undefined) {
        if (e.work === undefined) throw c.typeError(`${at}.work`, 'a path (an empty directory on the same filesystem as upper)', e.work)
        slot.upper = dir(e.upper, `${at}.upper`)
        slot.work = dir(e.work, `${at}.work`)
      } else {
        if (e.work !== undefined) throw c.valueError(`${at}.work`, 'needs an upper directory', e.work)
        if (slot.lower.length < 2) throw c.valueError(`${at}.lower`, 'must name two directories at least for a read-only overlay (the kernel\'s rule); a read-only bind does the same for one', e.lower)
      }
      break
    }
    case 'remount':
      if (e.readonly !== true) throw c.valueError(`${at}.readonly`, 'must be true (a remount makes a mount read-only)', e.readonly)
      slot.readonly = true
      break
  }
  return slot
}

function capList(value: unknown, name: string, c: Checks): number[] {
  if (!Array.isArray(value)) throw c.typeError(name, 'an array of capability names', value)
  return value.map((v: unknown, i: number) => {
    const n = CAPABILITIES.indexOf(v as CapName)
    if (typeof v !== 'string' || n < 0) throw c.valueError(`${name}[${i}]`, "must be a capability name such as 'CAP_NET_ADMIN'", v)
    return n
  })
}

function limit(value: unknown, name: string, c: Checks): number {
  if (value === 'unlimited' || value === Infinity) return -1
  return c.integer(value, name, 0, Number.MAX_SAFE_INTEGER)
}

/**
 * Checks the confinement options. `namespaces` is the NEW* mask so far; returns the plan
 * fields and the mask with NEWNS added where mounts need it.
 */
export function confinement(
  o: ConfinementOptions,
  namespaces: number,
  joinsMnt: boolean,
  cwdGiven: boolean,
  c: Checks,
): { plan: ConfinementPlan; namespaces: number; cwd?: string; placeholders: PlaceholderNeed[] } {
  const plan: ConfinementPlan = {}
  let cwd: string | undefined
  const wanted: number[] = []
  if (o.mounts !== undefined) {
    if (!Array.isArray(o.mounts)) throw c.typeError('options.mounts', 'an array of mount entries', o.mounts)
    const files: Buffer[] = []
    const seen = new Map<string, string>()
    plan.mounts = o.mounts.map((m: unknown, i: number) => mountSlot(m, i, c, files, seen, wanted))
    if (files.length > 0) plan.files = files
  }
  if (o.rootfs !== undefined)
    plan.rootfs = o.rootfs === 'tmpfs' ? 'tmpfs' : source(o.rootfs, 'options.rootfs', c, new Map())
  const building = plan.mounts !== undefined || plan.rootfs !== undefined
  if (building) {
    if (joinsMnt)
      throw c.valueError(plan.rootfs !== undefined ? 'options.rootfs' : 'options.mounts', 'needs a new mount namespace: mounts in a joined one would change it for every process in it', 'join.mnt')
    namespaces = (namespaces | NEWNS) >>> 0
    if (!cwdGiven) cwd = process.cwd()
  }
  const newMnt = (namespaces & NEWNS) !== 0
  if (o.propagation !== undefined) {
    if (o.propagation !== 'private' && o.propagation !== 'slave' && o.propagation !== 'unchanged')
      throw c.valueError('options.propagation', "must be 'private', 'slave' or 'unchanged'", o.propagation)
    if (!newMnt) throw c.valueError('options.propagation', "needs a new mount namespace (add 'mnt' to namespaces): it would change this host's mounts", o.propagation)
    // A root (and file or overlay entries, which need one) is built on a tmpfs mounted over
    // /tmp: with shared mounts it would appear on this host's /tmp and stay there, and
    // pivot_root fails. (So is a root for entries whose sources earlier entries hide: the
    // native plan refuses that case, where it is known.)
    if (o.propagation === 'unchanged' && (plan.rootfs !== undefined || plan.mounts?.some((m) => m.kind === 'file' || m.kind === 'overlay')))
      throw c.valueError('options.propagation', "cannot be 'unchanged' with a rootfs, file or overlay entries: the root is built on a tmpfs that would be mounted on this host's /tmp too; use 'private' or 'slave'", o.propagation)
    plan.propagation = o.propagation
  } else if (newMnt) {
    plan.propagation = 'private'
  }
  if (cwd !== undefined) plan.cwdFallback = true

  if (o.capabilities !== undefined) {
    const caps = o.capabilities as Record<string, unknown>
    if (typeof caps !== 'object' || caps === null) throw c.typeError('options.capabilities', 'of type object', caps)
    let keep: number[] | undefined
    if (caps.keep === undefined || caps.keep === 'none') keep = []
    else if (caps.keep === 'all') keep = undefined
    else keep = capList(caps.keep, 'options.capabilities.keep', c)
    const ambient = caps.ambient === undefined ? [] : capList(caps.ambient, 'options.capabilities.ambient', c)
    if (keep !== undefined)
      for (const a of ambient)
        if (!keep.includes(a)) throw c.valueError('options.capabilities.ambient', 'must only name capabilities in capabilities.keep (an ambient capability must be permitted and inheritable)', CAPABILITIES[a])
    let bounding: number[] | undefined
    if (caps.bounding === undefined || caps.bounding === 'keep') bounding = undefined
    else bounding = capList(caps.bounding, 'options.capabilities.bounding', c)
    if (bounding !== undefined)
      for (const a of ambient)
        if (!bounding.includes(a)) throw c.valueError('options.capabilities.ambient', 'must only name capabilities in capabilities.bounding (an ambient capability must be inheritable, which the kernel keeps inside the bounding set)', CAPABILITIES[a])
    plan.capabilities = { keep, ambient, bounding }
  }
  if (o.noNewPrivs !== undefined) plan.noNewPrivs = c.bool(o.noNewPrivs, 'options.noNewPrivs', false)
  if (o.seccomp !== undefined) {
    let prog: Buffer
    if (isPolicy(o.seccomp)) {
      const u = _compileSeccomp(policySlot(o.seccomp, 'options.seccomp', c))
      prog = Buffer.from(u.buffer, u.byteOffset, u.byteLength)
    } else if (o.seccomp instanceof Uint8Array) prog = Buffer.from(o.seccomp.buffer, o.seccomp.byteOffset, o.seccomp.byteLength)
    else {
      const fd = c.fdOf(o.seccomp)
      if (fd === undefined) throw c.typeError('options.seccomp', 'a Uint8Array or an fd', o.seccomp)
      // At most the kernel's limit + 1 bytes; a pipe only as far as it holds data now.
      prog = _readFilter(fd)
    }
    if (prog.length === 0 || prog.length % 8 !== 0)
      throw c.valueError('options.seccomp', 'must be a whole number of 8-byte sock_filter instructions', `${prog.length} bytes`)
    if (prog.length / 8 > 4096) throw c.valueError('options.seccomp', 'must be at most 4096 instructions (BPF_MAXINSNS)', `${prog.length / 8} instructions`)
    plan.seccomp = prog
  }
  if (o.rlimits !== undefined) {
    const r = o.rlimits as Record<string, unknown>
    if (typeof r !== 'object' || r === null) throw c.typeError('options.rlimits', 'of type object', r)
    plan.rlimits = []
    for (const [name, v] of Object.entries(r)) {
      if (v === undefined) continue
      const resource = RLIMITS[name as RlimitName]
      if (resource === undefined) throw c.valueError(`options.rlimits.${name}`, `is not a resource (${Object.keys(RLIMITS).join(', ')})`, name)
      if (typeof v !== 'object' || v === null) throw c.typeError(`options.rlimits.${name}`, 'an object { soft, hard? }', v)
      const lv = v as Record<string, unknown>
      const soft = limit(lv.soft, `options.rlimits.${name}.soft`, c)
      const hard = lv.hard === undefined ? undefined : limit(lv.hard, `options.rlimits.${name}.hard`, c)
      if (hard !== undefined && hard !== -1 && (soft === -1 || soft > hard))
        throw c.rangeError(`options.rlimits.${name}.soft`, `<= the hard limit (${hard})`, lv.soft)
      plan.rlimits.push({ resource, name, soft, hard })
    }
  }
  if (o.landlock !== undefined) {
    plan.landlock = landlockSlot(o.landlock, 'options.landlock', c)
    if (o.noNewPrivs === undefined) plan.noNewPrivs = true
  }
  if (o.umask !== undefined) plan.umask = c.integer(o.umask, 'options.umask', 0, 0o777)
  if (o.pidns !== undefined) {
    const p = o.pidns as Record<string, unknown>
    if (typeof p !== 'object' || p === null) throw c.typeError('options.pidns', 'of type object', p)
    if (p.init !== 'program' && p.init !== 'reaper') throw c.valueError('options.pidns.init', "must be 'program' or 'reaper'", p.init)
    if (p.init === 'reaper') {
      if ((namespaces & NEWPID) === 0) throw c.valueError('options.pidns.init', "needs a new pid namespace: add 'pid' to namespaces", p.init)
      plan.reaper = true
    }
  }
  const placeholders = plan.mounts && wanted.length > 0 ? placeholderNeeds(plan.mounts, wanted, plan.rootfs) : []
  return { plan, namespaces, cwd, placeholders }
}

const SCOPES: readonly LandlockScope[] = ['abstract-unix-socket', 'signal']

function pathList(value: unknown, name: string, c: Checks): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw c.typeError(name, 'an array of paths', value)
  return value.map((p: unknown, i: number) => resolvePath(pathOf(p, `${name}[${i}]`, c)))
}

function ports(value: unknown, name: string, c: Checks): number[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) throw c.typeError(name, 'an array of port numbers', value)
  return value.map((p: unknown, i: number) => c.integer(p, `${name}[${i}]`, 0, 65535))
}

/** Landlock options checked and shaped for the native side (also for landlockRestrictSelf). */
export function landlockSlot(value: unknown, name: string, c: Checks): native.LandlockSlot {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw c.typeError(name, 'of type object', value)
  const l = value as Record<string, unknown>
  const slot: native.LandlockSlot = { fs: false, paths: [], scope: [], require: false }
  if (l.fs !== undefined) {
    if (typeof l.fs !== 'object' || l.fs === null) throw c.typeError(`${name}.fs`, 'of type object', l.fs)
    const fs = l.fs as Record<string, unknown>
    slot.fs = true
    for (const group of ['read', 'write', 'execute'] as const)
      for (const path of pathList(fs[group], `${name}.fs.${group}`, c)) slot.paths.push({ path, access: [group] })
    if (fs.rights !== undefined) {
      if (!Array.isArray(fs.rights)) throw c.typeError(`${name}.fs.rights`, 'an array of { path, access }', fs.rights)
      fs.rights.forEach((r: unknown, i: number) => {
        const at = `${name}.fs.rights[${i}]`
        if (typeof r !== 'object' || r === null) throw c.typeError(at, 'an object { path, access }', r)
        const rr = r as Record<string, unknown>
        const path = resolvePath(pathOf(rr.path, `${at}.path`, c))
        if (!Array.isArray(rr.access)) throw c.typeError(`${at}.access`, 'an array of right names', rr.access)
        slot.paths.push({ path, access: rr.access.map((a: unknown, j: number) => c.string(a, `${at}.access[${j}]`)) })
      })
    }
  }
  if (l.net !== undefined) {
    if (typeof l.net !== 'object' || l.net === null) throw c.typeError(`${name}.net`, 'of type object', l.net)
    const net = l.net as Record<string, unknown>
    slot.connect = ports(net.connect, `${name}.net.connect`, c)
    slot.bind = ports(net.bind, `${name}.net.bind`, c)
  }
  if (l.scope !== undefined) {
    if (!Array.isArray(l.scope)) throw c.typeError(`${name}.scope`, 'an array', l.scope)
    slot.scope = l.scope.map((s: unknown, i: number) => {
      if (typeof s !== 'string' || !(SCOPES as readonly string[]).includes(s))
        throw c.valueError(`${name}.scope[${i}]`, `must be ${SCOPES.map((x) => `'${x}'`).join(' or ')}`, s)
      return s
    })
  }
  if (l.compatibility !== undefined && l.compatibility !== 'best-effort' && l.compatibility !== 'require')
    throw c.valueError(`${name}.compatibility`, "must be 'best-effort' or 'require'", l.compatibility)
  slot.require = l.compatibility === 'require'
  return slot
}

/** What a plan's confinement enforces on this kernel. */
export function confinementReport(plan: ConfinementPlan): Confinement {
  const report: Confinement = { noNewPrivs: plan.noNewPrivs === true }
  // Worked out when first read, not on every spawn.
  const slot = plan.landlock
  if (slot) {
    let landlock: native.LandlockReport | undefined
    Object.defineProperty(report, 'landlock', { enumerable: true, configurable: true, get: () => (landlock ??= _landlockResolve(slot)) })
  }
  if (plan.seccomp) report.seccomp = { instructions: plan.seccomp.length / 8 }
  return report
}
