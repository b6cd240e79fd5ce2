// fromBwrap(): a bubblewrap command line turned into spawn()'s arguments for the same sandbox,
// so that code shelling out to bwrap can move over one call at a time. Each option maps to
// what docs/migrating-from-bwrap.md lists; one that has no spawn() spelling is refused by name.
import { readFileSync, readSync } from 'node:fs'
import { basename } from 'node:path'

import { CAPABILITIES, type CapName, type MountEntry } from './confine.js'
import type { IdMapRange, SpawnOptions } from './spawn.js'
import type { NsType } from './toolkit.js'

/** What spawn() needs for the sandbox a bwrap command line describes. */
export interface FromBwrap {
  /** The program to run: the first argument after bwrap's options. */
  file: string
  /** Its arguments. */
  args: string[]
  /** spawn()'s options for the same sandbox. */
  options: SpawnOptions
}

/** An option fromBwrap() cannot express: `code` 'ERR_BWRAP_UNSUPPORTED', `option` its name. */
export class BwrapOptionError extends Error {
  /** Always 'ERR_BWRAP_UNSUPPORTED'. */
  readonly code = 'ERR_BWRAP_UNSUPPORTED'
  constructor(
    /** The bwrap option that has no spawn() equivalent ('--disable-userns'). */
    readonly option: string,
    reason: string,
  ) {
    super(`bwrap's ${option} has no spawn() equivalent: ${reason}`)
    this.name = 'BwrapOptionError'
  }
}

/** Options that take this many arguments and have no spawn() spelling, with the reason. */
const UNSUPPORTED: Readonly<Record<string, [number, string]>> = {
  '--userns2': [1, 'switching user namespace after the set-up is not offered; join one with options.join.user'],
  '--disable-userns': [0, 'the sandbox is not kept from making user namespaces; a seccomp filter refusing clone/unshare with CLONE_NEWUSER does it'],
  '--assert-userns-disabled': [0, 'see --disable-userns'],
  '--lock-file': [1, 'no lock is taken for the sandbox\'s lifetime; hold one in this process (the sandbox ends with `exited`)'],
  '--exec-label': [1, 'SELinux labels are not set'],
  '--file-label': [1, 'SELinux labels are not set'],
}

const NS_OPTIONS: Readonly<Record<string, NsType>> = {
  '--unshare-user': 'user',
  '--unshare-user-try': 'user',
  '--unshare-ipc': 'ipc',
  '--unshare-pid': 'pid',
  '--unshare-net': 'net',
  '--unshare-uts': 'uts',
  '--unshare-cgroup': 'cgroup',
  '--unshare-cgroup-try': 'cgroup',
}

function fdArg(option: string, value: string): number {
  if (!/^\d+$/.test(value)) throw typeErr(option, `an fd number, not ${JSON.stringify(value)}`)
  return Number(value)
}

function typeErr(option: string, what: string): TypeError {
  const e = new TypeError(`bwrap's ${option} needs ${what}`)
  Object.defineProperty(e, 'code', { value: 'ERR_INVALID_ARG_VALUE', enumerable: true })
  return e
}

/** Everything readable from an fd, as bwrap reads --file, --args and --*-data. */
function readAll(fd: number): Buffer {
  const chunks: Buffer[] = []
  for (;;) {
    const chunk = Buffer.alloc(65536)
    const n = readSync(fd, chunk, 0, chunk.length, null)
    if (n === 0) return Buffer.concat(chunks)
    chunks.push(chunk.subarray(0, n))
  }
}

/** The capabilities this process has (effective), by name. */
function callerCaps(): Set<CapName> {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
  const mask = BigInt(`0x${m?.[1] ?? '0'}`)
  return new Set(CAPABILITIES.filter((_, n) => ((mask >> BigInt(n)) & 1n) === 1n))
}

function octal(option: string, value: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) throw typeErr(option, `an octal mode, not ${JSON.stringify(value)}`)
  return parseInt(value, 8)
}

