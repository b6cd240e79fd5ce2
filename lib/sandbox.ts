// Sandboxes: the namespaces, id maps, mounts and root of a spawn() built once and held by a
// small init as pid 1; each run joins them through the init's pidfd instead of building them
// again. The init is spawn()'s reaper with no program (the native "hold" mode): nothing of the
// host needs to exist inside the root for it.
import { closeSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'

import * as native from '../index.js'
import { coded, typeError } from './errors.js'
import type { WaitResult } from './native.js'
import { checkForward, Forward, type ForwardOptions, type ForwardTarget } from './forward.js'
import { Namespace, openNamespace, type NsType } from './toolkit.js'
import {
  spawn,
  spawnSync,
  SpawnError,
  type SpawnOptions,
  type SpawnSyncOptions,
  type SpawnSyncOptionsWithStringEncoding,
  type SpawnSyncResult,
  SpawnedProcess,
} from './spawn.js'

/** What a sandbox is built from, once: the options of spawn() that make namespaces and mounts. */
export interface SandboxOptions
  extends Pick<
    SpawnOptions,
    'uidMap' | 'gidMap' | 'setgroups' | 'hostname' | 'domainname' | 'loopback' | 'cgroup' | 'timeOffsets' | 'mounts' | 'rootfs' | 'propagation'
  > {
  /** New namespaces (default user, mnt, pid, net, uts, ipc); 'pid' is always added: the
   * sandbox's init is pid 1 of it. */
  namespaces?: readonly NsType[]
  /** Options every run starts from (a run's own options win). */
  defaults?: SandboxRunOptions
}

/** The options of one run: those of spawn() that do not build the sandbox. */
export type SandboxRunOptions = Pick<
  SpawnOptions,
  | 'cwd'
  | 'env'
  | 'argv0'
  | 'stdio'
  | 'detached'
  | 'uid'
  | 'gid'
  | 'groups'
  | 'timeout'
  | 'killSignal'
  | 'signal'
  | 'capabilities'
  | 'noNewPrivs'
  | 'seccomp'
  | 'landlock'
  | 'rlimits'
  | 'umask'
  | 'pdeathsig'
  | 'limits'
  | 'cgroupParent'
  | 'terminal'
  | 'tiocsti'
  | 'blockFd'
  | 'syncFd'
>

/** The options of sandbox.spawnSync(): sandbox.spawn()'s, with spawnSync()'s `input`, `maxBuffer` and `encoding`. */
export type SandboxRunSyncOptions = SandboxRunOptions & Pick<SpawnSyncOptions, 'input' | 'maxBuffer' | 'encoding'>

/** How a sandbox ended: `closed` settles with it. */
export interface SandboxEnd {
  /** 'close': close() or asyncDispose; 'died': the init was killed from elsewhere. */
  reason: 'close' | 'died'
  /** The init's exit code (it only exits when killed, so normally null). */
  exitCode: number | null
  /** The signal that ended the init ('SIGKILL' after close()). */
  signal: NodeJS.Signals | null
  /** The reason in words. */
  message: string
}

const ALL_TYPES: readonly NsType[] = ['user', 'cgroup', 'ipc', 'uts', 'net', 'pid', 'time', 'mnt']
const DEFAULT_TYPES: readonly NsType[] = ['user', 'mnt', 'pid', 'net', 'uts', 'ipc']

/** The keys createSandbox() takes; anything else is refused, naming it. */
const BUILD_KEYS = new Set<string>([
  'namespaces', 'uidMap', 'gidMap', 'setgroups', 'hostname', 'domainname', 'loopback', 'cgroup', 'timeOffsets', 'mounts', 'rootfs', 'propagation', 'defaults',
])
/** The keys a run takes. */
const RUN_KEYS = new Set<string>([
  'cwd', 'env', 'argv0', 'stdio', 'detached', 'uid', 'gid', 'groups', 'timeout', 'killSignal', 'signal', 'capabilities', 'noNewPrivs', 'seccomp', 'landlock', 'rlimits', 'umask', 'pdeathsig', 'limits', 'cgroupParent', 'terminal', 'tiocsti', 'blockFd', 'syncFd',
])
const SYNC_KEYS = new Set<string>([...RUN_KEYS, 'input', 'maxBuffer', 'encoding'])

function valueError(name: string, reason: string, value: unknown): TypeError {
  const shown = typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value))
  return coded(new TypeError(`The property '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE')
}

function checkKeys(options: object, allowed: Set<string>, name: string, forRun: boolean): void {
  for (const key of Object.keys(options)) {
    if (allowed.has(key) || (options as Record<string, unknown>)[key] === undefined) continue
    if (forRun && BUILD_KEYS.has(key))
      throw valueError(`${name}.${key}`, 'builds the sandbox, which createSandbox() did once: a run cannot change it (make another sandbox)', key)
    if (key === 'forwards')
      throw valueError(`${name}.${key}`, "is sandbox.forward()'s job: a sandbox's ports are forwarded once, for all its runs", key)
    if (forRun && (key === 'join' || key === 'pidns' || key === 'exitSignal'))
      throw valueError(`${name}.${key}`, 'is fixed for a sandbox run: it joins every namespace of the sandbox through its init', key)
    if (!forRun && RUN_KEYS.has(key)) throw valueError(`${name}.${key}`, 'applies to a run: give it to sandbox.spawn() or in options.defaults', key)
    throw valueError(`${name}.${key}`, 'is not an option here', key)
  }
}

/** A run's cwd, inside the sandbox: relative to the default, or '/'. */
function insideCwd(cwd: unknown, base: string): string {
  if (cwd === undefined) return base
  const c = cwd instanceof URL ? fileURLToPath(cwd) : cwd
  if (typeof c !== 'string') throw typeError('options.cwd', 'of type string or an instance of URL', c)
  return posix.resolve(base, c)
}

/** Sandboxes open on this thread: killed when it exits (a Worker's thread too; the init's
 * pdeathsig follows the process, not the thread). */
const open = new Set<Sandbox>()
let hooked = false
function killOpen(): void {
  for (const sb of open) sb._kill()
}

/**
 * A prepared sandbox: namespaces and a root held by an init (pid 1 of its pid namespace), in
 * which spawn() and spawnSync() run programs at about the cost of a plain spawn. Programs are
 * children of this process (see docs/sessions.md).
 */
export class Sandbox {
  /** The init's pid (in this process's pid namespace). */
  readonly pid: number
  /** Settles once the init has died, with why; never rejects. */
  readonly closed: Promise<SandboxEnd>
  /** A handle on each namespace of the sandbox, owned by it (closed when it closes). */
  readonly namespaces: Readonly<Partial<Record<NsType, Namespace>>>

  #pidfd: number
  #types: NsType[]
  #watch: number
  #end: SandboxEnd | undefined
  #closing = false
  #defaults: SandboxRunOptions
  #cwd: string
  #resolve!: (end: SandboxEnd) => void
  #forwards = new Set<Forward>()
  #cgroup: SandboxOptions['cgroup']

  /** @internal */
  static _create(pid: number, pidfd: number, watch: number, types: NsType[], defaults: SandboxRunOptions, cgroup: SandboxOptions['cgroup']): Sandbox {
    return new Sandbox(pid, pidfd, watch, types, defaults, cgroup)
  }

  private constructor(pid: number, pidfd: number, watch: number, types: NsType[], defaults: SandboxRunOptions, cgroup: SandboxOptions['cgroup']) {
    this.pid = pid
    this.#cgroup = cgroup
    this.#pidfd = pidfd
    this.#types = types
    this.#defaults = defaults
    this.#cwd = insideCwd(defaults.cwd, '/')
    this.closed = new Promise((resolve) => (this.#resolve = resolve))
    const handles: Partial<Record<NsType, Namespace>> = {}
    try {
      for (const t of types) handles[t] = openNamespace({ pidfd }, t)
    } catch (err) {
      for (const h of Object.values(handles)) h.close()
      throw err
    }
    this.namespaces = Object.freeze(handles)
    // The reaper's wait started with the init (in _spawn); this says whom it tells.
    this.#watch = watch
    native._watchExit(watch, (error, result) => this.#onExit(error, result as WaitResult | undefined))
    open.add(this)
    if (!hooked) {
      hooked = true
      process.on('exit', killOpen)
    }
  }

  /** @internal SIGKILL to the init, without waiting (this thread is exiting). */
  _kill(): void {
    if (this.#pidfd < 0) return
    try {
      native.pidfdSendSignal(this.#pidfd, 'SIGKILL')
    } catch {
      // gone already
    }
  }

  /** The init's pidfd (owned by the sandbox; -1 once it has died). */
  get pidfd(): number {
    return this.#pidfd
  }

  /** Whether the init has died (closed or killed): runs are refused from then on. */
  get isClosed(): boolean {
    return this.#end !== undefined
  }

  #onExit(error: Error | null, result: WaitResult | undefined): void {
    const signal = (result?.signal as NodeJS.Signals | null | undefined) ?? null
    const exitCode = result?.exitCode ?? null
    const reason = this.#closing ? 'close' : 'died'
    const how = error ? `its wait failed (${error.message})` : signal ? `it was killed by ${signal}` : `it exited with code ${exitCode}`
    const end: SandboxEnd = {
      reason,
      exitCode,
      signal,
      message: reason === 'close' ? `the sandbox was closed (${how})` : `the sandbox's init (pid ${this.pid}) died: ${how}`,
    }
    this.#release()
    open.delete(this)
    this.#end = end
    this.#resolve(end)
  }

  #release(): void {
    for (const f of this.#forwards) void f.close()
    for (const h of Object.values(this.namespaces)) h?.close()
    if (this.#pidfd >= 0) {
      native._closeFd(this.#pidfd)
      this.#pidfd = -1
    }
  }

  #check(): void {
    if (this.#end === undefined) return
    const e = coded(new Error(`The sandbox can run nothing more: ${this.#end.message}`, { cause: this.#end }), 'ERR_SANDBOX_CLOSED')
    throw e
  }

  #options<T extends SandboxRunOptions>(options: unknown, keys: Set<string>): T & SpawnOptions {
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw typeError('options', 'of type object', options)
    const o = (options ?? {}) as T
    checkKeys(o, keys, 'options', true)
    this.#check()
    const merged = { ...this.#defaults, ...o }
    return {
      ...merged,
      // Runs start in the sandbox's cgroup, unless they ask for one of their own (limits).
      ...(this.#cgroup !== undefined && merged.limits === undefined ? { cgroup: this.#cgroup } : {}),
      cwd: insideCwd(o.cwd, this.#cwd),
      join: { pidfd: this.#pidfd, types: this.#types },
    } as T & SpawnOptions
  }

  /** Runs `file` in the sandbox; returns at once, as spawn() does. */
  spawn(file: string, args?: readonly string[], options?: SandboxRunOptions): SpawnedProcess
  spawn(file: string, options?: SandboxRunOptions): SpawnedProcess
  spawn(file: string, args?: readonly string[] | SandboxRunOptions, options?: SandboxRunOptions): SpawnedProcess {
    if (args !== undefined && !Array.isArray(args)) {
      options = args as SandboxRunOptions
      args = undefined
    }
    const child = spawn(file, args as readonly string[] | undefined, this.#options(options, RUN_KEYS))
    // Before the caller's listeners (they are added after this returns, the error comes later).
    child.prependListener('error', (err: unknown) => this.#explain(err))
    return child
  }

  /** A run that raced the init's death fails at 'setns' with ESRCH: say so. */
  #explain(err: unknown): void {
    if (err instanceof SpawnError && err.step === 'setns' && err.code === 'ESRCH')
      err.message += `: the sandbox's init (pid ${this.pid}) has died, so the sandbox can run nothing more`
  }

  /** Runs `file` in the sandbox to its end, as spawnSync() does. */
  spawnSync(file: string, args: readonly string[], options: SandboxRunSyncOptions & { encoding: BufferEncoding }): SpawnSyncResult<string>
  spawnSync(file: string, options: SandboxRunSyncOptions & { encoding: BufferEncoding }): SpawnSyncResult<string>
  spawnSync(file: string, args?: readonly string[], options?: SandboxRunSyncOptions): SpawnSyncResult<Buffer>
  spawnSync(file: string, options?: SandboxRunSyncOptions): SpawnSyncResult<Buffer>
  spawnSync(file: string, args?: readonly string[] | SandboxRunSyncOptions, options?: SandboxRunSyncOptions): SpawnSyncResult {
    if (args !== undefined && !Array.isArray(args)) {
      options = args as SandboxRunSyncOptions
      args = undefined
    }
    const o = this.#options<SandboxRunSyncOptions>(options, SYNC_KEYS)
    if (this.#forwards.size > 0)
      throw coded(
        new Error(
          `sandbox.spawnSync() is refused while the sandbox has forwarded ports (${this.#forwards.size} open): they are served by this thread's event loop, which spawnSync() blocks, so a program using one would wait forever. Use sandbox.spawn(), or close the forwards first`,
        ),
        'ERR_SANDBOX_FORWARD_SYNC',
      )
    const r = spawnSync(file, (args ?? []) as readonly string[], o as SpawnSyncOptionsWithStringEncoding)
    this.#explain(r.error)
    return r
  }

  /**
   * Listens on `options.port` inside the sandbox's network namespace (made there by a
   * short-lived child; no thread of this process changes namespace) and serves it from this
   * event loop: each connection is piped to `target` (a host address or a unix socket here),
   * or emitted as the Forward's 'connection' without one. While a forward is open,
   * sandbox.spawnSync() is refused (it would block the loop that serves it).
   */
  forward(options: ForwardOptions, target?: ForwardTarget): Forward {
    const checked = checkForward(options, target, 'options', 'target')
    this.#check()
    if (!this.#types.includes('net')) throw valueError('options', "needs a sandbox with a network namespace of its own: add 'net' to its namespaces", options)
    const nstype = (this.#types.includes('user') ? native.NEWUSER | native.NEWNET : native.NEWNET) >>> 0
    const fd = native._listenIn(this.#pidfd, nstype, checked.addr, checked.port, checked.backlog)
    const f: Forward = Forward._create(fd, checked, () => this.#forwards.delete(f))
    this.#forwards.add(f)
    return f
  }

  /** Lets the event loop end while the sandbox is open. */
  unref(): void {
    if (this.#end === undefined) native._exitRef(this.#watch, false)
  }

  /** Keeps the event loop alive while the sandbox is open (the default). */
  ref(): void {
    if (this.#end === undefined) native._exitRef(this.#watch, true)
  }

  /**
   * Kills the init with SIGKILL, which kills every process of its pid namespace, and waits
   * for it: then the namespaces and the mounts in them are gone and every fd is released.
   */
  async close(): Promise<SandboxEnd> {
    if (this.#end === undefined && !this.#closing) {
      this.#closing = true
      try {
        native.pidfdSendSignal(this.#pidfd, 'SIGKILL')
      } catch (err) {
        // ESRCH: it died already; the watch reports it.
        if ((err as { code?: string }).code !== 'ESRCH') throw err
      }
    }
    return this.closed
  }

  /** close(), for `await using sandbox = createSandbox(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/**
 * Builds a sandbox: the namespaces (default user, mnt, pid, net, uts, ipc; 'pid' always), id
 * maps (default 'root' in a new user namespace), mounts and root, as spawn() would for one
 * program, held by an init as pid 1 until close(). Build failures throw a SpawnError with the
 * step that failed, as spawn() reports them.
 */
export function createSandbox(options: SandboxOptions = {}): Sandbox {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'of type object', options)
  checkKeys(options, BUILD_KEYS, 'options', false)
  const requested = options.namespaces ?? DEFAULT_TYPES
  if (!Array.isArray(requested)) throw typeError('options.namespaces', 'an array of namespace names', requested)
  for (const [i, t] of requested.entries())
    if (!ALL_TYPES.includes(t)) throw valueError(`options.namespaces[${i}]`, `must be one of ${ALL_TYPES.join(', ')}`, t)
  const want = new Set<NsType>([...requested, 'pid'])
  if (options.mounts !== undefined || options.rootfs !== undefined) want.add('mnt')
  const types = ALL_TYPES.filter((t) => want.has(t))
  const defaults = options.defaults ?? {}
  if (typeof defaults !== 'object' || defaults === null) throw typeError('options.defaults', 'of type object', defaults)
  checkKeys(defaults, RUN_KEYS, 'options.defaults', true)

  const { defaults: _, namespaces: __, ...build } = options
  const userns = want.has('user')
  const { plan, opened } = SpawnedProcess.plan('init', {
    ...build,
    uidMap: userns ? (build.uidMap ?? 'root') : build.uidMap,
    gidMap: userns ? (build.gidMap ?? 'root') : build.gidMap,
    namespaces: types,
    pidns: { init: 'reaper' },
    // The init dies with the thread that made it: no sandbox outlives its owner.
    pdeathsig: 'SIGKILL',
    stdio: 'ignore',
    env: {},
  })
  plan.hold = true
  let started: native.NativeSpawned
  try {
    started = native._spawn(plan)
  } catch (err) {
    throw SpawnedProcess.spawnError(err, ['init'])
  } finally {
    for (const fd of opened) {
      try {
        closeSync(fd)
      } catch {
        // the caller's
      }
    }
  }
  // Our own pidfd for joins and close(); the one from the clone goes to the watch, which
  // reaps the init. The init is unreaped until then, so its pid cannot name another process.
  let pidfd: number
  try {
    pidfd = native.pidfdOpen(started.pid)
  } catch (err) {
    native.pidfdSendSignal(started.pidfd, 'SIGKILL')
    native._watchExit(started.watch, () => {})
    throw err
  }
  try {
    return Sandbox._create(started.pid, pidfd, started.watch, types, defaults, options.cgroup)
  } catch (err) {
    native.pidfdSendSignal(pidfd, 'SIGKILL')
    native._closeFd(pidfd)
    native._watchExit(started.watch, () => {})
    throw err
  }
}
