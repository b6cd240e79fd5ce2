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
import { asRoot, isRoot, needs, ok, runIsolated, system } from './_helpers.js'
import { allowAll, deny, invalid } from './_bpf.js'

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

// ---- mounts: bind ----

userns('bind: always nosuid, nodev unless devices, ro with readonly; touch fails with EROFS', (t) => {
  const dir = tmp(t)
  const out = run(t, 'cat /proc/self/mountinfo; echo --; touch /ro/x 2>&1; echo written > /rw/from-child', sandbox([
    { type: 'bind', source: dir, target: '/rw' },
    { type: 'bind', source: dir, target: '/ro', readonly: true },
    { type: 'bind', source: dir, target: '/devices', devices: true },
  ]))
  const [info, touch] = sections(out)
  const m = mountinfo(info!)
  t.is(at(m, '/rw')?.options[0], 'rw')
  t.true(at(m, '/rw')!.options.includes('nosuid'))
  t.true(at(m, '/rw')!.options.includes('nodev'))
  t.is(at(m, '/ro')?.options[0], 'ro')
  t.true(at(m, '/ro')!.options.includes('nosuid'))
  t.true(at(m, '/devices')!.options.includes('nosuid'))
  t.false(at(m, '/devices')!.options.includes('nodev'))
  t.regex(touch!, /Read-only file system/)
  // The write through the read-write bind is on this host.
  t.is(fs.readFileSync(path.join(dir, 'from-child'), 'utf8'), 'written\n')
  t.false(fs.existsSync(path.join(dir, 'x')))
})

root('bind: read-only reaches every submount; recursive: false leaves them out', async (t) => {
  const dir = tmp(t)
  for (const d of ['src', 'ro', 'flat']) fs.mkdirSync(path.join(dir, d))
  const src = path.join(dir, 'src')
  // A tree of mounts at src, made in a mount namespace of the test's own before the spawn: bind
  // sources are read in the tree the spawn starts from, as bwrap reads them. No user namespace:
  // in one, the kernel refuses a non-recursive bind of a mount whose submounts it locked.
  const run = await runIsolated(`
    const src = ${JSON.stringify(src)};
    execSync(\`mount -t tmpfs src \${src} && mkdir \${src}/sub && mount -t tmpfs sub \${src}/sub && mkdir \${src}/sub/deeper && mount -t tmpfs deeper \${src}/sub/deeper\`);
    const r = lc.spawnSync('/bin/sh', ['-c', ${JSON.stringify(`cat /proc/self/mountinfo; echo --; touch ${dir}/ro/sub/deeper/x 2>&1; touch ${src}/sub/deeper/x && echo source-writable`)}], {
      encoding: 'utf8',
      mounts: [
        { type: 'bind', source: src, target: ${JSON.stringify(`${dir}/ro`)}, readonly: true },
        { type: 'bind', source: src, target: ${JSON.stringify(`${dir}/flat`)}, recursive: false },
      ],
    });
    report({ out: r.stdout, error: r.error && r.error.message, status: r.status });
  `, { prefix: ['unshare', '--mount', '--propagation', 'private'] })
  const r = ok(t, run) as { out: string; error?: string; status: number }
  t.is(r.error, undefined)
  t.is(r.status, 0)
  const [info, touch] = sections(r.out)
  const m = mountinfo(info!)
  for (const p of ['ro', 'ro/sub', 'ro/sub/deeper']) t.is(at(m, `${dir}/${p}`)?.options[0], 'ro', p)
  t.truthy(at(m, `${dir}/flat`))
  t.is(at(m, `${dir}/flat/sub`), undefined)
  t.is(at(m, `${src}/sub/deeper`)?.options[0], 'rw')
  t.regex(touch!, /Read-only file system/)
  t.regex(touch!, /source-writable/)
})

userns('bind: optional: true skips a missing source, target and all', (t) => {
  const out = run(t, 'ls -A /', sandbox([{ type: 'bind', source: '/nonexistent/lc-source', target: '/maybe', optional: true }]))
  t.false(out.split('\n').includes('maybe'))
})

// ---- mounts: tmpfs, proc, dev, mqueue, dir, symlink, file, remount ----

userns('tmpfs: size and mode, in mountinfo and stat', (t) => {
  const out = run(t, 'cat /proc/self/mountinfo; echo --; stat -c %a /t', sandbox([{ type: 'tmpfs', target: '/t', size: 1024 * 1024, mode: 0o700 }]))
  const [info, mode] = sections(out)
  const t1 = at(mountinfo(info!), '/t')
  t.is(t1?.fstype, 'tmpfs')
  t.true(t1!.super.includes('size=1024k'), t1!.super.join())
  t.true(t1!.super.includes('mode=700'))
  t.is(mode, '700\n')
})

userns('tmpfs readonly: later entries inside it are made first, then it turns read-only', (t) => {
  const out = run(t, 'ls -A /ro; cat /ro/f; echo --; cat /proc/self/mountinfo; echo --; touch /ro/new 2>&1; mkdir /ro/made/sub 2>&1; true', sandbox([
    { type: 'tmpfs', target: '/ro', readonly: true },
    { type: 'dir', target: '/ro/made' },
    { type: 'file', target: '/ro/f', data: 'content\n' },
    { type: 'symlink', target: '/ro/l', linkTo: 'made' },
  ]))
  const [list, info, writes] = sections(out)
  t.is(list, 'f\nl\nmade\ncontent\n')
  t.is(at(mountinfo(info!), '/ro')?.options[0], 'ro')
  t.is(writes!.match(/Read-only file system/g)?.length, 2, writes)
})

userns("proc with 'pid': fresh, the program is pid 1 in it; sys, irq and bus read-only", (t) => {
  const out = run(t, 'echo $$; cat /proc/1/comm; echo --; cat /proc/self/mountinfo; echo --; { echo x > /proc/sys/kernel/hostname; } 2>&1; true', sandbox([], ['uts']))
  const [ids, info, write] = sections(out)
  t.is(ids, '1\nsh\n')
  const m = mountinfo(info!)
  t.is(at(m, '/proc')?.fstype, 'proc')
  t.true(['nosuid', 'nodev', 'noexec'].every((o) => at(m, '/proc')!.options.includes(o)))
  // A procfs of its own: another superblock than this process's /proc.
  t.not(at(m, '/proc')?.device, hostProcDevice())
  for (const sub of procMounts.slice(1)) t.is(at(m, sub)?.options[0], 'ro', sub)
  t.regex(write!, /Read-only file system/)
})

userns("proc without 'pid': this pid namespace's procfs, bound", (t) => {
  const r = sh('echo $$; cat /proc/$$/comm; grep " /proc " /proc/self/mountinfo | tail -n 1', onHostTree([{ type: 'proc' }]))
  t.is(r.status, 0, r.stderr)
  const [pid, comm, line] = r.stdout.trim().split('\n')
  t.is(Number(pid), r.pid)
  t.is(comm, 'sh')
  t.is(mountinfo(line!)[0]?.device, hostProcDevice())
})