function capName(option: string, value: string): CapName | 'ALL' {
  const upper = value.toUpperCase()
  if (upper === 'ALL') return 'ALL'
  const name = (upper.startsWith('CAP_') ? upper : `CAP_${upper}`) as CapName
  if (!CAPABILITIES.includes(name)) throw typeErr(option, `a capability name or ALL, not ${JSON.stringify(value)}`)
  return name
}

/**
 * Takes a bwrap command line (with or without `bwrap` first) and returns what
 * `spawn(file, args, options)` needs for the same sandbox: an empty root built from the mount
 * options, the same namespaces, ids, environment, capabilities and no_new_privs. fds named by
 * --file, --bind-data, --ro-bind-data and --args are read now; --seccomp, --userns, --pidns,
 * --info-fd, --json-status-fd, --block-fd, --userns-block-fd and --sync-fd fds are passed on and
 * must stay open until the spawn.
 * Throws a BwrapOptionError naming the first option spawn() cannot express.
 */
export function fromBwrap(argv: readonly string[]): FromBwrap {
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string')) {
    const e = new TypeError('The "argv" argument must be an array of strings')
    Object.defineProperty(e, 'code', { value: 'ERR_INVALID_ARG_TYPE', enumerable: true })
    throw e
  }
  const args = [...argv]
  if (args.length > 0 && basename(args[0]!) === 'bwrap') args.shift()

  const namespaces = new Set<NsType>()
  let unshareAll = false
  let shareNet = false
  const mounts: MountEntry[] = []
  const env: Record<string, string | undefined> = { ...process.env }
  const options: SpawnOptions = {}
  const join: Record<string, number> = {}
  let uid: number | undefined
  let gid: number | undefined
  let perms: number | undefined
  let size: number | undefined
  let asPid1 = false
  const overlaySrc: string[] = []
  let caps: Set<CapName> | undefined
  let seccomps = 0

  let i = 0
  const take = (option: string, n: number): string[] => {
    if (i + n > args.length) throw typeErr(option, `${n} argument${n > 1 ? 's' : ''}`)
    const out = args.slice(i, i + n)
    i += n
    return out
  }
  /** --perms and --size apply to the next option only. */
  const modifiers = (): { mode?: number; size?: number } => {
    const m = { mode: perms, size }
    perms = undefined
    size = undefined
    return m
  }

  while (i < args.length) {
    const option = args[i++]!
    if (option === '--') break
    if (!option.startsWith('--')) {
      i--
      break
    }
    if (option in UNSUPPORTED) throw new BwrapOptionError(option, UNSUPPORTED[option]![1])
    if (option in NS_OPTIONS) {
      namespaces.add(NS_OPTIONS[option]!)
      continue
    }
    const { mode, size: sz } = ['--perms', '--size'].includes(option) ? { mode: undefined, size: undefined } : modifiers()
    switch (option) {
      case '--help':
      case '--version':
        throw new BwrapOptionError(option, 'it starts no sandbox')
      case '--args': {
        const [fd] = take(option, 1)
        const more = readAll(fdArg(option, fd!)).toString('utf8').split('\0')
        if (more[more.length - 1] === '') more.pop()
        args.splice(i, 0, ...more)
        break
      }
      case '--unshare-all':
        unshareAll = true
        break
      case '--share-net':
        shareNet = true
        break
      case '--userns':
        join.user = fdArg(option, take(option, 1)[0]!)
        break
      case '--pidns':
        join.pid = fdArg(option, take(option, 1)[0]!)
        break
      case '--uid':
        uid = Number(take(option, 1)[0])
        if (!Number.isInteger(uid) || uid < 0) throw typeErr(option, 'a uid')
        break
      case '--gid':
        gid = Number(take(option, 1)[0])
        if (!Number.isInteger(gid) || gid < 0) throw typeErr(option, 'a gid')
        break
      case '--hostname':
        options.hostname = take(option, 1)[0]
        break
      case '--chdir':
        options.cwd = take(option, 1)[0]
        break
      case '--clearenv':
        for (const k of Object.keys(env)) delete env[k]
        break
      case '--setenv': {
        const [k, v] = take(option, 2)
        env[k!] = v
        break
      }
      case '--unsetenv':
        delete env[take(option, 1)[0]!]
        break
      case '--bind':
      case '--bind-try':
      case '--dev-bind':
      case '--dev-bind-try':
      case '--ro-bind':
      case '--ro-bind-try': {
        const [source, target] = take(option, 2)
        const e: MountEntry = {
          type: 'bind',
          source: source!,
          target: target!,
          ...(option.startsWith('--ro-') ? { readonly: true } : {}),
          ...(option.startsWith('--dev-') ? { devices: true } : {}),
          ...(option.endsWith('-try') ? { optional: true } : {}),
        }
        mounts.push(e)
        break
      }
      case '--bind-fd':
      case '--ro-bind-fd': {
        const [fd, target] = take(option, 2)
        mounts.push({ type: 'bind', source: `/proc/self/fd/${fdArg(option, fd!)}`, target: target!, ...(option === '--ro-bind-fd' ? { readonly: true } : {}) })
        break
      }
      case '--remount-ro':
        mounts.push({ type: 'remount', target: take(option, 1)[0]!, readonly: true })
        break
      case '--proc':
        mounts.push({ type: 'proc', target: take(option, 1)[0]! })
        break
      case '--dev':
        mounts.push({ type: 'dev', target: take(option, 1)[0]! })
        break
      case '--tmpfs':
        mounts.push({ type: 'tmpfs', target: take(option, 1)[0]!, ...(mode !== undefined ? { mode } : {}), ...(sz !== undefined ? { size: sz } : {}) })
        break
      case '--mqueue':
        mounts.push({ type: 'mqueue', target: take(option, 1)[0]! })
        break
      case '--dir':
        mounts.push({ type: 'dir', target: take(option, 1)[0]!, ...(mode !== undefined ? { mode } : {}) })
        break
      case '--file':
      case '--bind-data':
      case '--ro-bind-data': {
        const [fd, target] = take(option, 2)
        const data = readAll(fdArg(option, fd!))
        // bwrap's defaults: 0666 for --file, 0600 for the bound data.
        const fallback = option === '--file' ? 0o666 : 0o600
        mounts.push({ type: 'file', target: target!, data, mode: mode ?? fallback, ...(option === '--ro-bind-data' ? { readonly: true } : {}) })
        break
      }
      case '--symlink': {
        const [to, target] = take(option, 2)
        mounts.push({ type: 'symlink', target: target!, linkTo: to! })
        break
      }
      case '--chmod': {
        const [m, target] = take(option, 2)
        mounts.push({ type: 'chmod', target: target!, mode: octal(option, m!) })
        break
      }
      case '--overlay-src':
        overlaySrc.push(take(option, 1)[0]!)
        break
      case '--overlay':
      case '--tmp-overlay':
      case '--ro-overlay': {
        const n = option === '--overlay' ? 3 : 1
        const a = take(option, n)
        // bwrap stacks the sources in the order given, the last on top.
        const lower = [...overlaySrc].reverse()
        overlaySrc.length = 0
        if (option === '--overlay') mounts.push({ type: 'overlay', lower, upper: a[0]!, work: a[1]!, target: a[2]! })
        else if (option === '--tmp-overlay') mounts.push({ type: 'overlay', lower, upper: 'tmpfs', target: a[0]! })
        else mounts.push({ type: 'overlay', lower, target: a[0]! })
        break
      }
      case '--seccomp':
      case '--add-seccomp-fd':
        if (++seccomps > 1) throw new BwrapOptionError(option, 'spawn() installs one seccomp filter; merge the programs into one')
        options.seccomp = fdArg(option, take(option, 1)[0]!)
        break
      case '--info-fd':
        options.infoFd = fdArg(option, take(option, 1)[0]!)
        break
      case '--json-status-fd':
        options.statusFd = fdArg(option, take(option, 1)[0]!)
        break
      case '--block-fd':
        options.blockFd = fdArg(option, take(option, 1)[0]!)
        break
      case '--userns-block-fd':
        options.usernsBlockFd = fdArg(option, take(option, 1)[0]!)
        break
      case '--sync-fd':
        options.syncFd = fdArg(option, take(option, 1)[0]!)
        break
      case '--new-session':
        options.detached = true
        break
      case '--die-with-parent':
        options.pdeathsig = 'SIGKILL'
        break
      case '--as-pid-1':
        asPid1 = true
        break
      case '--cap-add':
      case '--cap-drop': {
        const name = capName(option, take(option, 1)[0]!)
        caps ??= callerCaps()
        if (option === '--cap-add') {
          if (name === 'ALL') for (const c of CAPABILITIES) caps.add(c)
          else caps.add(name)
        } else if (name === 'ALL') caps.clear()
        else caps.delete(name)
        break
      }
      case '--perms':
        perms = octal(option, take(option, 1)[0]!)
        break
      case '--size': {
        const v = take(option, 1)[0]!
        if (!/^\d+$/.test(v)) throw typeErr(option, `a size in bytes, not ${JSON.stringify(v)}`)
        size = Number(v)
        break
      }
      default:
        throw new BwrapOptionError(option, 'bwrap 0.8 has no such option, and neither does spawn()')
    }
  }
  const command = args.slice(i)
  if (command.length === 0) throw typeErr('command line', 'a command after the options')

  if (unshareAll) for (const n of ['user', 'ipc', 'pid', 'net', 'uts', 'cgroup'] as const) namespaces.add(n)
  // As bwrap checks them: the caller writes the maps of the namespace it asked for, knowing
  // the pid from --info-fd.
  if (options.usernsBlockFd !== undefined) {
    if (!namespaces.has('user')) throw typeErr('--userns-block-fd', '--unshare-user')
    if (options.infoFd === undefined) throw typeErr('--userns-block-fd', '--info-fd')
  }
  if (shareNet) {
    if (!unshareAll) throw typeErr('--share-net', '--unshare-all')
    namespaces.delete('net')
  }
  const root = process.geteuid?.() === 0
  // Without setuid, bwrap needs a user namespace for anything but root: it makes one.
  if (!root && join.user === undefined) namespaces.add('user')
  if (Object.keys(join).length > 0) options.join = join
  if (namespaces.size > 0) options.namespaces = [...namespaces]

  if (namespaces.has('user') && options.usernsBlockFd !== undefined) {
    // The maps are the caller's to write; the ids are taken inside, as bwrap does.
    if (uid !== undefined) options.uid = uid
    if (gid !== undefined) options.gid = gid
  } else if (namespaces.has('user')) {
    const range = (inside: number | undefined, own: number): IdMapRange[] | 'self' => (inside === undefined ? 'self' : [{ inside, outside: own, count: 1 }])
    options.uidMap = range(uid, process.geteuid?.() ?? 0)
    options.gidMap = range(gid, process.getegid?.() ?? 0)
  } else if (uid !== undefined || gid !== undefined) {
    if (join.user === undefined) throw typeErr(uid !== undefined ? '--uid' : '--gid', '--unshare-user or --userns')
    if (uid !== undefined) options.uid = uid
    if (gid !== undefined) options.gid = gid
  }

  // bwrap always builds an empty root from its mount options.
  options.rootfs = 'tmpfs'
  options.mounts = mounts
  options.env = env
  options.noNewPrivs = true
  // bwrap keeps pid 1 for itself, reaping, unless --as-pid-1.
  if (namespaces.has('pid') && !asPid1) options.pidns = { init: 'reaper' }
  // bwrap gives a uid 0 sandbox the caller's capabilities (no more, even in a user namespace of
  // its own), and any other uid none but those added, bounding set included.
  const sandboxUid = uid ?? process.geteuid?.() ?? 0
  const keep = CAPABILITIES.filter((c) => (caps ?? (sandboxUid === 0 ? callerCaps() : new Set())).has(c))
  options.capabilities = sandboxUid === 0 || keep.length === 0 ? { keep } : { keep, ambient: keep }
  return { file: command[0]!, args: command.slice(1), options }
}
