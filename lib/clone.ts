// clone(): the native clone with what only JavaScript can do around it. While the callback
// runs, the paths by which it could reach Node's own exit or start threads and processes the
// parent would wait on for good lead to the child instead, or are refused; afterwards
// everything is put back as it was.
import { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { constants } from 'node:os'
import { Worker, isMainThread } from 'node:worker_threads'
import * as binding from '../index.js'
import { FS, NEWCGROUP, NEWIPC, NEWNET, NEWNS, NEWPID, NEWUSER, NEWUTS, SIGCHLD } from './native.js'
import type { CloneFlags, NamespaceFlag, Only } from './native.js'

/** A namespace type by its name in /proc/PID/ns. */
export type NamespaceName = 'mnt' | 'uts' | 'ipc' | 'net' | 'pid' | 'user' | 'cgroup'

/** clone()'s options form. */
export interface CloneOptions {
  /** New namespaces for the child, by their names in /proc/PID/ns. */
  readonly namespaces?: readonly NamespaceName[]
  /** Sent to this process when the child ends: 'SIGCHLD' (the default), or null for none. */
  readonly exitSignal?: 'SIGCHLD' | null
  /** Other clone flags, OR-ed in: `PIDFD`, `PARENT_SETTID`, `PTRACE`, `IO`, `SYSVSEM`, ... */
  readonly flags?: number
  /** With PARENT_SETTID it receives the child's tid, with PIDFD a pidfd, when clone() returns. */
  readonly ptid?: Int32Array
}

/** A clone() callback: its return value (0 to 255, or nothing for 0) is the exit status. */
export type CloneCallback = () => number | void

const namespaceFlags: Readonly<Record<NamespaceName, NamespaceFlag>> = {
  mnt: NEWNS,
  uts: NEWUTS,
  ipc: NEWIPC,
  net: NEWNET,
  pid: NEWPID,
  user: NEWUSER,
  cgroup: NEWCGROUP,
}

function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code })
}