userns('dev: the usual nodes exactly, /dev/null writable, a devpts of its own', (t) => {
  const out = run(t, 'ls -A /dev; echo --; echo x > /dev/null && echo null-ok; readlink /dev/ptmx /dev/fd; stat -c %a /dev/shm; echo --; cat /proc/self/mountinfo', sandbox([{ type: 'dev' }]))
  const [list, checks, info] = sections(out)
  t.deepEqual(list!.trim().split('\n'), DEV)
  t.is(checks, 'null-ok\npts/ptmx\n/proc/self/fd\n1777\n')
  const m = mountinfo(info!)
  t.is(at(m, '/dev')?.fstype, 'tmpfs')
  t.is(at(m, '/dev/pts')?.fstype, 'devpts')
  t.true(at(m, '/dev/pts')!.super.includes('ptmxmode=666'), at(m, '/dev/pts')!.super.join())
})

userns('mqueue: a message queue filesystem in an ipc namespace', (t) => {
  const out = run(t, 'cat /proc/self/mountinfo', sandbox([{ type: 'mqueue', target: '/dev/mqueue' }], ['ipc']))
  t.is(at(mountinfo(out), '/dev/mqueue')?.fstype, 'mqueue')
})

userns('dir, symlink and file entries: modes, link text, content; a read-only file refuses writes', (t) => {
  const out = run(t, [
    'stat -c %a /d /etc/text /etc/bytes /etc/ro',
    'readlink /l',
    'cat /etc/text',
    'od -An -tx1 /etc/bytes',
    'echo more >> /etc/text && echo appended',
    '{ echo x > /etc/ro; } 2>&1; true',
  ].join('; '), sandbox([
    { type: 'dir', target: '/d', mode: 0o711 },
    { type: 'symlink', target: '/l', linkTo: '/d' },
    { type: 'file', target: '/etc/text', data: 'text\n' },
    { type: 'file', target: '/etc/bytes', data: Uint8Array.of(0, 1, 2, 255), mode: 0o600 },
    { type: 'file', target: '/etc/ro', data: 'ro', readonly: true },
  ]))
  const lines = out.split('\n')
  t.deepEqual(lines.slice(0, 4), ['711', '644', '600', '644'])
  t.is(lines[4], '/d')
  t.is(lines[5], 'text')
  t.is(lines[6]!.trim(), '00 01 02 ff')
  t.is(lines[7], 'appended')
  t.regex(lines[8]!, /Read-only file system/)
})

userns('remount: an existing mount made read-only', (t) => {
  const dir = tmp(t)
  const out = run(t, 'cat /proc/self/mountinfo; echo --; touch /w/x 2>&1; true', sandbox([
    { type: 'bind', source: dir, target: '/w' },
    { type: 'remount', target: '/w', readonly: true },
  ]))
  const [info, touch] = sections(out)
  t.is(at(mountinfo(info!), '/w')?.options[0], 'ro')
  t.regex(touch!, /Read-only file system/)
})

// ---- mounts the host made: locked submounts, propagation (an isolated mount namespace) ----

/**
 * In a mount namespace of its own, this host's side: a shared tmpfs at DIR/src with a tmpfs at
 * DIR/src/sub. Then the child's mountinfo for several spawns.
 */
function hostMounts(t: ExecutionContext) {
  const dir = tmp(t)
  return runIsolated(`
    const dir = ${JSON.stringify(dir)};
    fs.mkdirSync(dir + '/src'); fs.mkdirSync(dir + '/ro');
    execSync(\`mount -t tmpfs src \${dir}/src && mount --make-shared \${dir}/src && mkdir \${dir}/src/sub && mount -t tmpfs sub \${dir}/src/sub\`);
    const info = (o) => {
      const r = lc.spawnSync('/bin/sh', ['-c', 'cat /proc/self/mountinfo; touch ' + dir + '/ro/sub/x 2>&1; true'], { encoding: 'utf8', ...o });
      return r.error ? r.error.message : r.stdout;
    };
    report({
      host: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
      lockedRo: info({ namespaces: ['user'], uidMap: 'root', gidMap: 'root', mounts: [{ type: 'bind', source: dir + '/src', target: dir + '/ro', readonly: true }] }),
      private: info({ namespaces: ['mnt'] }),
      slave: info({ namespaces: ['mnt'], propagation: 'slave' }),
      unchanged: info({ namespaces: ['mnt'], propagation: 'unchanged' }),
    });
  `, { prefix: ['unshare', '--mount', '--propagation', 'private'] }).then((r) => ({ dir, ...(ok(t, r) as Record<'host' | 'lockedRo' | 'private' | 'slave' | 'unchanged', string>) }))
}

root("bind of the host's mounts: read-only reaches its locked submounts; propagation private, slave, unchanged", async (t) => {
  const { dir, ...r } = await hostMounts(t)
  const src = `${dir}/src`
  const tag = (text: string, p: string) => at(mountinfo(text), p)?.tags.join(' ') ?? `no mount at ${p}`
  // The host side is shared, so each mode can be told apart.
  t.regex(tag(r.host, src), /^shared:\d+$/)
  const m = mountinfo(r.lockedRo)
  t.is(at(m, `${dir}/ro`)?.options[0], 'ro')
  t.is(at(m, `${dir}/ro/sub`)?.options[0], 'ro')
  t.regex(r.lockedRo, /Read-only file system/)
  // Default 'private' in a new mount namespace: no propagation either way.
  t.is(tag(r.private, src), '')
  t.regex(tag(r.slave, src), /^master:\d+$/)
  t.is(tag(r.unchanged, src), tag(r.host, src))
})

test('propagation needs a new mount namespace; unchanged cannot build a root', (t) => {
  t.throws(() => sh('true', { propagation: 'slave' }), { code: 'ERR_INVALID_ARG_VALUE', message: /needs a new mount namespace/ })
  // The root is built on a tmpfs over /tmp: with shared mounts it would stay on this host's /tmp.
  for (const o of [{ rootfs: 'tmpfs' }, { mounts: [{ type: 'file', target: '/etc/motd', data: 'x' }] as MountEntry[] }])
    t.throws(() => sh('true', { namespaces: ['mnt'], propagation: 'unchanged', ...o }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /options\.propagation' cannot be 'unchanged' with a rootfs, file or overlay entries.*'private' or 'slave'/,
    })
  // So is a source under an earlier entry's target: it is read in the host's tree through a root.
  t.throws(() => sh('true', { namespaces: ['mnt'], propagation: 'unchanged', mounts: [{ type: 'tmpfs', target: '/srv' }, { type: 'bind', source: '/srv/x', target: '/mnt' }] }), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /options\.propagation' cannot be 'unchanged' here: an entry's source is under an earlier entry's target.*'private' or 'slave'/,
  })
})

// ---- rootfs ----

