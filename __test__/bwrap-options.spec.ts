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
  const p = lc.spawn('/bin/sh', ['-c', 'readlink /proc/self/ns/net; exit 3'], { namespaces: ['net', 'pid', 'mnt'], statusFd: fd, infoFd: ifd, env, stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
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
