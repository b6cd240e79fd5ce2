// spawn()'s confinement options (mounts, rootfs, capabilities, no_new_privs, seccomp, rlimits,
// umask, the pid 1 reaper), observed from inside the child with ordinary programs.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { execFileSync } from 'node:child_process'
import { getSystemErrorName } from 'node:util'
import {
  spawn,
  spawnSync,
  probe,
  SpawnError,
  CAPABILITIES,
  type CapName,
  type MountEntry,
  type NsType,
  type SpawnOptions,
  type SpawnStep,
} from '../dist/index.js'
import { asRoot, isRoot, ok, runIsolated } from './_helpers.js'

// ---- helpers ----

const root = asRoot('namespaces without a user namespace, or running as another uid, need root')
const support = probe()
/** `test` where user namespaces can be made, else `test.skip` with the reason printed. */
const userns: typeof test = support.userNamespaces.ok
  ? test
  : (console.log(`skipping tests that need user namespaces: ${support.userNamespaces.cause}`), test.skip as typeof test)

const sh = (script: string, options: SpawnOptions = {}) => spawnSync('/bin/sh', ['-c', script], { ...options, encoding: 'utf8' })

/** Runs `script`; fails the test unless it started and exited 0. Its stdout. */
function run(t: ExecutionContext, script: string, options: SpawnOptions): string {
  const r = sh(script, options)
  t.is(r.error, undefined, r.error?.message)
  t.is(r.status, 0, r.stderr)
  return r.stdout
}

/** The SpawnError of a spawn that must fail. */
function failure(t: ExecutionContext, options: SpawnOptions): SpawnError {
  const r = sh('exit 0', options)
  t.true(r.error instanceof SpawnError, `expected a SpawnError, the program ran: status ${r.status} ${r.stderr}`)
  return r.error as SpawnError
}

/** What a SpawnError looks like, also when it crossed a process boundary as JSON. */
interface ErrorShape {
  name?: string
  message: string
  code?: string
  errno?: number
  syscall?: string
  step?: string
  index?: number
  path?: string
}

/** Asserts a failed step: Node's error shape, the step, its index and path, and the cause. */
function stepError(
  t: ExecutionContext,
  err: ErrorShape | undefined,
  want: { code: string; step: SpawnStep; syscall: string; index?: number; path?: string; cause: RegExp },
): void {
  if (!err) return void t.fail(`expected a SpawnError at step '${want.step}'`)
  t.is(err.name, 'SpawnError')
  t.is(err.code, want.code, err.message)
  t.is(getSystemErrorName(err.errno ?? 0), want.code)
  t.is(err.syscall, want.syscall)
  t.is(err.step, want.step)
  t.is(err.index, want.index)
  t.is(err.path, want.path)
  t.true(err.message.startsWith(`${want.code}: ${want.syscall}(`), err.message)
  t.regex(err.message, new RegExp(`step '${want.step}'`))
  t.regex(err.message, want.cause)
}

/** A temporary directory, removed after the test. */
function tmp(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-confine-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The host's programs for an empty root: /usr read-only, and /bin, /lib... as this host has them. */
function system(): MountEntry[] {
  const entries: MountEntry[] = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
  for (const dir of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false })
    if (st?.isSymbolicLink()) entries.push({ type: 'symlink', target: dir, linkTo: fs.readlinkSync(dir) })
    else if (st?.isDirectory()) entries.push({ type: 'bind', source: dir, target: dir, readonly: true })
  }
  return entries
}
/** An entry's target as a string. */
const targetOf = (e: MountEntry): string => String('target' in e ? e.target : '')
/** What system() puts at /, by name. */
const systemDirs = system().map((e) => targetOf(e).slice(1))

/** Root in a user namespace of its own (the caller's ids mapped to 0). */
const asUserRoot = { uidMap: 'root', gidMap: 'root' } as const

/** An empty root holding the host's programs, a /proc, and `entries`, in user and pid namespaces and `more`. */
function sandbox(entries: readonly MountEntry[] = [], more: readonly NsType[] = [], options: SpawnOptions = {}): SpawnOptions {
  return { ...asUserRoot, rootfs: 'tmpfs', ...options, namespaces: ['user', 'pid', ...more], mounts: [...system(), { type: 'proc' }, ...entries] }
}

/** Mounts in a user namespace, on this host's tree (no new root). */
function onHostTree(entries: readonly MountEntry[], more: readonly NsType[] = []): SpawnOptions {
  return { ...asUserRoot, namespaces: ['user', ...more], mounts: entries }
}

/** One line of /proc/self/mountinfo. */
interface Mount {
  device: string
  root: string
  point: string
  /** Per-mount options (rw, nosuid, ...). */
  options: string[]
  /** Optional fields: shared:N, master:N, ... */
  tags: string[]
  fstype: string
  /** Superblock options (size=, mode=, ...). */
  super: string[]
}

function mountinfo(text: string): Mount[] {
  return text
    .split('\n')
    .filter((l) => / - /.test(l))
    .map((line) => {
      const [left, right] = line.split(' - ') as [string, string]
      const [, , device, root, point, options, ...tags] = left.split(' ')
      const [fstype, , superOptions] = right.split(' ')
      return { device: device!, root: root!, point: point!, options: options!.split(','), tags, fstype: fstype!, super: (superOptions ?? '').split(',') }
    })
}

/** The topmost mount at `point`. */
function at(mounts: Mount[], point: string): Mount | undefined {
  return mounts.filter((m) => m.point === point).at(-1)
}