function typeError(code: string, message: string): TypeError & { code: string } {
  return Object.assign(new TypeError(message), { code })
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`
  if (typeof value === 'string') return `Received type string ('${value.slice(0, 25)}')`
  if (typeof value === 'object') return 'Received an object'
  return `Received type ${typeof value}`
}

/** The flags an options object stands for. */
function optionFlags(options: CloneOptions): number {
  let flags = 0
  const { namespaces = [], exitSignal = 'SIGCHLD', flags: extra = 0 } = options
  if (!Array.isArray(namespaces)) {
    throw typeError('ERR_INVALID_ARG_TYPE', `The "options.namespaces" property must be an array. ${describe(namespaces)}`)
  }
  for (const name of namespaces as readonly unknown[]) {
    const flag = typeof name === 'string' ? namespaceFlags[name as NamespaceName] : undefined
    if (flag === undefined || !Object.hasOwn(namespaceFlags, name as string)) {
      throw typeError(
        'ERR_INVALID_ARG_VALUE',
        `The "options.namespaces" property must hold names of ${Object.keys(namespaceFlags).join(', ')} ` +
          `(a time namespace comes from unshare(NEWTIME) inside the callback). ${describe(name)}`,
      )
    }
    flags |= flag
  }
  if (exitSignal !== null) {
    const signo = typeof exitSignal === 'string' ? (constants.signals as Record<string, number>)[exitSignal] : undefined
    if (signo === undefined) {
      throw typeError('ERR_UNKNOWN_SIGNAL', `Unknown signal: ${String(exitSignal)}`)
    }
    flags |= signo
  }
  return (flags | extra) >>> 0
}

// The parts of process this module swaps while a callback runs; internal to Node, hence typed
// here.
interface ProcessInternals {
  reallyExit(code: number): never
  _exiting: boolean
}

const proc = process as unknown as NodeJS.Process & ProcessInternals

/** Replaces obj[key] with value; returns how to put it back, or null if obj does not allow it. */
function swap<T extends object>(obj: T, key: PropertyKey, value: unknown): (() => void) | null {
  const before = Object.getOwnPropertyDescriptor(obj, key)
  if (before ? !before.configurable : !Object.isExtensible(obj)) return null
  Object.defineProperty(obj, key, { value, writable: true, enumerable: before?.enumerable ?? false, configurable: true })
  return () => {
    if (before) Object.defineProperty(obj, key, before)
    else delete (obj as Record<PropertyKey, unknown>)[key]
  }
}

function refusedInCallback(message: string): never {
  throw codedError('ERR_UNSAFE_IN_CLONE_CALLBACK', message)
}

function refuseSpawn(): never {
  refusedInCallback(
    'An asynchronous child process (child_process.spawn, exec, execFile, fork) started in a clone() ' +
      'callback would be the child\'s child: Node.js would never hear of its exit and would never exit ' +
      'itself. Use the synchronous variants (execSync, spawnSync) there, or execve() to replace the ' +
      'child with the program',
  )
}

/** Why a thread cannot be started in a callback. */
const threadWhy =
  'in a clone() callback would start a thread that belongs to the child but runs on this ' +
  "process's memory, and can neither outlive the child nor be stopped safely"

let inspector: { open?: unknown } | undefined
try {
  inspector = require('node:inspector') as { open?: unknown }
} catch {
  // A Node.js built without the inspector: nothing to guard.
}

function refuseInspector(): never {
  refusedInCallback(`inspector.open() ${threadWhy}: open the inspector before clone()`)
}

/** clone() callbacks running now on this thread (a callback may clone again). */
let depth = 0
/** What a callback did through the guards; per clone() call (saved around nested ones). */
let exitCalled = false
let chdirCalled = false

/**
 * One guard: a wrapper put once in `obj[key]` that acts only while a callback runs (depth > 0)
 * and otherwise hands the call to what it replaced. Installed once per process and checked
 * (one property read) on each clone(): redefining properties on every call made clone() slow
 * and threw away V8's inline caches for process and EventEmitter each time.
 */
interface Guard {
  obj: object
  key: PropertyKey
  what: string
  wrap(original: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown
  installed?: unknown
}

const guards: Guard[] = [
  {
    // process.exit() leads here however it is reached (process.exit, a saved reference to it,
    // process.reallyExit); Node's own exit() has checked and coerced the code by then.
    obj: proc,
    key: 'reallyExit',
    what: 'process.reallyExit',
    wrap: (original) =>
      function reallyExit(this: unknown, code: unknown): unknown {
        if (depth === 0) return original.call(this, code)
        exitCalled = true
        let n = 0
        try {
          n = Number(code) | 0
        } catch {
          n = 0
        }
        return binding.exit(n & 0xff)
      },
  },
  {
    // Node's 'exit' handlers belong to the parent: the child's exit must not run them.
    obj: proc,
    key: 'emit',
    what: 'process.emit',
    wrap: (original) =>
      function emit(this: unknown, event: unknown): unknown {
        if (depth > 0 && event === 'exit') return false
        return Reflect.apply(original, this, arguments)
      },
  },
  {
    obj: ChildProcess.prototype,
    key: 'spawn',
    what: 'ChildProcess.prototype.spawn',
    wrap: (original) =>
      function spawn(this: unknown): unknown {
        if (depth > 0) refuseSpawn()
        return Reflect.apply(original, this, arguments)
      },
  },
  {
    // Every EventEmitter runs this; a Worker is one.
    obj: EventEmitter,
    key: 'init',
    what: 'EventEmitter.init',
    wrap: (original) =>
      function init(this: unknown): unknown {
        if (depth > 0 && this instanceof Worker) refusedInCallback(`new Worker() ${threadWhy}: start Workers before or after clone()`)
        return Reflect.apply(original, this, arguments)
      },
  },
]
if (inspector && typeof inspector.open === 'function') {
  guards.push({
    obj: inspector,
    key: 'open',
    what: 'inspector.open',
    wrap: (original) =>
      function open(this: unknown): unknown {
        if (depth > 0) refuseInspector()
        return Reflect.apply(original, this, arguments)
      },
  })
}
if (isMainThread && typeof proc.chdir === 'function') {
  guards.push({
    obj: proc,
    key: 'chdir',
    what: 'process.chdir',
    wrap: (original) =>
      function chdir(this: unknown, directory: unknown): unknown {
        if (depth > 0) chdirCalled = true
        return original.call(proc, directory)
      },
  })
}

/** Puts each guard in place where it is not (the first clone(), or someone replaced it). */
function installGuards(): void {
  for (const g of guards) {
    const current = (g.obj as Record<PropertyKey, unknown>)[g.key]
    if (current === g.installed) continue
    const wrapper = g.wrap(current as (...args: unknown[]) => unknown)
    if (!swap(g.obj, g.key, wrapper)) {
      throw codedError(
        'ERR_CLONE_UNGUARDED',
        `clone() refused: ${g.what} cannot be replaced for the callback (is process or a core module ` +
          `frozen or sealed?), and without that the callback could reach Node.js itself instead of ` +
          `its child${g.key === 'reallyExit' ? ' (process.exit() would end this process)' : ''}: leave it writable to use clone()`,
      )
    }
    g.installed = wrapper
  }
}

// In place from the start, so that process.exit and the others a program captures after
// loading this package stay the same functions across clone() calls. Where they cannot be
// replaced (a frozen process), clone() says so when it is called.
try {
  installGuards()
} catch {
  // reported by clone()
}

/** Where guards.find() would look for the chdir guard on every call. */
const chdirGuard = guards.find((g) => g.key === 'chdir')

/**
 * Calls the native clone with the callback's guards active, and puts back what the callback
 * changed of this process's view (exit state, a cached cwd) afterwards, whatever happened.
 * Throws before anything happens if the guards cannot be put in place. No closure or argument
 * array is made per call: this is the hot path of every clone().
 */
function guardedClone(flags: number, callback: unknown, stackSize: unknown, flagArg: unknown, ptid: unknown, tls: unknown, ctid: unknown): number {
  installGuards()
  const exitCode = proc.exitCode
  const exiting = proc._exiting
  const exitListeners = proc.rawListeners('exit')
  const outerExit = exitCalled
  const outerChdir = chdirCalled
  exitCalled = false
  chdirCalled = false
  depth++
  try {
    return nativeClone(callback, stackSize, flagArg, ptid, tls, ctid)
  } finally {
    depth--
    if (exitCalled) {
      // Put back what the callback's exit changed; a frozen process (a caller may freeze it)
      // changed nothing, and refuses the assignment in strict code.
      if (proc._exiting !== exiting) proc._exiting = exiting
      if (proc.exitCode !== exitCode) proc.exitCode = exitCode
      const now = proc.rawListeners('exit')
      for (const listener of exitListeners) {
        if (!now.includes(listener)) proc.on('exit', listener as (code: number) => void)
      }
    }
    // process.cwd() caches the directory a callback's process.chdir() moved the child to; the
    // parent's own stayed where it was unless the two share it (FS). chdir('.') empties the cache.
    if (chdirCalled && (flags & FS) === 0 && chdirGuard?.installed) {
      try {
        ;(chdirGuard.installed as (d: string) => void).call(proc, '.')
      } catch {
        // The parent's cwd is gone; the cache keeps the child's answer, as before.
      }
    }
    exitCalled = outerExit
    chdirCalled = outerChdir
  }
}

const nativeClone = binding.nativeClone as (
  callback: unknown,
  stackSize: unknown,
  flags: unknown,
  ptid: unknown,
  tls: unknown,
  ctid: unknown,
) => number

/**
 * Runs `callback` in a child process with new namespaces and returns the child's pid: clone(2)
 * with vfork semantics (see the README's "clone(): how the callback runs").
 *
 * Options form: `clone(callback, { namespaces: ['net', 'pid'], exitSignal: 'SIGCHLD' })`.
 * Linux::Clone's positional form: `clone(callback, stackSize, flags, ptid)`, where stackSize is
 * accepted and ignored and flags is `NEW*` flags OR-ed with SIGCHLD (or 0 for no exit signal).
 */
export function clone(callback: CloneCallback, options: CloneOptions): number
export function clone<F extends number = 0>(
  callback: CloneCallback,
  stackSize?: number,
  flags?: F & Only<F, CloneFlags>,
  ptid?: Int32Array,
): number
export function clone(callback: CloneCallback, second?: unknown, flags?: unknown, ptid?: unknown, tls?: unknown, ctid?: unknown): number {
  // Arguments are passed on one by one, not as an array: a left-out one reads as undefined to
  // the native clone either way, which checks each before anything happens.
  if (typeof second === 'object' && second !== null && !(second instanceof Int32Array)) {
    const options = second as CloneOptions
    const optionsFlags = optionFlags(options)
    return guardedClone(optionsFlags, callback, 0, optionsFlags, options.ptid, undefined, undefined)
  }
  return guardedClone(typeof flags === 'number' ? flags : 0, callback, second, flags, ptid, tls, ctid)
}