userns("rootfs 'tmpfs': / holds exactly what the entries made, nothing of the host", (t) => {
  const marker = path.join(os.tmpdir(), `lc-host-marker-${process.pid}`)
  fs.writeFileSync(marker, 'host')
  t.teardown(() => fs.rmSync(marker, { force: true }))
  const out = run(t, `ls -A /; echo --; for p in ${marker} /oldroot /newroot; do test -e $p || echo no $p; done; echo --; cat /proc/self/mountinfo`, sandbox([
    { type: 'dir', target: '/a/b' },
    { type: 'file', target: '/etc/hostname', data: 'box\n' },
  ]))
  const [list, checks, info] = sections(out)
  t.deepEqual(list!.trim().split('\n'), [...systemDirs, 'a', 'etc', 'proc'].sort())
  t.is(checks, `no ${marker}\nno /oldroot\nno /newroot\n`)
  const m = mountinfo(info!)
  t.is(at(m, '/')?.fstype, 'tmpfs')
  // Only the entries' mounts: the host's root and the build root are gone.
  t.deepEqual(
    [...new Set(m.map((x) => x.point))].sort(),
    ['/', '/etc/hostname', ...procMounts, ...system().filter((e) => e.type === 'bind').map(targetOf)].sort(),
  )
})

userns('5,000 mounts in one spawn: no argument cap, each one there, in order', (t) => {
  // Each a tmpfs with its own mode, so that the program can tell them apart.
  const many: MountEntry[] = Array.from({ length: 5000 }, (_, i) => ({ type: 'tmpfs', target: `/m/${i}`, mode: 0o700 + (i % 64) }))
  const out = run(t, 'grep -c " /m/" /proc/self/mountinfo; stat -c %a /m/0 /m/4999; grep " /m/4999 " /proc/self/mountinfo | cut -d" " -f5', sandbox(many))
  t.deepEqual(out.trim().split('\n'), ['5000', '700', (0o700 + (4999 % 64)).toString(8), '/m/4999'])
})

root("propagation in a chroot: refused with the reason ('/' is no mount point); 'unchanged' where the mounts around are private", (t) => {
  // A chroot holding /usr (node is there), /proc and this package, inside a private mount
  // namespace, as scripts/runtimes.sh makes its roots.
  const dir = tmp(t)
  for (const d of ['usr', 'proc', 'tmp', 'pkg', 'runtime']) fs.mkdirSync(path.join(dir, d))
  for (const d of ['bin', 'lib', 'lib64', 'sbin']) if (fs.existsSync(`/usr/${d}`)) fs.symlinkSync(`usr/${d}`, path.join(dir, d))
  // The runtime running this test, wherever it lives, at /runtime.
  const runtime = fs.realpathSync(process.execPath)
  const script = `
    const lc = require('/pkg/dist/index.js');
    const o = { namespaces: ['mnt'], mounts: [{ type: 'tmpfs', target: '/tmp' }], encoding: 'utf8' };
    const refused = lc.spawnSync('/bin/sh', ['-c', 'true'], o).error;
    const told = lc.spawnSync('/bin/sh', ['-c', 'grep -c " /tmp " /proc/self/mountinfo'], { ...o, propagation: 'unchanged' });
    console.log(JSON.stringify({ refused: refused && { code: refused.code, step: refused.step, syscall: refused.syscall, message: refused.message }, told: told.stdout.trim(), error: told.error && told.error.message }));
  `
  const out = execFileSync('unshare', ['--mount', '--propagation', 'private', '--fork', 'sh', '-c',
    'mount --bind /usr "$0/usr" && mount -t proc proc "$0/proc" && mount --bind "$1" "$0/pkg" && mount --bind "$(dirname "$2")" "$0/runtime" && exec chroot "$0" "/runtime/$(basename "$2")" -e "$3"',
    dir, path.resolve('.'), runtime, script], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined } })
  const r = JSON.parse(out.trim()) as { refused?: { code: string; step: string; syscall: string; message: string }; told: string; error?: string }
  t.like(r.refused, { code: 'EINVAL', step: 'propagation', syscall: 'mount' })
  t.regex(r.refused?.message ?? '', /root is not a mount point \(a chroot\).*propagation: 'unchanged'/)
  t.is(r.error, undefined)
  t.is(r.told, '1')
})

/** DIR/root, a root for the system() entries, with the directories and links they need. */
function hostRoot(dir: string): string {
  const rootDir = path.join(dir, 'root')
  fs.mkdirSync(rootDir)
  fs.mkdirSync(path.join(rootDir, 'tmp'))
  fs.writeFileSync(path.join(rootDir, 'marker'), 'in the root\n')
  // Targets in a root of the host's must exist already: nothing is created there.
  for (const e of system()) {
    if (e.type === 'symlink') fs.symlinkSync(e.linkTo, path.join(rootDir, targetOf(e)))
    else fs.mkdirSync(path.join(rootDir, targetOf(e)))
  }
  return rootDir
}

userns('rootfs directory: a host directory becomes /, with /usr bound into it', (t) => {
  const rootDir = hostRoot(tmp(t))
  const out = run(t, 'cat /marker; ls -A /; touch /from-child; test -e /oldroot || echo no-oldroot', { ...asUserRoot, namespaces: ['user'], rootfs: rootDir, mounts: system() })
  t.is(out, ['in the root', ...[...systemDirs, 'marker', 'tmp'].sort(), 'no-oldroot', ''].join('\n'))
  t.true(fs.existsSync(path.join(rootDir, 'from-child')))
})

userns('cwd: the same path in the new tree if it is there, else /; an explicit one missing there fails at chdir', (t) => {
  const here = process.cwd()
  t.is(run(t, 'pwd', sandbox([{ type: 'dir', target: here }])), `${here}\n`)
  t.is(run(t, 'pwd', sandbox()), '/\n')
  t.is(run(t, 'pwd', sandbox([], [], { cwd: '/usr' })), '/usr\n')
  stepError(t, failure(t, sandbox([], [], { cwd: here })), {
    code: 'ENOENT',
    step: 'chdir',
    syscall: 'chdir',
    path: here,
    cause: /does not exist/,
  })
})

// ---- nothing is created on the host ----

userns('targets are made only on mounts of the spawn, never on the host', (t) => {
  const dir = tmp(t)
  fs.mkdirSync(path.join(dir, 'existing'))
  const rootDir = hostRoot(dir)
  const before = listing(dir)
  // Missing targets below directories of the host: refused, each for its entry.
  const refused: [SpawnOptions, number, string][] = [
    [onHostTree([{ type: 'bind', source: '/usr', target: `${dir}/missing/deeper` }]), 0, `${dir}/missing/deeper`],
    [onHostTree([{ type: 'tmpfs', target: `${dir}/existing` }, { type: 'dir', target: `${dir}/existing/ok` }, { type: 'dir', target: `${dir}/new` }]), 2, `${dir}/new`],
    [onHostTree([{ type: 'tmpfs', target: `${dir}/t` }]), 0, `${dir}/t`],
    [onHostTree([{ type: 'symlink', target: `${dir}/link`, linkTo: '/usr' }]), 0, `${dir}/link`],
    [onHostTree([{ type: 'file', target: `${dir}/file`, data: 'x' }]), 0, `${dir}/file`],
    [{ ...asUserRoot, namespaces: ['user'], rootfs: rootDir, mounts: [...system(), { type: 'dir', target: '/opt/x' }] }, system().length, '/opt/x'],
  ]
  for (const [options, index, target] of refused) {
    stepError(t, failure(t, options), {
      code: 'ENOENT',
      step: 'mount',
      syscall: 'mkdir',
      index,
      path: target,
      cause: new RegExp(`${target} does not exist, and creating it would leave it on the host's filesystem`),
    })
  }
  // Below a tmpfs of the spawn, or in an empty root: made.
  const deep = (base: string): MountEntry[] => [
    { type: 'dir', target: `${base}/a/b/c` },
    { type: 'file', target: `${base}/a/f/g`, data: 'x' },
    { type: 'symlink', target: `${base}/a/l/m`, linkTo: 'x' },
    { type: 'bind', source: '/usr', target: `${base}/a/u/v` },
  ]
  const show = (base: string) => `ls -d ${base}/a/b/c ${base}/a/f/g ${base}/a/l/m ${base}/a/u/v/bin`
  run(t, show(`${dir}/existing`), onHostTree([{ type: 'tmpfs', target: `${dir}/existing` }, ...deep(`${dir}/existing`)]))
  run(t, show(''), sandbox(deep('')))
  run(t, show('/tmp'), { ...asUserRoot, namespaces: ['user'], rootfs: rootDir, mounts: [...system(), { type: 'tmpfs', target: '/tmp' }, ...deep('/tmp')] })
  t.deepEqual(listing(dir), before)
  // Nor where the root is built (a tmpfs over /tmp), nor at the host's /.
  for (const p of ['/tmp/newroot', '/tmp/oldroot', '/a']) t.false(fs.existsSync(p), p)
})

