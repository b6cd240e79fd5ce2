// The namespace toolkit: handles with identity, listing, iproute2's named network namespaces,
// and inNamespaces(), which runs a function in other namespaces without moving any thread of
// this process (it runs in a clone() child that shares this process's memory and fds).
import { readdirSync, statSync } from 'node:fs'
import { clone } from './clone.js'
import {
  _closeFd,
  netnsAdd,
  netnsDelete,
  NEWCGROUP,
  NEWIPC,
  NEWNET,
  NEWNS,
  NEWPID,
  NEWTIME,
  NEWUSER,
  NEWUTS,
  NS_GET_OWNER_UID,
  NS_GET_PARENT,
  NS_GET_USERNS,
  nsIoctl,
  nsList,
  nsOpen,
  nsStat,
  setns,
  waitpid,
  _takeCloneUncaught,
} from '../index.js'

/** A namespace type, by its name in `/proc/PID/ns`. */
export type NsType = 'user' | 'mnt' | 'pid' | 'net' | 'uts' | 'ipc' | 'cgroup' | 'time'

/** A namespace's identity: the device and inode of its nsfs file, as `stat` gives them. */
export interface NamespaceId {
  /** The nsfs device (`st_dev`). */
  dev: bigint
  /** The inode (`st_ino`): the number `lsns` shows and `/proc/PID/ns/*` links name (`net:[4026531833]`). */
  ino: bigint
}

/** What `inNamespaces()` accepts for each type: a handle, a namespace fd, or a FileHandle. */
export type NamespaceRef = Namespace | number | {
  /** An open namespace fd. */
  readonly fd: number
}

/** The namespaces `inNamespaces()` enters, by type. */
export type JoinSpec = Partial<Record<NsType, NamespaceRef>>

/** What `namespaceOf()` returns: a namespace's type and identity, without an fd kept open. */
export interface NamespaceInfo {
  /** Its type. */
  type: NsType
  /** Its identity. */
  id: NamespaceId
}

/** One namespace of `listNamespaces()`, with what `lsns` says about it. */
export interface ListedNamespace {
  /** Its type. */
  type: NsType
  /** Its identity (lsns's NS is `id.ino`). */
  id: NamespaceId
  /** How many processes are in it (threads are not counted, as in `lsns`). */
  nprocs: number
  /** Their pids, lowest first. */
  pids: number[]
  /** The uid that created the user namespace that owns it (for a user namespace, itself). */
  ownerUid: number | null
  /** The user namespace that owns it (for a user namespace, its parent); null at the top. */
  userNamespaceId: NamespaceId | null
  /** pid and user namespaces: the parent, where the caller can see it. */
  parentId?: NamespaceId
}

/** `code` of calls on a Namespace after close(). */
const CLOSED = 'ERR_NAMESPACE_CLOSED'
/** `code` of a namespace of another type than the one asked for (also thrown natively). */
const WRONG_TYPE = 'ERR_NAMESPACE_TYPE_MISMATCH'
/** `code` of an inNamespaces() function that returned a Promise or another thenable. */
const ASYNC = 'ERR_IN_NAMESPACES_ASYNC'
/** `code` of an inNamespaces() function that ended its child (process.exit, exit, execve). */
const CHILD_ENDED = 'ERR_IN_NAMESPACES_CHILD_EXITED'
/** What clone() unwinds a callback with when it asked to exit or exec. */
const CHILD_EXITING = 'ERR_CLONE_CHILD_EXITING'

const TYPES: readonly NsType[] = ['user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup', 'time']
const FLAGS: Record<NsType, number> = {
  user: NEWUSER,
  mnt: NEWNS,
  pid: NEWPID,
  net: NEWNET,
  uts: NEWUTS,
  ipc: NEWIPC,
  cgroup: NEWCGROUP,
  time: NEWTIME,
}
const NETNS_DIR = '/run/netns'

