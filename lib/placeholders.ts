// Placeholders: empty files or directories made on this host where a mount entry with
// `placeholder: true` needs a target that does not exist yet (a mask over .bashrc in a writable
// workspace), and removed once nothing can see the mount any more. Each one is written down in
// a registry directory first, so that if this process dies, the next spawn() of any process of
// the same user removes what is left, once the sandbox that used it has ended.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import type * as native from '../index.js'

/** A placeholder to make before the clone: its path on this host and what it is. */
export interface PlaceholderNeed {
  readonly path: string
  readonly dir: boolean
}

/** A record in the registry. */
interface Record {
  path: string
  dir: boolean
  dev?: number
  ino?: number
  /** Whoever keeps the mount alive: this process until the child is known, then the child. */
  pid: number
  start: string
  /** The child's mount namespace ('mnt:[N]'), once known. */
  mntns?: string
}

/** Modes that mark a placeholder (read-only, empty). */
const FILE_MODE = 0o444
const DIR_MODE = 0o555

/** The registry: root's under /run, another user's in a directory of its own under the tmpdir. */
export function registry(): string {
  const uid = process.geteuid?.() ?? 0
  return uid === 0 ? '/run/linux-clone/placeholders' : path.join(os.tmpdir(), `linux-clone-${uid}`, 'placeholders')
}

function ensureRegistry(): string {
  const dir = registry()
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  // Someone else's directory there would let them name what we delete.
  const st = fs.lstatSync(dir)
  const parent = fs.lstatSync(path.dirname(dir))
  const uid = process.geteuid?.() ?? 0
  for (const s of [st, parent])
    if (!s.isDirectory() || s.uid !== uid || (s.mode & 0o022) !== 0) {
      const e = new Error(`The placeholder registry ${dir} is not a directory that only uid ${uid} can write: placeholders are refused`)
      Object.defineProperty(e, 'code', { value: 'EPERM', enumerable: true })
      throw e
    }
  return dir
}

/** The start time of `pid` (field 22 of /proc/PID/stat), or undefined if it is gone or a zombie. */
function startOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19]
  } catch {
    return undefined
  }
}

function mntnsOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`)
  } catch {
    return undefined
  }
}

/** Whether any process is still in mount namespace `ns`. */
function nsInUse(ns: string): boolean {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    if (mntnsOf(Number(name)) === ns) return true
  }
  return false
}

function alive(r: Record): boolean {
  if (startOf(r.pid) === r.start) return true
  return r.mntns !== undefined && nsInUse(r.mntns)
}

/** Removes the placeholder if it is still ours (same inode, or empty with our mode), and its record. */
function remove(file: string, r: Record): void {
  try {
    const st = fs.lstatSync(r.path)
    const ours =
      r.ino !== undefined
        ? st.ino === r.ino && st.dev === r.dev
        : (st.mode & 0o7777) === (r.dir ? DIR_MODE : FILE_MODE) && (r.dir ? st.isDirectory() : st.isFile() && st.size === 0)
    if (ours) {
      if (r.dir) fs.rmdirSync(r.path)
      else if (st.size === 0) fs.unlinkSync(r.path)
    }
  } catch {
    // Gone already, or not empty any more (then it is not ours to delete).
  }
  fs.rmSync(file, { force: true })
}

/** Removes every placeholder whose sandbox has ended, whoever made it. */
export function sweep(): void {
  const dir = registry()
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    const file = path.join(dir, name)
    let r: Record
    try {
      r = JSON.parse(fs.readFileSync(file, 'utf8')) as Record
    } catch {
      continue
    }
    if (!alive(r)) remove(file, r)
  }
}

let counter = 0

/** The placeholders of one spawn, from their creation to their removal. */
export class Placeholders {
  readonly #records: [string, Record][] = []

  /** Makes each missing one, writing it down first. */
  constructor(needs: readonly PlaceholderNeed[]) {
    if (needs.length === 0) return
    const dir = ensureRegistry()
    const start = startOf(process.pid) ?? ''
    try {
      for (const need of needs) {
        if (fs.existsSync(need.path)) continue
        const file = path.join(dir, `${process.pid}-${start}-${counter++}.json`)
        const r: Record = { path: need.path, dir: need.dir, pid: process.pid, start }
        fs.writeFileSync(file, JSON.stringify(r), { mode: 0o600 })
        this.#records.push([file, r])
        if (need.dir) fs.mkdirSync(need.path, { mode: DIR_MODE })
        else fs.closeSync(fs.openSync(need.path, 'wx', FILE_MODE))
        fs.chmodSync(need.path, need.dir ? DIR_MODE : FILE_MODE)
        const st = fs.lstatSync(need.path)
        r.dev = st.dev
        r.ino = st.ino
        fs.writeFileSync(file, JSON.stringify(r))
      }
    } catch (e) {
      this.release()
      throw e
    }
  }

  /** The child is started: its end (and its mount namespace's) decides from now on. */
  owned(pid: number): void {
    if (this.#records.length === 0) return
    const start = startOf(pid)
    const mntns = mntnsOf(pid)
    for (const [file, r] of this.#records) {
      if (start !== undefined) {
        r.pid = pid
        r.start = start
      }
      if (mntns !== undefined) r.mntns = mntns
      fs.writeFileSync(file, JSON.stringify(r))
    }
  }

  /** After the exit: removes what no process can see any more (the rest at a later sweep). */
  release(): void {
    for (const [file, r] of this.#records.splice(0)) {
      if (r.pid !== process.pid && startOf(r.pid) === r.start) continue
      if (r.mntns !== undefined && nsInUse(r.mntns)) continue
      remove(file, r)
    }
  }
}

/**
 * Where each `placeholder: true` entry's target lies on this host, for the targets that need
 * one: the last earlier mount above the target decides (a bind: below its source; none: the
 * host's root or the rootfs directory); targets on a mount of the spawn's own need none.
 */
export function placeholderNeeds(slots: readonly native.MountSlot[], wanted: readonly number[], rootfs: string | undefined): PlaceholderNeed[] {
  const needs: PlaceholderNeed[] = []
  const mountKinds = ['bind', 'tmpfs', 'proc', 'dev', 'mqueue', 'file', 'overlay']
  for (const i of wanted) {
    const slot = slots[i]!
    const target = slot.target
    let host: string | undefined
    let covered = false
    for (let j = i - 1; j >= 0; j--) {
      const m = slots[j]!
      if (!mountKinds.includes(m.kind)) continue
      if (m.target === target) {
        covered = true
        break
      }
      const above = m.target === '/' ? '/' : `${m.target}/`
      if (!target.startsWith(above)) continue
      covered = true
      if (m.kind === 'bind' && m.source !== undefined) host = path.join(m.source, target.slice(above.length))
      break
    }
    if (!covered) {
      if (rootfs === undefined) host = target
      else if (rootfs !== 'tmpfs') host = path.join(rootfs, target)
    }
    if (host === undefined) continue
    // Only where no symlink leads elsewhere: a writable workspace may hold links a sandboxed
    // program left there, and a placeholder must not appear in a directory they point to.
    try {
      if (fs.realpathSync(path.dirname(host)) !== path.dirname(host)) continue
    } catch {
      continue
    }
    let dir = slot.kind === 'tmpfs'
    if (slot.kind === 'bind' && slot.source !== undefined) {
      try {
        dir = fs.statSync(slot.source).isDirectory()
      } catch {
        continue
      }
    }
    needs.push({ path: host, dir })
  }
  return needs
}