// ---- capabilities ----

const NONE = { CapInh: 0n, CapPrm: 0n, CapEff: 0n, CapBnd: 0n, CapAmb: 0n }

root('capabilities {}: none at all, for root without a user namespace', (t) => {
  t.deepEqual(capSets(run(t, STATUS, { capabilities: {} })), NONE)
})

userns('capabilities {}: none at all, in a user namespace', (t) => {
  t.deepEqual(capSets(run(t, STATUS, { ...asUserRoot, namespaces: ['user'], capabilities: {} })), NONE)
})

userns('capabilities keep a list: permitted, effective, inheritable and bounding are that list', (t) => {
  const keep: CapName[] = ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']
  const m = mask(...keep)
  t.deepEqual(capSets(run(t, STATUS, { ...asUserRoot, namespaces: ['user'], capabilities: { keep } })), { CapInh: m, CapPrm: m, CapEff: m, CapBnd: m, CapAmb: 0n })
})

userns("capabilities keep 'all': everything the child has, inheritable too", (t) => {
  // Root of a new user namespace has every capability of this kernel.
  t.deepEqual(capSets(run(t, STATUS, { ...asUserRoot, namespaces: ['user'], capabilities: { keep: 'all' } })), {
    CapInh: allCaps,
    CapPrm: allCaps,
    CapEff: allCaps,
    CapBnd: allCaps,
    CapAmb: 0n,
  })
})

root("capabilities keep 'all' without a user namespace: what this process has", (t) => {
  const own = capSets(fs.readFileSync('/proc/self/status', 'utf8'))
  t.deepEqual(capSets(run(t, STATUS, { capabilities: { keep: 'all' } })), { CapInh: own.CapPrm, CapPrm: own.CapPrm, CapEff: own.CapEff, CapBnd: own.CapBnd, CapAmb: 0n })
})

userns('capabilities bounding apart from keep: a uid 0 program gets its bounding set at execve', (t) => {
  const caps = capSets(run(t, STATUS, { ...asUserRoot, namespaces: ['user'], capabilities: { keep: ['CAP_CHOWN'], bounding: ['CAP_CHOWN', 'CAP_KILL'] } }))
  t.is(caps.CapBnd, mask('CAP_CHOWN', 'CAP_KILL'))
  t.is(caps.CapInh, mask('CAP_CHOWN'))
  // execve gives uid 0 everything in its bounding set: why 'bounding' defaults to 'keep'.
  t.is(caps.CapEff, mask('CAP_CHOWN', 'CAP_KILL'))
})