function codedError<E extends Error>(error: E, code: string): E & { code: string } {
  return Object.assign(error, { code })
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`
  if (typeof value === 'function') return `Received function ${value.name}`
  if (typeof value === 'object') return `Received an instance of ${value.constructor?.name ?? 'Object'}`
  return `Received type ${typeof value} (${String(value)})`
}

function argType(name: string, expected: string, value: unknown): TypeError {
  return codedError(
    new TypeError(`The "${name}" argument must be ${expected}. ${describe(value)}`),
    'ERR_INVALID_ARG_TYPE',
  )
}

function checkType(type: unknown): asserts type is NsType | undefined {
  if (type === undefined || TYPES.includes(type as NsType)) return
  throw codedError(
    new TypeError(
      `The argument 'type' must be one of ${TYPES.map((t) => `'${t}'`).join(', ')}. ${describe(type)}`,
    ),
    'ERR_INVALID_ARG_VALUE',
  )
}

function idOf(stat: { dev: bigint; ino: bigint }): NamespaceId {
  return { dev: stat.dev, ino: stat.ino }
}

function sameId(a: NamespaceId, b: NamespaceId): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

// The safety net: a handle that is dropped without close() has its fd closed after GC.
const forgotten = new FinalizationRegistry<number>((fd) => {
  try {
    _closeFd(fd)
  } catch {
    // Closed already: nothing to do.
  }
})

/**
 * An open namespace: an fd with its type and identity. Pass it to `setns()` or to
 * `inNamespaces()`; close it with `close()` (or `using`), not `fs.closeSync(ns.fd)`, so that
 * the finalizer never closes an fd number that has been reused since.
 */
export class Namespace {
  #fd: number
  /** The namespace's type, read from the fd (NS_GET_NSTYPE). */
  readonly type: NsType
  /** The namespace's identity: compare it, or print `id.ino` as `lsns` does. */
  readonly id: NamespaceId

  /** Takes ownership of `fd`, which must refer to a namespace (such as one from `nsIoctl`). */
  constructor(fd: number) {
    if (typeof fd !== 'number') throw argType('fd', 'of type number', fd)
    const stat = nsStat(fd)
    this.#fd = fd
    this.type = stat.type
    this.id = idOf(stat)
    forgotten.register(this, fd, this)
  }

  /** The fd, or -1 after close(), as a FileHandle's. */
  get fd(): number {
    return this.#fd
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#fd < 0
  }

  /** Whether `other` (a handle or an id) is the same namespace. */
  equals(other: Namespace | NamespaceId): boolean {
    if (other instanceof Namespace) return sameId(this.id, other.id)
    if (other === null || typeof other !== 'object' || typeof other.ino !== 'bigint') {
      throw argType('other', 'a Namespace or a { dev, ino } object of bigints', other)
    }
    return sameId(this.id, other)
  }

  /** The parent of a pid or user namespace (NS_GET_PARENT); EPERM above the caller's own. */
  parent(): Namespace {
    return new Namespace(nsIoctl(this.#open('parent'), NS_GET_PARENT))
  }

  /** The user namespace that owns this one (NS_GET_USERNS); EPERM outside the caller's. */
  owner(): Namespace {
    return new Namespace(nsIoctl(this.#open('owner'), NS_GET_USERNS))
  }

  /**
   * The uid that created the user namespace (NS_GET_OWNER_UID); for another type, that of the
   * user namespace that owns it.
   */
  get ownerUid(): number {
    const fd = this.#open('ownerUid')
    if (this.type === 'user') return nsIoctl(fd, NS_GET_OWNER_UID)
    const owner = this.owner()
    try {
      return nsIoctl(owner.fd, NS_GET_OWNER_UID)
    } finally {
      owner.close()
    }
  }

  /** Closes the fd; calling it again does nothing. */
  close(): void {
    if (this.#fd < 0) return
    const fd = this.#fd
    this.#fd = -1
    forgotten.unregister(this)
    _closeFd(fd)
  }

  /** close(), for `using ns = openNamespace(...)`. */
  [Symbol.dispose](): void {
    this.close()
  }

  #open(what: string): number {
    if (this.#fd < 0) {
      throw codedError(
        new Error(`Namespace.${what}: the ${this.type} namespace handle is closed`),
        CLOSED,
      )
    }
    return this.#fd
  }
}

/** A process (a pid, or `{ pidfd }`) or a namespace file's path, for openNamespace() and namespaceOf(). */
export type NamespaceTarget = number | string | {
  /** A pidfd of the process. */
  readonly pidfd: number
}

/**
 * Opens a namespace: of process `target` (a pid, or `{ pidfd }`) with `type`, or the namespace
 * file at path `target` (`/proc/PID/ns/TYPE`, `/run/netns/NAME`), whose type is read from the
 * file and checked against `type` when given.
 */
export function openNamespace(target: NamespaceTarget, type?: NsType): Namespace {
  checkType(type)
  const fd = nsOpen(target, type)
  try {
    return new Namespace(fd)
  } catch (error) {
    _closeFd(fd)
    throw error
  }
}

/**
 * The type and identity of a namespace without keeping an fd: `target` is a pid (with `type`),
 * `{ pidfd }` (with `type`), a path, or an open fd as `{ fd }` (a Namespace, a FileHandle).
 */
export function namespaceOf(target: NamespaceTarget | { readonly fd: number }, type?: NsType): NamespaceInfo {
  checkType(type)
  if (typeof target === 'object' && target !== null && 'fd' in target) {
    const stat = nsStat(target)
    if (type !== undefined && stat.type !== type) {
      throw codedError(new Error(`fd ${target.fd} is a ${stat.type} namespace, not a ${type} namespace`), WRONG_TYPE)
    }
    return { type: stat.type, id: idOf(stat) }
  }
  const fd = nsOpen(target, type)
  try {
    const stat = nsStat(fd)
    return { type: stat.type, id: idOf(stat) }
  } finally {
    _closeFd(fd)
  }
}

/**
 * Every namespace that a process visible in /proc is in, as `lsns` finds them: for each, the
 * processes in it and its place among the user (and pid) namespaces.
 */
export function listNamespaces(options: { type?: NsType } = {}): ListedNamespace[] {
  if (options === null || typeof options !== 'object') throw argType('options', 'of type object', options)
  checkType(options.type)
  return nsList(options.type)
    .map((n) => {
      const listed: ListedNamespace = {
        type: n.type,
        id: n.id,
        nprocs: n.nprocs,
        pids: n.pids,
        ownerUid: n.ownerUid ?? null,
        userNamespaceId: n.userNamespaceId ?? null,
      }
      if (n.parentId) listed.parentId = n.parentId
      return listed
    })
    .sort((a, b) => (a.id.ino < b.id.ino ? -1 : a.id.ino > b.id.ino ? 1 : 0))
}

function netnsName(name: unknown): string {
  if (typeof name !== 'string') throw argType('name', 'of type string', name)
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || Buffer.byteLength(name) > 255) {
    throw codedError(
      new TypeError(
        `The argument 'name' must be a file name (not empty, '.' or '..', no '/', at most 255 bytes). Received ${JSON.stringify(name)}`,
      ),
      'ERR_INVALID_ARG_VALUE',
    )
  }
  return name
}

/**
 * Named network namespaces, the way iproute2 keeps them (bind mounts on /run/netns/NAME): what
 * `netns.add()` makes, `ip netns exec NAME` enters, and the reverse.
 */
export const netns = {
  /** Creates a network namespace named `name`, as `ip netns add NAME` does. */
  add(name: string): void {
    netnsAdd(name)
  },
  /** Removes the name, as `ip netns delete NAME` does (the namespace lives on while used). */
  delete(name: string): void {
    netnsDelete(name)
  },
  /** Opens the network namespace named `name`. */
  open(name: string): Namespace {
    return openNamespace(`${NETNS_DIR}/${netnsName(name)}`, 'net')
  },
  /** The names in /run/netns, as `ip netns list` shows them. */
  list(): string[] {
    try {
      return readdirSync(NETNS_DIR).sort()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
  },
}

interface Join {
  type: NsType
  fd: number
}

/** The fds to enter, checked before any clone: each open, a namespace, of its key's type. */
function joinPlan(join: unknown): Join[] {
  if (join === null || typeof join !== 'object') throw argType('join', 'of type object', join)
  const plan: Join[] = []
  for (const [key, ref] of Object.entries(join)) {
    if (ref === undefined) continue
    if (!TYPES.includes(key as NsType)) {
      throw codedError(
        new TypeError(`The argument 'join' has an unknown namespace type '${key}': use ${TYPES.join(', ')}`),
        'ERR_INVALID_ARG_VALUE',
      )
    }
    const type = key as NsType
    let fd: number
    if (ref instanceof Namespace) {
      if (ref.closed) {
        throw codedError(new Error(`inNamespaces(): join.${type}: the ${type} namespace handle is closed`), CLOSED)
      }
      fd = ref.fd
    } else if (typeof ref === 'number') {
      fd = ref
    } else if (ref !== null && typeof ref === 'object' && typeof (ref as { fd?: unknown }).fd === 'number') {
      fd = (ref as { fd: number }).fd
    } else {
      throw argType(`join.${type}`, 'a Namespace, a namespace fd or an object with a numeric fd', ref)
    }
    const found = nsStat(fd).type
    if (found !== type) {
      throw codedError(new Error(`inNamespaces(): join.${type} is a ${found} namespace, not a ${type} namespace`), WRONG_TYPE)
    }
    plan.push({ type, fd })
  }
  return plan
}

/** setns() into every planned namespace, in the child. */
function enter(plan: Join[]): void {
  // As nsenter: first what the caller's own privileges allow, then the user namespace, then
  // what needed its privileges. Entering the user namespace first would lose the caller's
  // rights over namespaces it does not own; entering it last would miss those it owns.
  const user = plan.find((j) => j.type === 'user')
  const later: Join[] = []
  let firstError: unknown
  for (const j of plan) {
    if (j === user) continue
    try {
      setns(j.fd, FLAGS[j.type])
    } catch (error) {
      if (j.type === 'time') explainTime(error)
      firstError ??= error
      later.push(j)
    }
  }
  if (!user) {
    if (later.length) throw firstError
    return
  }
  setns(user.fd, NEWUSER)
  for (const j of later) setns(j.fd, FLAGS[j.type])
}

/** The kernel's EUSERS for a time namespace, said for inNamespaces() rather than clone(). */
function explainTime(error: unknown): void {
  const e = error as { code?: unknown; message?: unknown }
  if (e?.code !== 'EUSERS' || typeof e.message !== 'string') return
  e.message = `${e.message.slice(0, e.message.indexOf(' failed: '))} failed: inNamespaces() runs fn in a child that shares this process's memory, and only a process that shares its memory with no one can enter a time namespace: run a program in it instead (execFileSync('nsenter', ['--time=/proc/PID/ns/time', ...]))`
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

/**
 * Runs `fn` synchronously inside the namespaces in `join` and returns its value (or throws its
 * exception) here. `fn` runs in a clone() child that shares this process's memory and fds, so
 * no thread of this process ever changes namespace, and what `fn` makes (sockets, servers,
 * open files) stays valid here. Only synchronous work happens inside: a function that returns
 * a Promise is refused (`ERR_IN_NAMESPACES_ASYNC`).
 */
export function inNamespaces<T>(join: JoinSpec, fn: () => T): T {
  if (typeof fn !== 'function') throw argType('fn', 'of type function', fn)
  const plan = joinPlan(join)
  // Entering the user or time namespace one is in already fails (EINVAL, EUSERS), and there is
  // nothing to enter: leave those out.
  for (const type of ['user', 'time'] as const) {
    const j = plan.find((p) => p.type === type)
    if (j && sameId(idOf(nsStat(j.fd)), idOf(statSync(`/proc/thread-self/ns/${type}`, { bigint: true })))) {
      plan.splice(plan.indexOf(j), 1)
    }
  }
  let outcome: { value: T } | { error: unknown } | undefined
  _takeCloneUncaught()
  const pid = clone(() => {
    try {
      enter(plan)
      outcome = { value: fn() }
    } catch (error) {
      // exit(), execve() and process.exit() must go on unwinding to clone(). A thrown value
      // whose properties throw (a Proxy) is none of those: it is rethrown here as it is.
      let exiting = false
      try {
        exiting = (error as { code?: unknown } | null)?.code === CHILD_EXITING
      } catch {
        // not ours
      }
      if (exiting) throw error
      outcome = { error }
    }
    return 0
  }, 0, 0)
  const status = waitpid(pid)
  if (!outcome) {
    const how = status?.signal ? `was killed by ${status.signal}` : `exited with ${status?.exitCode}`
    // What the child died of, if it died of an exception (a stack that ran out, say).
    const uncaught = _takeCloneUncaught()
    const why = uncaught
      ? `: it threw ${uncaught}${/Maximum call stack size exceeded/.test(uncaught) ? ' (the stack ran out in the child: inNamespaces() and clone() nested too deep)' : ''}`
      : ': process.exit(), exit() and execve() end that child, not this process'
    throw codedError(new Error(`inNamespaces(): the child that ran fn ${how} before fn returned${why}`), CHILD_ENDED)
  }
  if ('error' in outcome) throw outcome.error
  const { value } = outcome
  if (isThenable(value)) {
    // Its settling would happen here, outside the namespaces; keep it from surfacing as an
    // unhandled rejection besides this error.
    Promise.resolve(value).catch(() => {})
    throw codedError(
      new TypeError(
        'inNamespaces(): fn returned a Promise (or another thenable); only synchronous work runs inside the namespaces: what runs after an await, timers and async I/O run in the caller\'s namespaces. Do the namespace-bound part synchronously and return its result',
      ),
      ASYNC,
    )
  }
  return value
}
