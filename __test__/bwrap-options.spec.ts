// bwrap's options that spawn() gained: each run under bwrap and under spawn(), where bwrap has
// it, and what the program sees compared.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync as cpSpawnSync } from 'node:child_process'
import * as lc from '../dist/index.js'
import { asRoot, ok, runIsolated } from './_helpers.js'

const root = asRoot('mount namespaces need CAP_SYS_ADMIN')
const bwrapVersion = cpSpawnSync('bwrap', ['--version'], { encoding: 'utf8' }).stdout?.trim()
const env = { PATH: '/usr/bin:/bin' }

function bwrap(t: ExecutionContext, args: string[], script: string, stdio?: (number | 'pipe' | 'ignore')[]): { status: number | null; stdout: string; stderr: string } | undefined {
  if (!bwrapVersion) {
    t.log('bwrap is not installed: the comparison with it is skipped')
    return undefined
  }
  const r = cpSpawnSync('bwrap', [...args, '/bin/sh', '-c', script], { env, encoding: 'utf8', stdio })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function tmpdir(t: ExecutionContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const sh = (script: string, options: lc.SpawnSyncOptions) => lc.spawnSync('/bin/sh', ['-c', script], { env, ...options, encoding: 'utf8' })

root('--chmod: a chmod entry changes the mode of an existing path, in order with the others', (t) => {
  const script = 'stat -c %a /tmp/x /tmp/x/d'
  const r = sh(script, {
    mounts: [
      { type: 'tmpfs', target: '/tmp' },
      { type: 'tmpfs', target: '/tmp/x' },
      { type: 'dir', target: '/tmp/x/d' },
      { type: 'chmod', target: '/tmp/x/d', mode: 0o701 },
      { type: 'chmod', target: '/tmp/x', mode: 0o710 },
    ],
  })
  t.is(r.error, undefined, r.error?.message)
  t.is(r.stdout, '710\n701\n')
  const b = bwrap(t, ['--bind', '/', '/', '--tmpfs', '/tmp', '--tmpfs', '/tmp/x', '--dir', '/tmp/x/d', '--chmod', '0701', '/tmp/x/d', '--chmod', '0710', '/tmp/x'], script)
  if (b) t.is(r.stdout, b.stdout, b.stderr)
})

root('--chmod: a missing path is named as missing (fchmodat, ENOENT, the mount step)', (t) => {
  const r = sh('true', { mounts: [{ type: 'tmpfs', target: '/tmp' }, { type: 'chmod', target: '/tmp/nothing', mode: 0o700 }] })
  t.is(r.error?.code, 'ENOENT')
  t.is(r.error?.errno, -2)
  t.is(r.error?.syscall, 'fchmodat')
  t.is(r.error?.step, 'mount')
  t.regex(r.error?.message ?? '', /\/tmp\/nothing does not exist \(chmod changes only an existing path\)/)
  const b = bwrap(t, ['--bind', '/', '/', '--tmpfs', '/tmp', '--chmod', '0700', '/tmp/nothing'], 'true')
  if (b) t.not(b.status, 0)
})

function layers(t: ExecutionContext): { top: string; bottom: string; dir: string } {
  const dir = tmpdir(t, 'lc-ovl-')
  const top = path.join(dir, 'top')
  const bottom = path.join(dir, 'bottom')
  fs.mkdirSync(top)
  fs.mkdirSync(bottom)
  fs.writeFileSync(path.join(top, 'shared'), 'top\n')
  fs.writeFileSync(path.join(bottom, 'shared'), 'bottom\n')
  fs.writeFileSync(path.join(bottom, 'only-bottom'), 'b\n')
  fs.mkdirSync(path.join(dir, 'mnt'))
  return { top, bottom, dir }
}

const OVERLAY_SCRIPT = (m: string) => `cat ${m}/shared; ls ${m} | tr "\\n" " "; echo; echo new > ${m}/new 2>/dev/null && echo wrote || echo read-only; grep " ${m} " /proc/self/mountinfo | grep -o " - overlay "`

root('--tmp-overlay: an overlay whose writes go to a tmpfs of the spawn, the lower layers untouched', (t) => {
  const { top, bottom, dir } = layers(t)
  const m = path.join(dir, 'mnt')
  const r = sh(OVERLAY_SCRIPT(m), { mounts: [{ type: 'overlay', target: m, lower: [top, bottom], upper: 'tmpfs' }] })
  t.is(r.error, undefined, r.error?.message)
  t.is(r.stdout, 'top\nonly-bottom shared \nwrote\n - overlay \n')
  t.false(fs.existsSync(path.join(top, 'new')))
  t.false(fs.existsSync(path.join(bottom, 'new')))
})

root('--overlay: writes go to the upper directory; --ro-overlay: nowhere', (t) => {
  const { top, bottom, dir } = layers(t)
  const m = path.join(dir, 'mnt')
  const upper = path.join(dir, 'upper')
  const work = path.join(dir, 'work')
  fs.mkdirSync(upper)
  fs.mkdirSync(work)
  const r = sh(OVERLAY_SCRIPT(m), { mounts: [{ type: 'overlay', target: m, lower: [top, bottom], upper, work }] })
  t.is(r.error, undefined, r.error?.message)
  t.is(r.stdout, 'top\nonly-bottom shared \nwrote\n - overlay \n')
  t.is(fs.readFileSync(path.join(upper, 'new'), 'utf8'), 'new\n')
  const ro = sh(OVERLAY_SCRIPT(m), { mounts: [{ type: 'overlay', target: m, lower: [top, bottom] }] })
  t.is(ro.error, undefined, ro.error?.message)
  t.is(ro.stdout, 'top\nonly-bottom shared \nread-only\n - overlay \n')
})

test('overlay: argument errors name the property and the reason', (t) => {
  const bad = (e: unknown) => t.throws(() => lc.spawnSync('/bin/true', [], { mounts: [e as lc.MountEntry] }))
  t.like(bad({ type: 'overlay', target: '/m', lower: [] }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.regex(bad({ type: 'overlay', target: '/m', lower: ['/usr'] })?.message ?? '', /lower' must name two directories at least/)
  t.regex(bad({ type: 'overlay', target: '/m', lower: ['/a:b', '/usr'] })?.message ?? '', /must not contain ':'/)
  const noWork = bad({ type: 'overlay', target: '/m', lower: ['/usr', '/etc'], upper: '/tmp' })
  t.is((noWork as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_TYPE')
  t.regex(noWork?.message ?? '', /options\.mounts\[0\]\.work" property must be a path/)
  const noMode = bad({ type: 'chmod', target: '/m' })
  t.is((noMode as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_TYPE')
  t.regex(noMode?.message ?? '', /options\.mounts\[0\]\.mode/)
})

root('overlay as uid 4242 in a user namespace (rootless, Linux 5.11+)', async (t) => {
  const { top, bottom, dir } = layers(t)
  fs.chmodSync(dir, 0o755)
  const m = path.join(dir, 'mnt')
  const run = await runIsolated(`
    const r = lc.spawnSync('/bin/sh', ['-c', ${JSON.stringify(OVERLAY_SCRIPT(m))}], { namespaces: ['user'], uidMap: 'root', gidMap: 'root', encoding: 'utf8',
      mounts: [{ type: 'overlay', target: ${JSON.stringify(m)}, lower: ${JSON.stringify([top, bottom])}, upper: 'tmpfs' }] });
    report({ out: r.stdout, error: r.error && r.error.message });
  `, { uid: 4242 })
  const r = ok(t, run) as { out: string; error?: string }
  t.is(r.error, undefined)
  t.is(r.out, 'top\nonly-bottom shared \nwrote\n - overlay \n')
})

root("--unshare-all and --share-net: namespaces 'all' and { all: true, except: ['net'] }", (t) => {
  const script = 'for n in user ipc pid net uts cgroup mnt; do readlink /proc/self/ns/$n; done; cat /proc/self/uid_map; id -u'
  const host = Object.fromEntries(['user', 'ipc', 'pid', 'net', 'uts', 'cgroup', 'mnt'].map((n) => [n, fs.readlinkSync(`/proc/self/ns/${n}`)]))
  const differs = (out: string) => out.split('\n').slice(0, 7).map((l) => (Object.values(host).includes(l) ? 'same' : 'new')).join(' ')
  const all = sh(script, { namespaces: 'all' })
  t.is(all.error, undefined, all.error?.message)
  const net = sh(script, { namespaces: { all: true, except: ['net'] } })
  t.is(differs(all.stdout), 'new new new new new new same')
  t.is(differs(net.stdout), 'new new new same new new same')
  t.regex(all.stdout, /^\s+0\s+0\s+1\n0\n$/m)
  const b = bwrap(t, ['--bind', '/', '/', '--unshare-all'], script)
  const bn = bwrap(t, ['--bind', '/', '/', '--unshare-all', '--share-net'], script)
  if (b && bn) {
    // bwrap always makes a mount namespace: the one difference.
    t.is(differs(b.stdout).replace(/ new$/, ' same'), differs(all.stdout))
    t.is(differs(bn.stdout).replace(/ new$/, ' same'), differs(net.stdout))
    t.is(b.stdout.split('\n').slice(7).join('\n'), all.stdout.split('\n').slice(7).join('\n'))
  }
})

root('--json-status-fd and --info-fd: statusFd and infoFd report the pid, the namespaces, then the exit', async (t) => {
  const dir = tmpdir(t, 'lc-status-')
  const file = path.join(dir, 'status')
  const info = path.join(dir, 'info')
  const fd = fs.openSync(file, 'w')
  const ifd = fs.openSync(info, 'w')
  // The program waits for its stdin: its namespaces are read while it runs, as bwrap's are.
  const p = lc.spawn('/bin/sh', ['-c', 'read _; readlink /proc/self/ns/net; exit 3'], { namespaces: ['net', 'pid', 'mnt'], statusFd: fd, infoFd: ifd, env, stdio: ['pipe', 'pipe', 'ignore'] })
  let out = ''
  p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  p.stdin!.end('go\n')
  const r = await p.exited
  fs.closeSync(fd)
  fs.closeSync(ifd)
  t.is(r.exitCode, 3)
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>)
  t.is(lines.length, 2)
  t.deepEqual(Object.keys(lines[0]!).sort(), ['child-pid', 'mnt-namespace', 'net-namespace', 'pid-namespace'])
  t.is(lines[0]!['child-pid'], p.pid ?? -1)
  await new Promise((resolve) => p.stdout!.once('close', resolve).once('end', resolve))
  t.is(`net:[${lines[0]!['net-namespace']}]`, out.trim())
  t.deepEqual(lines[1], { 'exit-code': 3 })
  t.deepEqual(JSON.parse(fs.readFileSync(info, 'utf8')), lines[0])
  const bfile = path.join(dir, 'bwrap')
  const bfd = fs.openSync(bfile, 'w')
  const b = bwrap(t, ['--bind', '/', '/', '--unshare-net', '--unshare-pid', '--json-status-fd', '3'], 'exit 3', ['ignore', 'pipe', 'pipe', bfd])
  fs.closeSync(bfd)
  if (b) {
    const bl = fs.readFileSync(bfile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>)
    t.deepEqual(Object.keys(bl[0]!).sort(), Object.keys(lines[0]!).sort())
    t.deepEqual(bl[1], lines[1])
  }
  const sync = t.throws(() => lc.spawnSync('/bin/true', [], { statusFd: 1 }))
  t.is((sync as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_VALUE')
  t.regex(sync?.message ?? '', /options\.statusFd' is for spawn\(\)/)
})

// ---- fromBwrap(): the same command line under bwrap and under spawn() ----

const OBSERVE = `
o() { echo "@@$1"; }
o root; ls -1 / | sort
o dev; ls -1 /dev | sort
o mountinfo; cat /proc/self/mountinfo
o id; id
o hostname; hostname
o caps; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb):' /proc/self/status
o nnp; grep NoNewPrivs /proc/self/status
o pid; echo $$
o session; if [ "$(cut -d' ' -f6 /proc/$$/stat)" = "$(cut -d' ' -f6 /proc/$PPID/stat 2>/dev/null)" ] || [ "$(cut -d' ' -f6 /proc/$$/stat)" = 0 ]; then echo inherited; else echo own; fi
o ns; for n in ipc net pid uts cgroup; do readlink /proc/self/ns/$n; done
o env; env | grep -E '^(SANDBOXED|HOME|LANG|PATH|X)=' | sort
o pwd; pwd
o write; touch /usr/x 2>&1 | sed 's/.*: //'; echo written > ./out && echo ws-writable
o secret; cat ./secret.txt 2>&1 | head -c 100; echo
`

/** Sections of the observation, with mountinfo as (point, fs type, ro/nosuid/nodev/noexec) and namespaces as same/new. */
function observed(out: string, hostNs: string[]): Record<string, string> {
  const r: Record<string, string> = {}
  let name = ''
  for (const line of out.split('\n')) {
    if (line.startsWith('@@')) r[(name = line.slice(2))] = ''
    else if (name) r[name] += `${line}\n`
  }
  const all = (r.mountinfo ?? '').split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ')
    const type = f[f.indexOf('-') + 1]!
    // spawn()'s procfs is noexec and covers /proc/sys and its neighbours read-only wherever
    // they exist; bwrap's not always (bwrap.spec.ts asserts that difference).
    const opts = f[5]!.split(',').filter((o) => ['ro', 'rw', 'nosuid', 'nodev', 'noexec'].includes(o) && !(o === 'noexec' && type === 'proc'))
    return { point: f[4]!, text: `${f[4]} ${type} ${opts.join(',')}` }
  })
  r.mountinfo = all
    // What a later mount covers is out of sight (and bwrap leaves flags on it as they were).
    .filter((m, k) => !all.slice(k + 1).some((later) => m.point === later.point || m.point.startsWith(later.point === '/' ? '/' : `${later.point}/`)))
    .filter((m) => !/^\/proc\/(sys|sysrq-trigger|irq|bus) /.test(m.text))
    .map((m) => m.text)
    .sort()
    .join('\n')
  // Without a pid namespace the pid is the host's, different in each run.
  r.pid = Number(r.pid) <= 2 ? (r.pid ?? '') : 'a host pid'
  r.ns = (r.ns ?? '').split('\n').filter(Boolean).map((l) => (hostNs.includes(l) ? 'same' : 'new')).join(' ')
  return r
}

interface Seen {
  bwrap: { status: number | null; stdout: string; stderr: string }
  spawn: { status: number | null; stdout: string; stderr: string; error?: string }
  hostNs: string[]
}

/** Runs `argv` (bwrap's options, then the command) under bwrap and under spawn(fromBwrap(argv)), in a process of its own as `uid`. */
async function both(t: ExecutionContext, argv: string[], uid?: number): Promise<Seen> {
  const run = await runIsolated(`
    const cp = await import('node:child_process');
    const argv = ${JSON.stringify(argv)};
    const b = cp.spawnSync('bwrap', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const { file, args, options } = lc.fromBwrap(argv);
    const s = lc.spawnSync(file, args, { ...options, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const hostNs = ['ipc', 'net', 'pid', 'uts', 'cgroup'].map((n) => fs.readlinkSync('/proc/self/ns/' + n));
    report({ bwrap: { status: b.status, stdout: b.stdout, stderr: b.stderr }, spawn: { status: s.status, stdout: s.stdout, stderr: s.stderr, error: s.error && s.error.message }, hostNs });
  `, { uid })
  return ok(t, run) as Seen
}

function workspace(t: ExecutionContext, uid?: number): string {
  const ws = tmpdir(t, 'lc-frombwrap-')
  fs.writeFileSync(path.join(ws, 'secret.txt'), 'TOPSECRET\n')
  fs.chmodSync(ws, 0o755)
  if (uid !== undefined) {
    fs.chownSync(ws, uid, uid)
    fs.chownSync(path.join(ws, 'secret.txt'), uid, uid)
  }
  return ws
}

const lines: Record<string, (ws: string) => string[]> = {
  // As Codex and Claude Code run a command: the host read-only, the workspace writable.
  'the Codex / Claude Code style': (ws) => ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--bind', ws, ws, '--unshare-all', '--share-net', '--die-with-parent', '--new-session', '--setenv', 'SANDBOXED', '1', '--chdir', ws, '--', '/bin/sh', '-c', OBSERVE],
  // As Anthropic's sandbox-runtime does: no network, a secret masked, a pid namespace.
  "sandbox-runtime's": (ws) => ['--new-session', '--die-with-parent', '--ro-bind', '/', '/', '--bind', ws, ws, '--ro-bind', '/dev/null', `${ws}/secret.txt`, '--unshare-net', '--dev', '/dev', '--unshare-pid', '--proc', '/proc', '--chdir', ws, '--', '/bin/sh', '-c', OBSERVE],
  // A clean environment, root inside, no capabilities, its own hostname.
  'a clean environment, uid 0 inside, --cap-drop ALL': (ws) => ['--clearenv', '--setenv', 'PATH', '/usr/bin:/bin', '--setenv', 'X', 'y', '--unshare-user', '--uid', '0', '--gid', '0', '--unshare-uts', '--hostname', 'box', '--unshare-ipc', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/sbin', '/sbin', '--bind', ws, '/ws', '--perms', '0700', '--tmpfs', '/tmp', '--proc', '/proc', '--dev', '/dev', '--cap-drop', 'ALL', '--chdir', '/ws', '/bin/sh', '-c', OBSERVE],
}

for (const [label, line] of Object.entries(lines)) {
  for (const uid of [undefined, 4242]) {
    const who = uid === undefined ? 'as root' : 'as uid 4242'
    root(`fromBwrap(): ${label} command line: what the program sees matches bwrap (${who})`, async (t) => {
      if (!bwrapVersion) {
        t.log('bwrap is not installed: skipped')
        return t.pass()
      }
      const ws = workspace(t, uid)
      const r = await both(t, line(ws), uid)
      t.is(r.bwrap.status, 0, r.bwrap.stderr)
      t.is(r.spawn.status, 0, `${r.spawn.error ?? ''}${r.spawn.stderr}`)
      const b = observed(r.bwrap.stdout, r.hostNs)
      const s = observed(r.spawn.stdout, r.hostNs)
      for (const k of ['root', 'dev', 'id', 'hostname', 'caps', 'nnp', 'pid', 'session', 'ns', 'env', 'pwd', 'write', 'secret', 'mountinfo']) t.is(s[k], b[k], k)
    })
  }
}

test('fromBwrap(): options it cannot express are refused by name', (t) => {
  for (const [argv, option] of [
    [['--ro-bind', '/', '/', '--lock-file', '/x', 'true'], '--lock-file'],
    [['--exec-label', 'x', 'true'], '--exec-label'],
    [['--disable-userns', 'true'], '--disable-userns'],
    [['--frobnicate', 'true'], '--frobnicate'],
  ] as const) {
    const e = t.throws(() => lc.fromBwrap(argv), { instanceOf: lc.BwrapOptionError })
    t.is((e as lc.BwrapOptionError).code, 'ERR_BWRAP_UNSUPPORTED')
    t.is((e as lc.BwrapOptionError).option, option)
    t.true(e!.message.startsWith(`bwrap's ${option} has no spawn() equivalent: `), e!.message)
  }
  t.like(t.throws(() => lc.fromBwrap(['--bind', '/x'])), { code: 'ERR_INVALID_ARG_VALUE', message: "bwrap's --bind needs 2 arguments" })
  t.like(t.throws(() => lc.fromBwrap(['--ro-bind', '/', '/'])), { code: 'ERR_INVALID_ARG_VALUE', message: "bwrap's command line needs a command after the options" })
  t.like(t.throws(() => lc.fromBwrap('bwrap true' as unknown as string[])), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('fromBwrap(): the spawn() spelling of each option', (t) => {
  const { file, args, options } = lc.fromBwrap(['bwrap', '--unshare-all', '--share-net', '--as-pid-1', '--cap-drop', 'ALL', '--cap-add', 'net_raw', '--perms', '0700', '--size', '4096', '--tmpfs', '/t', '--chmod', '0755', '/t', '--die-with-parent', '--new-session', '--', 'ls', '-l'])
  t.is(file, 'ls')
  t.deepEqual(args, ['-l'])
  t.deepEqual(options.namespaces, ['user', 'ipc', 'pid', 'uts', 'cgroup'])
  t.is(options.pidns, undefined)
  t.deepEqual(options.capabilities, { keep: ['CAP_NET_RAW'] })
  t.deepEqual(options.mounts, [{ type: 'tmpfs', target: '/t', mode: 0o700, size: 4096 }, { type: 'chmod', target: '/t', mode: 0o755 }])
  t.is(options.pdeathsig, 'SIGKILL')
  t.is(options.detached, true)
  t.is(options.rootfs, 'tmpfs')
  t.is(options.noNewPrivs, true)
  t.deepEqual(lc.fromBwrap(['--unshare-pid', 'true']).options.pidns, { init: 'reaper' })
})

root('fromBwrap(): --file, --ro-bind-data and --args are read from their fds, as bwrap reads them', (t) => {
  const dir = tmpdir(t, 'lc-frombwrap-fd-')
  fs.writeFileSync(path.join(dir, 'data'), 'content\n')
  fs.writeFileSync(path.join(dir, 'args'), '--hostname\0box\0--unshare-uts\0')
  const data = fs.openSync(path.join(dir, 'data'), 'r')
  const more = fs.openSync(path.join(dir, 'args'), 'r')
  t.teardown(() => {
    fs.closeSync(data)
    fs.closeSync(more)
  })
  const { options } = lc.fromBwrap(['--args', String(more), '--perms', '0640', '--ro-bind-data', String(data), '/etc/x', 'true'])
  t.is(options.hostname, 'box')
  t.deepEqual(options.namespaces, ['uts'])
  const [entry] = options.mounts as Extract<lc.MountEntry, { type: 'file' }>[]
  t.is(Buffer.from(entry!.data).toString(), 'content\n')
  t.is(entry!.mode, 0o640)
  t.is(entry!.readonly, true)
})