userns('capabilities keep wider than bounding: the inheritable set stays inside bounding, and uid 0 ends with bounding', (t) => {
  for (const [capabilities, want] of [
    [{ keep: 'all', bounding: [] }, 0n],
    [{ keep: ['CAP_NET_ADMIN', 'CAP_CHOWN'], bounding: ['CAP_CHOWN'] }, mask('CAP_CHOWN')],
  ] as const) {
    const caps = capSets(run(t, STATUS, { ...asUserRoot, namespaces: ['user'], capabilities }))
    t.deepEqual(caps, { CapInh: want, CapPrm: want, CapEff: want, CapBnd: want, CapAmb: 0n }, JSON.stringify(capabilities))
  }
  const e = t.throws(() => sh('true', { namespaces: ['user'], capabilities: { keep: ['CAP_CHOWN', 'CAP_KILL'], ambient: ['CAP_KILL'], bounding: ['CAP_CHOWN'] } }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.regex(e?.message ?? '', /ambient' must only name capabilities in capabilities\.bounding .*Received 'CAP_KILL'/)
})

needs('python3', root)('capabilities ambient: a program that is not uid 0 keeps them and can use them', (t) => {
  const script = `python3 -c "import socket; socket.socket().bind(('127.0.0.1', 80)); print('bound')" 2>&1 | tail -n 1; ${STATUS}`
  const options: SpawnOptions = { namespaces: ['net'], uid: 4242, gid: 4242 }
  const nbs: CapName[] = ['CAP_NET_BIND_SERVICE']
  const [bound, ...status] = run(t, script, { ...options, capabilities: { keep: nbs, ambient: nbs } }).split('\n')
  t.is(bound, 'bound')
  t.like(capSets(status.join('\n')), { CapEff: mask(...nbs), CapPrm: mask(...nbs), CapAmb: mask(...nbs) })
  // Kept but not ambient: execve as uid 4242 leaves nothing of it.
  const [refused, ...without] = run(t, script, { ...options, capabilities: { keep: nbs } }).split('\n')
  t.regex(refused!, /PermissionError/)
  t.like(capSets(without.join('\n')), { CapEff: 0n, CapInh: mask(...nbs), CapAmb: 0n })
})

// ---- no_new_privs and seccomp ----

const { EPERM } = os.constants.errno

userns('noNewPrivs: NoNewPrivs 1 in status', (t) => {
  t.is(statusField(run(t, STATUS, { ...asUserRoot, namespaces: ['user'], noNewPrivs: true }), 'NoNewPrivs'), '1')
  t.is(statusField(run(t, STATUS, { ...asUserRoot, namespaces: ['user'] }), 'NoNewPrivs'), '0')
})

userns('seccomp: the filter makes mkdir fail with EPERM while the rest works', (t) => {
  const out = run(t, `cd /tmp && touch f && echo touched; mkdir d 2>&1; ls; ${STATUS}`, sandbox([{ type: 'tmpfs', target: '/tmp' }], [], { seccomp: deny(['mkdir', 'mkdirat'], EPERM) }))
  const [touched, mkdir, list] = out.split('\n')
  t.is(touched, 'touched')
  t.regex(mkdir!, /Operation not permitted/)
  t.is(list, 'f')
  t.is(statusField(out, 'Seccomp'), '2')
})

userns('seccomp from an fd: a number, { fd } or a FileHandle holding the program', async (t) => {
  const dir = tmp(t)
  const file = path.join(dir, 'filter.bpf')
  fs.writeFileSync(file, deny(['mkdir', 'mkdirat'], EPERM))
  const fd = fs.openSync(file, 'r')
  const fd2 = fs.openSync(file, 'r')
  const handle = await fs.promises.open(file, 'r')
  t.teardown(async () => {
    fs.closeSync(fd)
    fs.closeSync(fd2)
    await handle.close()
  })
  // Just written, its position at the end: still read from the start.
  const written = fs.openSync(path.join(dir, 'written.bpf'), 'w+')
  fs.writeSync(written, deny(['mkdir', 'mkdirat'], EPERM))
  t.teardown(() => fs.closeSync(written))
  for (const seccomp of [fd, { fd: fd2 }, handle, written]) {
    const r = sh('mkdir d 2>&1; test -d d || echo absent', { ...asUserRoot, namespaces: ['user'], cwd: dir, seccomp })
    t.regex(r.stdout, /Operation not permitted\nabsent\n$/)
  }
})

root('seccomp: no_new_privs is left alone for a child with CAP_SYS_ADMIN', (t) => {
  const status = run(t, STATUS, { seccomp: allowAll() })
  t.is(statusField(status, 'Seccomp'), '2')
  t.is(statusField(status, 'NoNewPrivs'), '0')
})

// ---- rlimits ----

userns('rlimits: soft and hard as ulimit and /proc/self/limits show them; an omitted hard stays', (t) => {
  const stackHard = ownLimit('Max stack size', 'hard')
  // A soft limit raised to 'unlimited' needs an unlimited hard one here (the usual default).
  if (stackHard !== 'unlimited') t.log(`stack: hard limit ${stackHard} here, 'unlimited' not checked`)
  const out = run(t, 'ulimit -n; ulimit -Hn; ulimit -c; ulimit -Hc; ulimit -v; ulimit -s; grep -E "^Max (processes|file size)" /proc/self/limits', {
    ...asUserRoot,
    namespaces: ['user'],
    rlimits: {
      nofile: { soft: 64, hard: 128 },
      core: { soft: 0, hard: 0 },
      nproc: { soft: 500 },
      as: { soft: 2 ** 30, hard: 2 ** 31 },
      fsize: { soft: 2 ** 20 },
      ...(stackHard === 'unlimited' ? { stack: { soft: 'unlimited' } as const } : {}),
    },
  })
  const [nofile, nofileHard, core, coreHard, as, stack, ...limits] = out.trim().split('\n')
  // ulimit -v counts KiB.
  t.deepEqual([nofile, nofileHard, core, coreHard, as], ['64', '128', '0', '0', String(2 ** 20)])
  if (stackHard === 'unlimited') t.is(stack, 'unlimited')
  const limit = (name: string) => limits.find((l) => l.startsWith(name))?.slice(26).trim().split(/\s+/).slice(0, 2)
  t.deepEqual(limit('Max processes'), ['500', ownLimit('Max processes', 'hard')])
  t.deepEqual(limit('Max file size'), [String(2 ** 20), ownLimit('Max file size', 'hard')])
})

userns('rlimits: a write past fsize ends the writer with SIGXFSZ', (t) => {
  const out = run(t, 'yes | head -c 4096 > /tmp/f; echo $?; stat -c %s /tmp/f', sandbox([{ type: 'tmpfs', target: '/tmp' }], [], { rlimits: { fsize: { soft: 1024, hard: 1024 } } }))
  t.is(out, `${128 + os.constants.signals.SIGXFSZ}\n1024\n`)
})

// ---- umask ----

userns("umask: the shell reports it, and new files get the mode it leaves", (t) => {
  t.is(run(t, 'umask; cd /tmp && touch f && mkdir d && stat -c %a f d', sandbox([{ type: 'tmpfs', target: '/tmp' }], [], { umask: 0o027 })), '0027\n640\n750\n')
})

// ---- the pid 1 reaper ----

const reaper = (options: SpawnOptions = {}): SpawnOptions => ({ ...asUserRoot, namespaces: ['user', 'pid'], mounts: [{ type: 'proc' }], pidns: { init: 'reaper' }, ...options })
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))
const LOOP = ['-c', 'trap "" INT; echo ready; while :; do sleep 0.05; done']

/** Resolves once the program printed its first line; `output` settles with all of it. */
function started(p: ReturnType<typeof spawn>): Promise<{ output: Promise<string> }> {
  let out = ''
  p.stdout!.setEncoding('utf8')
  const output = new Promise<string>((resolve) => p.stdout!.on('end', () => resolve(out)))
  return new Promise((resolve, reject) => {
    p.once('error', reject)
    p.stdout!.on('data', (d: string) => {
      out += d
      if (out.includes('\n')) resolve({ output })
    })
  })
}

userns('reaper: pid 1 is the init, the program is pid 2', (t) => {
  // Field 2 after the command name: the parent's pid.
  t.is(run(t, 'echo $$; sed "s/.*) //" /proc/1/stat | cut -d" " -f2; sed "s/.*) //" /proc/2/stat | cut -d" " -f2', reaper()), '2\n0\n1\n')
})

userns('reaper: the exit status follows the program; SIGTERM reaches it', async (t) => {
  t.is(sh('exit 7', reaper()).status, 7)
  const trapped = spawn('/bin/sh', ['-c', 'trap "echo got TERM; exit 5" TERM; echo ready; while :; do sleep 0.05; done'], reaper())
  const { output } = await started(trapped)
  trapped.kill('SIGTERM')
  t.like(await trapped.exited, { exitCode: 5, signal: null })
  t.is(await output, 'ready\ngot TERM\n')
  // Killed by the signal: pid 1 cannot die of it, so it exits with 128 + the signal.
  const sleeper = spawn('sleep', ['30'], reaper())
  await new Promise((resolve) => sleeper.once('spawn', resolve))
  sleeper.kill('SIGTERM')
  t.like(await sleeper.exited, { exitCode: 128 + os.constants.signals.SIGTERM, signal: null })
})

userns('reaper: orphans are reaped', (t) => {
  const out = run(t, [
    // The subshell exits at once: its sleep is an orphan, handed to pid 1.
    'kid=$(sleep 0.2 >/dev/null 2>&1 & echo $!)',
    'sed "s/.*) //" /proc/$kid/stat | cut -d" " -f2',
    'i=0; while [ -e /proc/$kid ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i+1)); done',
    '[ -e /proc/$kid ] && grep State /proc/$kid/status || echo reaped',
  ].join('; '), reaper())
  t.is(out, '1\nreaped\n')
})

userns('reaper: without one, a program as pid 1 ignores SIGTERM; with one, SIGTERM ends it', async (t) => {
  const bare = spawn('/bin/sh', LOOP, { ...asUserRoot, namespaces: ['user', 'pid'] })
  const reaped = spawn('/bin/sh', LOOP, reaper())
  await Promise.all([started(bare), started(reaped)])
  bare.kill('SIGTERM')
  reaped.kill('SIGTERM')
  t.like(await reaped.exited, { exitCode: 143 })
  await delay(200)
  t.is(bare.exitCode, null)
  t.is(bare.signalCode, null)
  bare.kill('SIGKILL')
  t.like(await bare.exited, { signal: 'SIGKILL' })
})

userns('reaper: once the program has run a while, pid 1 holds a few mappings, not a copy of this process', (t) => {
  // /proc/1/status, not maps: a runtime that makes itself non-dumpable (the init is its copy)
  // hides pid 1's maps from the program.
  const kb = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1])
  const own = kb(fs.readFileSync('/proc/self/status', 'utf8'), 'VmSize')
  const out = run(t, 'sleep 0.3; cat /proc/1/status', {
    ...asUserRoot,
    namespaces: ['user', 'pid', 'mnt'],
    mounts: [{ type: 'proc' }],
    pidns: { init: 'reaper' },
  })
  t.true(kb(out, 'VmSize') < 16 * 1024 && own > 64 * 1024, `pid 1: VmSize ${kb(out, 'VmSize')} kB; this process ${own} kB`)
  t.true(kb(out, 'VmRSS') < 4096, `pid 1: VmRSS ${kb(out, 'VmRSS')} kB`)
  t.regex(out, /^Name:\s+init$/m)
})