/** The device of this process's /proc: its procfs superblock. */
const hostProcDevice = (): string => at(mountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')), '/proc')?.device ?? 'no /proc'

/** What a proc entry mounts: the procfs and the parts bound read-only over it. */
const procMounts = ['/proc', ...['sys', 'irq', 'bus'].filter((s) => fs.existsSync(`/proc/${s}`)).map((s) => `/proc/${s}`)]

/** What a dev entry holds. */
const DEV = ['core', 'fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']

/** Splits a script's output at lines of `--`. */
const sections = (out: string): string[] => out.split('--\n')

/** /proc/PID/status's capability sets, as numbers. */
function capSets(status: string): Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb', bigint> {
  const get = (name: string) => {
    const hex = new RegExp(`^${name}:\\s+([0-9a-f]+)$`, 'm').exec(status)?.[1]
    // -1: no such line (not a status file).
    return hex === undefined ? -1n : BigInt(`0x${hex}`)
  }
  return { CapInh: get('CapInh'), CapPrm: get('CapPrm'), CapEff: get('CapEff'), CapBnd: get('CapBnd'), CapAmb: get('CapAmb') }
}
const statusField = (status: string, name: string) => new RegExp(`^${name}:\\s+(\\S+)$`, 'm').exec(status)?.[1]
const STATUS = 'cat /proc/self/status'

/** The bits of these capabilities. */
function mask(...names: CapName[]): bigint {
  return names.reduce((m, n) => m | (1n << BigInt(CAPABILITIES.indexOf(n))), 0n)
}
/** Every capability this kernel has. */
const allCaps = (1n << BigInt(Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')) + 1)) - 1n

/** A limit of this process, as /proc/self/limits shows it ('unlimited' or a number). */
function ownLimit(name: string, which: 'soft' | 'hard'): string {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name))!
  const [soft, hard] = line.slice(26).trim().split(/\s+/)
  return which === 'soft' ? soft! : hard!
}

/** Every path under `dirs` on their own filesystems, sorted: what the host has there. */
function listing(...dirs: string[]): string[] {
  return execFileSync('find', [...dirs, '-xdev'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()
}

/** The steps added for confinement: 'umask' (which cannot fail) and 'no_new_privs' belong too. */
const confinementSteps = ['propagation', 'mount', 'rootfs', 'rlimit', 'capabilities', 'umask', 'no_new_privs', 'reaper', 'seccomp'] as const satisfies readonly SpawnStep[]
void confinementSteps

// ---- mounts the host made ----

test('propagation needs a new mount namespace; unchanged cannot build a root', (t) => {
  t.throws(() => sh('true', { propagation: 'slave' }), { code: 'ERR_INVALID_ARG_VALUE', message: /needs a new mount namespace/ })
  // The root is built on a tmpfs over /tmp: with shared mounts it would stay on this host's /tmp.
  for (const o of [{ rootfs: 'tmpfs' }, { mounts: [{ type: 'file', target: '/etc/motd', data: 'x' }] as MountEntry[] }])
    t.throws(() => sh('true', { namespaces: ['mnt'], propagation: 'unchanged', ...o }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.propagation' cannot be 'unchanged' with a rootfs or file entries.*'private' or 'slave'/,
    })
})

// ---- each confinement step's failure ----

/** Index of the first entry after sandbox()'s own (the system's and /proc). */
const FIRST = system().length + 1

userns("'mount': a symlink entry where something else is, a mount refused, a remount of no mount point", (t) => {
  stepError(t, failure(t, sandbox([{ type: 'symlink', target: '/usr', linkTo: 'elsewhere' }])), {
    code: 'EEXIST',
    step: 'mount',
    syscall: 'symlink',
    index: FIRST,
    path: '/usr',
    cause: /\/usr exists and is not a symlink to elsewhere/,
  })
  // The ipc namespace is the host's: its user namespace is not the child's.
  stepError(t, failure(t, sandbox([{ type: 'mqueue', target: '/mq' }])), {
    code: 'EPERM',
    step: 'mount',
    syscall: 'mount',
    index: FIRST,
    path: '/mq',
    cause: /an mqueue filesystem needs CAP_SYS_ADMIN over the user namespace that owns the IPC namespace: add 'ipc' to namespaces/,
  })
  stepError(t, failure(t, sandbox([{ type: 'remount', target: '/usr/share', readonly: true }])), {
    code: 'EINVAL',
    step: 'mount',
    syscall: 'mount_setattr',
    index: FIRST,
    path: '/usr/share',
    cause: /\/usr\/share is not a mount point/,
  })
  // A target missing on the host: see 'targets are made only on mounts of the spawn'.
})

userns("'mount' and 'rootfs': nothing can be created by a gid the user namespace does not map", (t) => {
  const dir = tmp(t)
  const cause = /uid or gid has no mapping in its user namespace.*give gidMap as well as uidMap/
  stepError(t, failure(t, { namespaces: ['user'], uidMap: 'root', rootfs: 'tmpfs', mounts: [] }), { code: 'EOVERFLOW', step: 'rootfs', syscall: 'mkdir', path: 'tmpfs', cause })
  stepError(t, failure(t, { namespaces: ['user'], uidMap: 'root', mounts: [{ type: 'tmpfs', target: dir }, { type: 'dir', target: `${dir}/d` }] }), {
    code: 'EOVERFLOW',
    step: 'mount',
    syscall: 'mkdir',
    index: 1,
    path: `${dir}/d`,
    cause,
  })
})