userns("reaper: each reaper's stack is released; 200 in a row leave VmSize where it was", async (t) => {
  const result = ok(t, await runIsolated(`
    const vm = () => Number(/VmSize:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
    const o = { namespaces: ['user', 'pid'], uidMap: 'root', gidMap: 'root', pidns: { init: 'reaper' } };
    const once = async (i) => {
      if (i % 2) return lc.spawnSync('/bin/true', [], o).status;
      const p = lc.spawn('/bin/true', [], o);
      return (await p.exited).exitCode;
    };
    for (let i = 0; i < 10; i++) await once(i);
    const before = vm();
    let failed = 0;
    for (let i = 0; i < 200; i++) if ((await once(i)) !== 0) failed++;
    report({ grown: vm() - before, failed });
  `)) as { grown: number; failed: number }
  t.is(result.failed, 0)
  // Kept, the reaper's and the program's stacks would be 128 KiB a spawn: 25 MiB for 200. The
  // heap grows by about 3 MiB meanwhile.
  t.true(result.grown < (200 * 128) / 2, `VmSize grew by ${result.grown} KiB`)
})

// ---- each confinement step's failure ----

/** Index of the first entry after sandbox()'s own (the system's and /proc). */
const FIRST = system().length + 1

root("'propagation': EPERM without CAP_SYS_ADMIN over the mount namespace's owner", async (t) => {
  // A user namespace joined after the clone made the mount namespace: no privilege over it.
  const holder = spawn('sleep', ['30'], { namespaces: ['user'] })
  t.teardown(() => holder.kill('SIGKILL'))
  await new Promise((resolve) => holder.once('spawn', resolve))
  stepError(t, failure(t, { namespaces: ['mnt'], join: { user: `/proc/${holder.pid}/ns/user` } }), {
    code: 'EPERM',
    step: 'propagation',
    syscall: 'mount',
    cause: /MS_REC\|MS_PRIVATE.*CAP_SYS_ADMIN over the user namespace that owns the child's mount namespace/,
  })
})

userns("'mount': a missing bind source fails at statx, for its entry, in spawn() too", async (t) => {
  const options = sandbox([{ type: 'tmpfs', target: '/ok' }, { type: 'bind', source: '/nonexistent/lc-src', target: '/x' }])
  const want = { code: 'ENOENT', step: 'mount', syscall: 'statx', index: FIRST + 1, path: '/x', cause: /the bind source \/nonexistent\/lc-src does not exist \(optional: true skips a missing source\)/ } as const
  stepError(t, failure(t, options), want)
  const p = spawn('/bin/sh', ['-c', 'exit 0'], options)
  const [err] = (await once(p, 'error')) as [SpawnError]
  t.true(err instanceof SpawnError)
  stepError(t, err, want)
  t.is(p.pid, undefined)
  await t.throwsAsync(p.exited, { instanceOf: SpawnError })
})

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
  stepError(t, failure(t, { namespaces: ['user'], uidMap: 'root', rootfs: 'tmpfs', mounts: [] }), { code: 'EOVERFLOW', step: 'rootfs', syscall: 'mkdir', cause }) // no path: 'tmpfs' is none
  stepError(t, failure(t, { namespaces: ['user'], uidMap: 'root', mounts: [{ type: 'tmpfs', target: dir }, { type: 'dir', target: `${dir}/d` }] }), {
    code: 'EOVERFLOW',
    step: 'mount',
    syscall: 'mkdir',
    index: 1,
    path: `${dir}/d`,
    cause,
  })
})

userns("'rootfs': a missing directory", (t) => {
  const missing = path.join(tmp(t), 'missing')
  stepError(t, failure(t, { ...asUserRoot, namespaces: ['user'], rootfs: missing, mounts: [] }), {
    code: 'ENOENT',
    step: 'rootfs',
    syscall: 'mount',
    path: missing,
    cause: new RegExp(`the rootfs directory ${missing} does not exist`),
  })
})

userns("'rlimit': raising a hard limit without CAP_SYS_RESOURCE, for its entry", (t) => {
  const hard = Number(ownLimit('Max open files', 'hard'))
  stepError(t, failure(t, { ...asUserRoot, namespaces: ['user'], rlimits: { core: { soft: 0 }, nofile: { soft: 64, hard: hard + 1 } } }), {
    code: 'EPERM',
    step: 'rlimit',
    syscall: 'prlimit64',
    index: 1,
    cause: /prlimit64\(nofile, \{ soft: 64, hard: \d+ \}\).*raising the hard limit of nofile needs CAP_SYS_RESOURCE/,
  })
})

userns("'seccomp': a program the kernel refuses", (t) => {
  stepError(t, failure(t, { ...asUserRoot, namespaces: ['user'], seccomp: invalid() }), {
    code: 'EINVAL',
    step: 'seccomp',
    syscall: 'seccomp',
    cause: /seccomp\(SECCOMP_SET_MODE_FILTER, 1 instructions\).*verifier refused the program/,
  })
})

// 'no_new_privs': prctl(PR_SET_NO_NEW_PRIVS, 1) fails only for malformed arguments, which the
// child never passes, so the step cannot be made to fail. 'umask': umask(2) cannot fail.
// 'capabilities' and 'reaper' need an unprivileged caller: see the tests as lc-test below.

// ---- hostile values ----

test('hostile values: refused synchronously with Node-style errors, and nothing starts', async (t) => {
  const marker = path.join(tmp(t), 'started')
  const T = 'ERR_INVALID_ARG_TYPE'
  const V = 'ERR_INVALID_ARG_VALUE'
  const R = 'ERR_OUT_OF_RANGE'
  const cases: [unknown, string, RegExp][] = [
    [{ mounts: '/usr' }, T, /"options\.mounts" property must be an array of mount entries/],
    [{ mounts: [null] }, T, /"options\.mounts\[0\]" property must be an object/],
    [{ mounts: [{ type: 'unionfs', target: '/x' }] }, V, /'options\.mounts\[0\]\.type' must be one of bind, tmpfs/],
    [{ mounts: [{ type: 'tmpfs', target: 'tmp' }] }, V, /'options\.mounts\[0\]\.target' must be an absolute path/],
    [{ mounts: [{ type: 'tmpfs' }] }, T, /"options\.mounts\[0\]\.target" property must be of type string/],
    [{ mounts: [{ type: 'tmpfs', target: '/a\0b' }] }, V, /'options\.mounts\[0\]\.target' must be a string without null bytes/],
    [{ mounts: [{ type: 'bind', source: '/us\0r', target: '/usr' }] }, V, /'options\.mounts\[0\]\.source' must be a string without null bytes/],
    [{ mounts: [{ type: 'symlink', target: '/l', linkTo: 'a\0' }] }, V, /'options\.mounts\[0\]\.linkTo' must be a string without null bytes/],
    [{ mounts: [{ type: 'symlink', target: '/l', linkTo: '' }] }, V, /linkTo' must not be empty/],
    [{ mounts: [{ type: 'tmpfs', target: '/t', size: 0 }] }, R, /"options\.mounts\[0\]\.size" is out of range/],
    [{ mounts: [{ type: 'tmpfs', target: '/t', size: 1.5 }] }, R, /"options\.mounts\[0\]\.size" is out of range. It must be an integer/],
    [{ mounts: [{ type: 'tmpfs', target: '/t', size: '1M' }] }, T, /"options\.mounts\[0\]\.size" property must be of type number/],
    [{ mounts: [{ type: 'tmpfs', target: '/t', mode: 0o10000 }] }, R, /"options\.mounts\[0\]\.mode" is out of range. It must be >= 0 && <= 4095/],
    [{ mounts: [{ type: 'dir', target: '/d', mode: -1 }] }, R, /"options\.mounts\[0\]\.mode" is out of range/],
    [{ mounts: [{ type: 'file', target: '/f', data: 42 }] }, T, /"options\.mounts\[0\]\.data" property must be a string or a Uint8Array/],
    [{ mounts: [{ type: 'remount', target: '/usr', readonly: false }] }, V, /'options\.mounts\[0\]\.readonly' must be true/],
    [{ mounts: [{ type: 'bind', source: '/usr', target: '/usr', readonly: 'yes' }] }, T, /"options\.mounts\[0\]\.readonly" property must be of type boolean/],
    [{ mounts: [], join: { mnt: '/proc/self/ns/mnt' } }, V, /'options\.mounts' needs a new mount namespace/],
    [{ rootfs: '/r\0' }, V, /'options\.rootfs' must be a string without null bytes/],
    [{ rootfs: 42 }, T, /"options\.rootfs" property must be of type string/],
    [{ namespaces: ['mnt'], propagation: 'shared' }, V, /'options\.propagation' must be 'private', 'slave' or 'unchanged'/],
    [{ propagation: 'private' }, V, /'options\.propagation' needs a new mount namespace/],
    [{ capabilities: null }, T, /"options\.capabilities" property must be of type object/],
    [{ capabilities: { keep: ['CAP_FLY'] } }, V, /'options\.capabilities\.keep\[0\]' must be a capability name/],
    [{ capabilities: { keep: 'some' } }, T, /"options\.capabilities\.keep" property must be an array of capability names/],
    [{ capabilities: { keep: ['CAP_CHOWN'], ambient: ['CAP_KILL'] } }, V, /'options\.capabilities\.ambient' must only name capabilities in capabilities\.keep.*Received 'CAP_KILL'/],
    [{ capabilities: { bounding: ['cap_chown'] } }, V, /'options\.capabilities\.bounding\[0\]' must be a capability name/],
    [{ noNewPrivs: 1 }, T, /"options\.noNewPrivs" property must be of type boolean/],
    [{ seccomp: Buffer.alloc(12) }, V, /'options\.seccomp' must be a whole number of 8-byte sock_filter instructions. Received '12 bytes'/],
    [{ seccomp: new Uint8Array(0) }, V, /whole number of 8-byte sock_filter instructions/],
    [{ seccomp: Buffer.alloc(8 * 4097) }, V, /at most 4096 instructions/],
    [{ seccomp: 'allow' }, T, /"options\.seccomp" property must be a Uint8Array or an fd/],
    [{ rlimits: { files: { soft: 1 } } }, V, /'options\.rlimits\.files' is not a resource/],
    [{ rlimits: { nofile: 64 } }, T, /"options\.rlimits\.nofile" property must be an object/],
    [{ rlimits: { nofile: { soft: 128, hard: 64 } } }, R, /"options\.rlimits\.nofile\.soft" is out of range. It must be <= the hard limit \(64\)/],
    [{ rlimits: { core: { soft: 'unlimited', hard: 0 } } }, R, /"options\.rlimits\.core\.soft" is out of range/],
    [{ rlimits: { core: { soft: -1 } } }, R, /"options\.rlimits\.core\.soft" is out of range/],
    [{ rlimits: { nofile: { soft: 2 } } }, R, /"options\.rlimits\.nofile\.soft" is out of range. It must be >= 3 \(the program's fds 0-2 from stdio\)/],
    [{ rlimits: { nofile: { soft: 4 } }, stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'] }, R, /It must be >= 5/],
    [{ umask: 0o1000 }, R, /"options\.umask" is out of range/],
    [{ umask: '022' }, T, /"options\.umask" property must be of type number/],
    [{ pidns: { init: 'reaper' } }, V, /'options\.pidns\.init' needs a new pid namespace/],
    [{ namespaces: ['pid'], pidns: { init: 'tini' } }, V, /'options\.pidns\.init' must be 'program' or 'reaper'/],
  ]
  for (const [options, code, message] of cases) {
    const instanceOf = code === R ? RangeError : TypeError
    for (const start of [spawn, spawnSync] as const) {
      t.throws(() => start('/bin/sh', ['-c', `touch ${marker}`], options as SpawnOptions), { code, message, instanceOf }, JSON.stringify(options))
    }
  }
  await delay(100)
  t.false(fs.existsSync(marker))
})

// ---- as the unprivileged user lc-test (uid 4242): the failures only it meets, and a whole sandbox ----

const lcTestBlocker = !isRoot ? `switching to lc-test needs root, and this is uid ${process.getuid?.()}` : support.userNamespaces.ok ? undefined : support.userNamespaces.cause
const asLcTest: typeof test = lcTestBlocker === undefined
  ? test
  : (console.log(`skipping the tests as lc-test: ${lcTestBlocker}`), test.skip as typeof test)

interface Outcome {
  status: number | null
  stdout: string
  stderr: string
  error?: ErrorShape
}

const E2E_SCRIPT = [
  'id -u; id -g; hostname; echo $$',
  'echo --; cat /proc/self/status',
  'echo --; ls -A /',
  'echo --; ls -A /dev',
  'echo --; cat /proc/self/mountinfo',
  'echo --; grep -c : /proc/net/dev',
  'echo --; echo hi > out && echo wrote; mkdir made 2>&1; touch /usr/x 2>&1; touch /tmp/ok && echo tmp-ok',
].join('\n')

let lcTest: Promise<{ workspace: string; outcomes: Record<string, Outcome> }> | undefined
let lcTestWorkspace: string | undefined
test.after.always(() => lcTestWorkspace && fs.rmSync(lcTestWorkspace, { recursive: true, force: true }))

/** One process as lc-test runs every spawn below, once for all the tests that read them. */
function asUser4242(): Promise<{ workspace: string; outcomes: Record<string, Outcome> }> {
  lcTest ??= (async () => {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-confine-work-'))
    lcTestWorkspace = workspace
    fs.chownSync(workspace, 4242, 4242)
    const b64 = (b: Buffer) => JSON.stringify(b.toString('base64'))
    const run = await runIsolated(`
      const filter = Buffer.from(${b64(deny(['mkdir', 'mkdirat'], EPERM))}, 'base64');
      const allow = Buffer.from(${b64(allowAll())}, 'base64');
      const outcome = (script, o) => {
        const r = lc.spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', ...o });
        const e = r.error;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr,
          error: e && { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, step: e.step, index: e.index, path: e.path } };
      };
      const userRoot = { namespaces: ['user'], uidMap: 'root', gidMap: 'root' };
      report({
        dropBounding: outcome('true', { capabilities: {} }),
        keepNotHeld: outcome('true', { capabilities: { keep: ['CAP_CHOWN'], bounding: ${JSON.stringify(CAPABILITIES)} } }),
        keepInUserns: outcome('cat /proc/self/status', { ...userRoot, capabilities: { keep: ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN'] } }),
        seccompAlone: outcome('cat /proc/self/status', { seccomp: allow }),
        nproc: outcome('true', { ...userRoot, namespaces: ['user', 'pid'], pidns: { init: 'reaper' }, rlimits: { nproc: { soft: 0, hard: 0 } } }),
        sandbox: outcome(${JSON.stringify(E2E_SCRIPT)}, {
          namespaces: ['user', 'pid', 'net', 'ipc', 'uts'], uidMap: 'root', gidMap: 'root', hostname: 'sandbox',
          rootfs: 'tmpfs',
          mounts: [...${JSON.stringify(system())},
            { type: 'bind', source: ${JSON.stringify(workspace)}, target: '/work' },
            { type: 'proc' }, { type: 'dev' }, { type: 'tmpfs', target: '/tmp' }],
          cwd: '/work', capabilities: {}, noNewPrivs: true, seccomp: filter,
        }),
      });
    `, { uid: 4242 })
    if (run.status !== 0) throw new Error(`the run as lc-test failed:\n${run.stdout}\n${run.stderr}`)
    return { workspace, outcomes: run.result as Record<string, Outcome> }
  })()
  return lcTest
}

asLcTest("as lc-test: 'capabilities' fails with EPERM without a user namespace, dropping the bounding set or keeping what it lacks", async (t) => {
  const { outcomes } = await asUser4242()
  stepError(t, outcomes.dropBounding?.error, {
    code: 'EPERM',
    step: 'capabilities',
    syscall: 'prctl',
    cause: /prctl\(PR_CAPBSET_DROP, CAP_CHOWN\).*dropping from the bounding set needs CAP_SETPCAP/,
  })
  // Nothing dropped from the bounding set (it names every capability), then capset refuses.
  const dropsNone = allCaps === mask(...CAPABILITIES)
  if (!dropsNone) t.log('this kernel has capabilities this package does not name: the bounding set drop fails first')
  stepError(t, outcomes.keepNotHeld?.error, {
    code: 'EPERM',
    step: 'capabilities',
    syscall: dropsNone ? 'capset' : 'prctl',
    cause: dropsNone ? /capabilities\.keep names a capability the child does not have/ : /needs CAP_SETPCAP/,
  })
})

asLcTest('as lc-test: capabilities keep a list in a user namespace', async (t) => {
  const { outcomes } = await asUser4242()
  const m = mask('CAP_NET_ADMIN', 'CAP_SYS_ADMIN')
  t.is(outcomes.keepInUserns?.status, 0, outcomes.keepInUserns?.error?.message)
  t.deepEqual(capSets(outcomes.keepInUserns!.stdout), { CapInh: m, CapPrm: m, CapEff: m, CapBnd: m, CapAmb: 0n })
})

asLcTest('as lc-test: a seccomp filter without CAP_SYS_ADMIN turns no_new_privs on', async (t) => {
  const { outcomes } = await asUser4242()
  t.is(outcomes.seccompAlone?.status, 0, outcomes.seccompAlone?.error?.message)
  t.is(statusField(outcomes.seccompAlone!.stdout, 'NoNewPrivs'), '1')
  t.is(statusField(outcomes.seccompAlone!.stdout, 'Seccomp'), '2')
})

asLcTest("as lc-test: 'reaper' fails with EAGAIN when RLIMIT_NPROC leaves no room for the program", async (t) => {
  const { outcomes } = await asUser4242()
  // The limit is set in the child, after its own clone: the reaper's clone of the program is
  // the first to meet it (root of the initial user namespace would be exempt).
  stepError(t, outcomes.nproc?.error, {
    code: 'EAGAIN',
    step: 'reaper',
    syscall: 'clone',
    cause: /the process limit \(RLIMIT_NPROC\) was reached/,
  })
})

asLcTest('as lc-test, end to end: an empty root, /usr read-only, a workspace, no capabilities, a seccomp filter', async (t) => {
  const { workspace, outcomes } = await asUser4242()
  const r = outcomes.sandbox!
  t.is(r.error, undefined, r.error?.message)
  t.is(r.status, 0, r.stderr)
  const [ids, status, list, dev, info, links, writes] = sections(r.stdout)
  t.is(ids, '0\n0\nsandbox\n1\n')
  t.deepEqual(capSets(status!), NONE)
  t.is(statusField(status!, 'NoNewPrivs'), '1')
  t.is(statusField(status!, 'Seccomp'), '2')
  t.deepEqual(list!.trim().split('\n'), [...systemDirs, 'dev', 'proc', 'tmp', 'work'].sort())
  t.deepEqual(dev!.trim().split('\n'), DEV)
  const m = mountinfo(info!)
  t.is(at(m, '/')?.fstype, 'tmpfs')
  t.deepEqual(at(m, '/usr')?.options.slice(0, 3), ['ro', 'nosuid', 'nodev'])
  t.deepEqual(at(m, '/work')?.options.slice(0, 3), ['rw', 'nosuid', 'nodev'])
  t.is(at(m, '/proc')?.fstype, 'proc')
  t.is(at(m, '/tmp')?.fstype, 'tmpfs')
  // Only lo in a network namespace of its own.
  t.is(links, '1\n')
  const [wrote, mkdir, touchUsr, tmpOk] = writes!.trim().split('\n')
  t.is(wrote, 'wrote')
  t.regex(mkdir!, /Operation not permitted/)
  t.regex(touchUsr!, /Read-only file system/)
  t.is(tmpOk, 'tmp-ok')
  // Root inside is lc-test here.
  const st = fs.statSync(path.join(workspace, 'out'))
  t.is(st.uid, 4242)
  t.is(fs.readFileSync(path.join(workspace, 'out'), 'utf8'), 'hi\n')
  t.false(fs.existsSync(path.join(workspace, 'made')))
})
