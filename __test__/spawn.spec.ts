import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { spawn as cpSpawn, execFileSync } from 'node:child_process'
import { getSystemErrorName } from 'node:util'
import { spawn, spawnSync, probe, openNamespace, netns, SpawnError, NEWUTS, NEWNET, type SpawnOptions } from '../dist/index.js'
import { asRoot, needs, ok, runIsolated } from './_helpers.js'

const root = asRoot('creating namespaces without a user namespace needs CAP_SYS_ADMIN')
const sh = (script: string, options: SpawnOptions = {}) =>
  spawnSync('/bin/sh', ['-c', script], { ...options, encoding: 'utf8' })
const ns = (type: string, pid: number | 'self' = 'self') => fs.readlinkSync(`/proc/${pid}/ns/${type}`)

/** Waits up to 2 s for `pid` to be gone (or a zombie nobody has reaped yet). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (/ [ZX] /.test(stat.slice(stat.lastIndexOf(')')))) return true
    } catch {
      return true
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return false
}

/** The `sleep` that `unshare ... --fork sleep` starts, once it has. */
async function sleeperOf(holder: { pid?: number }): Promise<number> {
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20))
    const kid = Number(fs.readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(' ')[0])
    if (kid && fs.readFileSync(`/proc/${kid}/comm`, 'utf8').trim() === 'sleep') return kid
  }
  return 0
}

/** Checks a SpawnError: the step, Node's error shape, and a cause in words. */
function isSpawnError(t: import('ava').ExecutionContext, e: unknown, code: string, step: SpawnError['step'], cause: RegExp): void {
  t.true(e instanceof SpawnError, `not a SpawnError: ${String(e)}`)
  const err = e as SpawnError
  t.is(err.code, code, err.message)
  t.is(err.step, step)
  t.true(err.errno < 0)
  t.is(getSystemErrorName(err.errno), code)
  t.is(typeof err.syscall, 'string')
  t.true(err.message.startsWith(`${code}: ${err.syscall}(`), err.message)
  t.regex(err.message, new RegExp(`step '${step}'`))
  t.regex(err.message, cause)
  t.true(Array.isArray(err.spawnargs))
}

test('spawnSync: exit status, stdout and stderr apart', (t) => {
  const r = sh('echo out; echo err >&2; exit 3')
  t.is(r.status, 3)
  t.is(r.signal, null)
  t.is(r.stdout, 'out\n')
  t.is(r.stderr, 'err\n')
  t.true(r.pid > 0)
  t.is(r.error, undefined)
})

test('spawnSync: a signal ends the program', (t) => {
  const r = sh('kill -TERM $$')
  t.is(r.status, null)
  t.is(r.signal, 'SIGTERM')
})

test('spawnSync: input reaches stdin, buffers by default', (t) => {
  const r = spawnSync('cat', [], { input: 'hello' })
  t.true(Buffer.isBuffer(r.stdout))
  t.is(r.stdout.toString(), 'hello')
  const big = Buffer.alloc(3 * 1024 * 1024, 'x')
  t.is(spawnSync('wc', ['-c'], { input: big, encoding: 'utf8', maxBuffer: Infinity }).stdout.toString().trim(), String(big.length))
})

test('spawnSync: timeout kills with killSignal and says ETIMEDOUT', (t) => {
  const r = spawnSync('sleep', ['10'], { timeout: 100, killSignal: 'SIGKILL' })
  t.is(r.signal, 'SIGKILL')
  t.is(r.error?.code, 'ETIMEDOUT')
  t.is(r.error?.step, 'timeout')
})

test('spawnSync: maxBuffer kills and says ENOBUFS, with output cut at the limit', (t) => {
  const r = spawnSync('yes', [], { maxBuffer: 1000 })
  t.is(r.error?.code, 'ENOBUFS')
  t.is(r.stdout.length, 1000)
})

test('PATH lookup uses the environment given to the program; argv0 and env arrive', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-path-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'hello-lc'), '#!/bin/sh\necho "$0 $FOO"\n', { mode: 0o755 })
  const r = spawnSync('hello-lc', [], { env: { PATH: `/nonexistent:${dir}`, FOO: 'bar' }, encoding: 'utf8' })
  // The kernel hands a #! script its own path as $0.
  t.is(r.stdout, `${dir}/hello-lc bar\n`)
  const a = spawnSync('/bin/sh', ['-c', 'echo $0'], { argv0: 'custom0', encoding: 'utf8' })
  t.is(a.stdout, 'custom0\n')
  const none = spawnSync('hello-lc', [], { env: { PATH: '/nonexistent' } })
  t.is(none.error?.code, 'ENOENT')
  t.regex(none.error?.message ?? '', /not found in the PATH/)
})

test('relative cwd is resolved against the caller; a URL works too', (t) => {
  t.is(sh('pwd', { cwd: '..' }).stdout, `${path.resolve('..')}\n`)
  t.is(sh('pwd', { cwd: new URL('file:///tmp') }).stdout, '/tmp\n')
})

test('the program starts with default signal dispositions, an empty mask, and stdio open', (t) => {
  // Node ignores SIGPIPE and blocks nothing; the child blocks everything while it sets up.
  const r = sh('grep -E "^(SigBlk|SigIgn)" /proc/self/status')
  t.regex(r.stdout, /SigBlk:\s+0+\n/)
  t.regex(r.stdout, /SigIgn:\s+0+\n/)
  t.is(sh('ls /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 >/dev/null && echo ok').stdout, 'ok\n')
})

test('no fd of the parent leaks into the program, even one opened without O_CLOEXEC', async (t) => {
  // The isolated process gets fd 3 from child_process, which clears close-on-exec on it.
  const run = await runIsolated(`
    const r = lc.spawnSync('ls', ['/proc/self/fd'], { encoding: 'utf8' });
    report({ inherited: fs.readlinkSync('/proc/self/fd/3'), fds: r.stdout.trim().split('\\n') });
  `, { extraFd: true })
  const result = ok(t, run) as { inherited: string; fds: string[] }
  t.truthy(result.inherited)
  // 0-2, and the directory ls reads.
  t.deepEqual(result.fds, ['0', '1', '2', '3'])
})

test('stdio: fds are shuffled so that swaps and 2>&1 work', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-fd-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const a = fs.openSync(path.join(dir, 'a'), 'w')
  const b = fs.openSync(path.join(dir, 'b'), 'w')
  // 1 -> b, 2 -> a: a swap relative to the fds' order.
  sh('echo to-out; echo to-err >&2', { stdio: ['ignore', b, a] })
  // 2>&1 into one file, with fd 3 too.
  const c = fs.openSync(path.join(dir, 'c'), 'w')
  sh('echo one; echo two >&2; echo three >&3', { stdio: ['ignore', c, c, c] })
  for (const fd of [a, b, c]) fs.closeSync(fd)
  t.is(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'to-err\n')
  t.is(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'to-out\n')
  t.is(fs.readFileSync(path.join(dir, 'c'), 'utf8'), 'one\ntwo\nthree\n')
  // 'ignore' is /dev/null; an fd past the array is closed.
  t.is(sh('readlink /proc/self/fd/0; ls /proc/self/fd/5 2>/dev/null || echo closed', { stdio: ['ignore', 'pipe', 'pipe'] }).stdout, '/dev/null\nclosed\n')
})

test('stdio swap 1<>2 of the caller\'s own fds', async (t) => {
  const run = await runIsolated(`
    lc.spawnSync('/bin/sh', ['-c', 'echo to-stdout; echo to-stderr >&2'], { stdio: ['ignore', 2, 1] });
  `)
  t.is(run.status, 0)
  t.is(run.stdout, 'to-stderr\n')
  t.is(run.stderr, 'to-stdout\n')
})

root('new namespaces: the program is in them, the caller is not', (t) => {
  const r = sh('readlink /proc/self/ns/uts /proc/self/ns/net /proc/self/ns/ipc /proc/self/ns/mnt /proc/self/ns/pid /proc/self/ns/cgroup; echo $$; hostname; domainname', {
    namespaces: ['uts', 'net', 'ipc', 'mnt', 'pid', 'cgroup'],
    hostname: 'inside',
    domainname: 'dom',
  })
  const [uts, net, ipc, mnt, pid, cgroup, self, host, dom] = r.stdout.trim().split('\n')
  t.not(uts, ns('uts'))
  t.not(net, ns('net'))
  t.not(ipc, ns('ipc'))
  t.not(mnt, ns('mnt'))
  t.not(pid, ns('pid'))
  t.not(cgroup, ns('cgroup'))
  t.is(self, '1')
  t.is(host, 'inside')
  t.is(dom, 'dom')
  t.not(os.hostname(), 'inside')
})

needs('ip', root)('a NEW* mask works like names; loopback is up by default in a new net namespace and can be left down', (t) => {
  const up = sh('ip -o link show lo', { namespaces: NEWNET | NEWUTS })
  t.regex(up.stdout, /state UNKNOWN|UP/)
  t.regex(up.stdout, /<LOOPBACK,UP,LOWER_UP>/)
  const links = sh('ip -o link', { namespaces: ['net'] }).stdout.trim().split('\n')
  t.is(links.length, 1)
  const down = sh('ip -o link show lo', { namespaces: ['net'], loopback: false })
  t.notRegex(down.stdout, /,UP/)
})

test('time namespace: boottime and monotonic offsets seen by the program', (t) => {
  const support = probe()
  if (!support.timeNamespace) return t.pass('no time namespaces on this kernel')
  const before = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0])
  const r = sh('cat /proc/uptime; readlink /proc/self/ns/time', {
    namespaces: ['user', 'time'],
    uidMap: 'root',
    timeOffsets: { boottime: 86400, monotonic: 3600 },
  })
  const [uptime, timeNs] = r.stdout.trim().split('\n')
  const inside = Number(uptime!.split(' ')[0])
  t.true(inside - before > 86000 && inside - before < 86800, `uptime ${inside} vs ${before}`)
  t.not(timeNs, ns('time'))
})

test('user namespace: uid 0 inside with uidMap root, as an unprivileged user', async (t) => {
  if (!probe().userNamespaces.ok) return t.pass(`skipped: ${probe().userNamespaces.cause}`)
  const run = await runIsolated(`
    const r = lc.spawnSync('/bin/sh', ['-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; hostname; grep CapEff /proc/self/status'],
      { namespaces: ['user', 'pid', 'net', 'uts', 'ipc', 'mnt'], uidMap: 'root', gidMap: 'root', hostname: 'rootless', encoding: 'utf8' });
    report({ status: r.status, out: r.stdout, err: r.stderr, error: r.error && r.error.message });
  `, { uid: 4242 })
  const r = ok(t, run) as { status: number; out: string; err: string }
  t.is(r.status, 0, r.err)
  const lines = r.out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))
  t.deepEqual(lines.slice(0, 5), ['0', '0', '0 4242 1', '0 4242 1', 'deny'])
  t.is(lines[5], 'rootless')
  t.regex(lines[6]!, /CapEff: 000001ffffffffff|CapEff: 0000003fffffffff/)
})

root('user namespace: a multi-range map written by a privileged parent', (t) => {
  const r = sh('cat /proc/self/uid_map; id -u', {
    namespaces: ['user'],
    uidMap: [
      { inside: 0, outside: 100000, count: 1000 },
      { inside: 1000, outside: 0, count: 1 },
    ],
    uid: 1000,
  })
  t.is(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))
  t.deepEqual(lines, ['0 100000 1000', '1000 0 1', '1000'])
  // setgroups: root's default leaves it allowed; 'deny' is written before the gid map.
  const allow = sh('cat /proc/self/setgroups', { namespaces: ['user'], gidMap: 'root' })
  t.is(allow.stdout, 'allow\n')
  const deny = sh('cat /proc/self/setgroups; id -G', { namespaces: ['user'], gidMap: 'root', setgroups: 'deny' })
  t.is(deny.stdout.split('\n')[0], 'deny')
})

test('user namespace: several ranges as an unprivileged user, through newuidmap/newgidmap', async (t) => {
  const subuid = fs.existsSync('/etc/subuid') ? fs.readFileSync('/etc/subuid', 'utf8') : ''
  const tool = execFileSync('sh', ['-c', 'command -v newuidmap || true'], { encoding: 'utf8' }).trim()
  const user = execFileSync('sh', ['-c', 'getent passwd 4242 || true'], { encoding: 'utf8' }).trim()
  if (!tool || !user || !/^[^:]+:200000:65536$/m.test(subuid)) {
    console.log('skipping the newuidmap test: it needs newuidmap (package uidmap), a user 4242 and "<name>:200000:65536" in /etc/subuid and /etc/subgid (.ci/run sets these up)')
    return t.pass()
  }
  const run = await runIsolated(`
    const map = [{ inside: 0, outside: 4242, count: 1 }, { inside: 1, outside: 200000, count: 1000 }];
    const r = lc.spawnSync('/bin/sh', ['-c', 'cat /proc/self/uid_map /proc/self/gid_map; id -u'],
      { namespaces: ['user'], uidMap: map, gidMap: map, encoding: 'utf8' });
    report({ out: r.stdout, error: r.error && r.error.message });
  `, { uid: 4242 })
  const r = ok(t, run) as { out: string; error?: string }
  t.is(r.error, undefined)
  const lines = r.out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))
  t.deepEqual(lines, ['0 4242 1', '1 200000 1000', '0 4242 1', '1 200000 1000', '0'])
})

test('idmap: a map the caller may not write fails at step idmap with the reason', async (t) => {
  if (!probe().userNamespaces.ok) return t.pass(`skipped: ${probe().userNamespaces.cause}`)
  const run = await runIsolated(`
    const r = lc.spawnSync('true', [], { namespaces: ['user'], uidMap: [{ inside: 0, outside: 0, count: 1 }] });
    const e = r.error;
    report({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, step: e.step, index: e.index, path: e.path, message: e.message, status: r.status });
  `, { uid: 4242 })
  const e = ok(t, run) as Record<string, unknown>
  t.is(e.name, 'SpawnError')
  t.is(e.code, 'EPERM')
  t.is(e.errno, -1)
  t.is(e.step, 'idmap')
  t.is(e.index, 0)
  t.is(e.syscall, 'write')
  t.regex(String(e.path), /^\/proc\/\d+\/uid_map$/)
  t.regex(String(e.message), /CAP_SETUID|newuidmap/)
  t.is(e.status, null)
})

test('clone: new namespaces without a user namespace, unprivileged, fail at step clone with the reason', async (t) => {
  const run = await runIsolated(`
    const r = lc.spawnSync('true', [], { namespaces: ['net'] });
    const e = r.error;
    report({ code: e.code, errno: e.errno, syscall: e.syscall, step: e.step, message: e.message });
  `, { uid: 4242 })
  const e = ok(t, run) as Record<string, unknown>
  t.is(e.code, 'EPERM')
  t.is(e.step, 'clone')
  t.is(e.syscall, 'clone')
  t.regex(String(e.message), /^EPERM: clone\(.*NEWNET.*\) failed at spawn step 'clone': .*add 'user'/)
})

root('join: existing namespaces by fd, by path, and by pidfd with types', async (t) => {
  const holder = cpSpawn('unshare', ['--uts', '--net', '--pid', '--fork', '--kill-child', 'sleep', '30'], { stdio: 'ignore' })
  t.teardown(() => holder.kill('SIGKILL'))
  await once(holder, 'spawn')
  // unshare(1) forks sleep in the new namespaces (it is pid 1 there): wait until it has.
  const sleeper = await sleeperOf(holder)
  t.truthy(sleeper)
  const fd = fs.openSync(`/proc/${sleeper}/ns/uts`, 'r')
  t.teardown(() => fs.closeSync(fd))
  const byFd = sh('readlink /proc/self/ns/uts', { join: { uts: fd } })
  t.is(byFd.stdout.trim(), ns('uts', sleeper))
  const byPath = sh('readlink /proc/self/ns/net', { join: { net: `/proc/${sleeper}/ns/net` } })
  t.is(byPath.stdout.trim(), ns('net', sleeper))
  const pidfd = (await import('../dist/index.js')).pidfdOpen(sleeper)
  t.teardown(() => fs.closeSync(pidfd))
  const both = sh('readlink /proc/self/ns/uts /proc/self/ns/net', { join: { pidfd, types: ['uts', 'net'] } })
  t.deepEqual(both.stdout.trim().split('\n'), [ns('uts', sleeper), ns('net', sleeper)])
  // A joined pid namespace: the program itself is in it (not only its children).
  const pidNs = sh('readlink /proc/self/ns/pid; echo $$', { join: { pid: `/proc/${sleeper}/ns/pid` } })
  t.is(pidNs.status, 0, pidNs.stderr)
  t.is(pidNs.stdout.trim().split('\n')[0], ns('pid', sleeper))
  const spawned = spawn('/bin/sh', ['-c', 'exit 6'], { join: { pid: `/proc/${sleeper}/ns/pid`, uts: fd } })
  t.is((await spawned.exited).exitCode, 6)
  // Joined, and a hostname set inside it is the holder's too.
  sh('true', { join: { uts: fd }, hostname: 'joined' })
  t.is(execFileSync('nsenter', ['-t', String(sleeper), '-u', 'hostname'], { encoding: 'utf8' }).trim(), 'joined')
})

needs('ip', root)('join: a Namespace handle from the toolkit, such as a named network namespace', (t) => {
  const name = `lc-spawn-${process.pid}`
  netns.add(name)
  t.teardown(() => netns.delete(name))
  using handle = netns.open(name)
  const r = sh('readlink /proc/self/ns/net; ip -o link | wc -l', { join: { net: handle } })
  t.deepEqual(r.stdout.trim().split('\n'), [`net:[${handle.id.ino}]`, '1'])
  using uts = openNamespace(process.pid, 'uts')
  t.is(sh('readlink /proc/self/ns/uts', { join: { uts } }).stdout.trim(), ns('uts'))
})

root('join: a time namespace with its clock offsets, the program itself in it', async (t) => {
  if (!probe().timeNamespace) return t.pass('no time namespaces on this kernel')
  const holder = cpSpawn('unshare', ['--time', '--boottime', '86400', '--fork', '--kill-child', 'sleep', '30'], { stdio: 'ignore' })
  t.teardown(() => holder.kill('SIGKILL'))
  await once(holder, 'spawn')
  const sleeper = await sleeperOf(holder)
  t.truthy(sleeper)
  const before = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0])
  // cat reads /proc/uptime itself: the program, not only its children, is in the namespace.
  const r = spawnSync('cat', ['/proc/uptime', '/proc/self/timens_offsets'], { join: { time: `/proc/${sleeper}/ns/time`, pid: `/proc/${sleeper}/ns/pid` }, encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const inside = Number(r.stdout.split(' ')[0])
  t.true(inside - before > 86000 && inside - before < 86800, `uptime ${inside} vs ${before}`)
  const self = spawnSync('readlink', ['/proc/self/ns/time'], { join: { time: `/proc/${sleeper}/ns/time` }, encoding: 'utf8' })
  t.is(self.stdout.trim(), ns('time', sleeper))
})

test('setns: a bad fd fails at step setns with the entry index', (t) => {
  const r = spawnSync('true', [], { join: { uts: 987654 } })
  isSpawnError(t, r.error, 'EBADF', 'setns', /not open/)
  t.is(r.error?.index, 0)
})

test('setns: an fd of the wrong type fails at step setns with EINVAL', (t) => {
  const fd = fs.openSync('/proc/self/ns/net', 'r')
  t.teardown(() => fs.closeSync(fd))
  const r = spawnSync('true', [], { join: { uts: fd } })
  isSpawnError(t, r.error, 'EINVAL', 'setns', /is a net namespace, not a uts namespace/)
})

test('chdir: a missing cwd is step chdir ENOENT, not an exec error', (t) => {
  const r = spawnSync('true', [], { cwd: '/nonexistent-dir' })
  isSpawnError(t, r.error, 'ENOENT', 'chdir', /working directory \/nonexistent-dir does not exist/)
  t.is(r.error?.path, '/nonexistent-dir')
  t.is(r.status, null)
})

test('execve: ENOENT and EACCES name the file', (t) => {
  const missing = spawnSync('/nonexistent/program')
  isSpawnError(t, missing.error, 'ENOENT', 'execve', /does not exist/)
  t.is(missing.error?.path, '/nonexistent/program')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-exec-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'plain'), 'not executable', { mode: 0o644 })
  const denied = spawnSync(path.join(dir, 'plain'))
  isSpawnError(t, denied.error, 'EACCES', 'execve', /not executable/)
})

test('fds: an stdio fd that is not open fails at step fds', (t) => {
  const r = spawnSync('true', [], { stdio: ['ignore', 876543, 'ignore'] })
  isSpawnError(t, r.error, 'EBADF', 'fds', /not open/)
})

test('setuid/setgid/groups: unprivileged changes fail at their own steps', async (t) => {
  const run = await runIsolated(`
    const out = {};
    for (const [k, o] of [['groups', { groups: [0] }], ['setgid', { gid: 0 }], ['setuid', { uid: 0 }]]) {
      const e = lc.spawnSync('true', [], o).error;
      out[k] = { code: e.code, step: e.step, syscall: e.syscall, message: e.message };
    }
    report(out);
  `, { uid: 4242 })
  const r = ok(t, run) as Record<string, { code: string; step: string; syscall: string; message: string }>
  t.deepEqual([r.groups!.code, r.groups!.step, r.groups!.syscall], ['EPERM', 'groups', 'setgroups'])
  t.deepEqual([r.setgid!.code, r.setgid!.step, r.setgid!.syscall], ['EPERM', 'setgid', 'setgid'])
  t.deepEqual([r.setuid!.code, r.setuid!.step, r.setuid!.syscall], ['EPERM', 'setuid', 'setuid'])
  t.regex(r.setuid!.message, /needs CAP_SETUID/)
})

root('uid, gid and groups as root', (t) => {
  const r = sh('id -u; id -g; id -G', { uid: 4242, gid: 4343, groups: [5, 6] })
  t.deepEqual(r.stdout.trim().split('\n'), ['4242', '4343', '4343 5 6'])
})

test('hostname: longer than the kernel takes is refused before anything runs', (t) => {
  // 33 two-byte characters: 66 bytes, though 33 characters.
  for (const [option, name] of [['hostname', 'x'.repeat(65)], ['domainname', 'é'.repeat(33)]] as const) {
    const e = t.throws(() => spawnSync('true', [], { namespaces: ['uts'], [option]: name }), { code: 'ERR_INVALID_ARG_VALUE' })
    t.regex(e?.message ?? '', new RegExp(`options.${option}' must be at most 64 bytes \\(the kernel's limit\\); this one is 6[56]`))
  }
})

test('detached: a session of its own', (t) => {
  const r = sh('cut -d" " -f6 /proc/self/stat; echo $$', { detached: true })
  const [sid, pid] = r.stdout.trim().split('\n')
  t.is(sid, pid)
  const attached = sh('cut -d" " -f6 /proc/self/stat')
  t.not(attached.stdout.trim(), String(attached.pid))
})

test('exitSignal 0: the program is reaped all the same', async (t) => {
  const r = sh('exit 7', { exitSignal: 0 })
  t.is(r.status, 7)
  const p = spawn('/bin/sh', ['-c', 'exit 8'], { exitSignal: 0 })
  t.is((await p.exited).exitCode, 8)
})

root('cgroup: the program starts in the cgroup given (CLONE_INTO_CGROUP)', (t) => {
  const mount = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.includes(' - cgroup2 '))
  if (!mount) return t.pass('no cgroup2 mount on this host')
  const dir = path.join(mount.split(' ')[4]!, `lc-test-${process.pid}`)
  fs.mkdirSync(dir)
  t.teardown(() => fs.rmdirSync(dir))
  const r = sh('cat /proc/self/cgroup', { cgroup: dir })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, new RegExp(`^0::.*/lc-test-${process.pid}$`, 'm'))
})

test('unshare: a new time namespace without a user namespace, unprivileged, fails at step unshare', async (t) => {
  if (!probe().timeNamespace) return t.pass('no time namespaces on this kernel')
  const run = await runIsolated(`
    const e = lc.spawnSync('true', [], { namespaces: ['time'] }).error;
    report({ code: e.code, step: e.step, syscall: e.syscall, message: e.message });
  `, { uid: 4242 })
  const e = ok(t, run) as Record<string, string>
  t.deepEqual([e.code, e.step, e.syscall], ['EPERM', 'unshare', 'unshare'])
  t.regex(e.message!, /add 'user'/)
})

needs('bwrap', root)('cgroup: where clone3 is missing (ENOSYS, as some container seccomp profiles answer), the parent writes cgroup.procs', async (t) => {
  const mount = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.includes(' - cgroup2 '))
  if (!mount) return t.pass('no cgroup2 mount on this host')
  const dir = path.join(mount.split(' ')[4]!, `lc-fallback-${process.pid}`)
  fs.mkdirSync(dir)
  t.teardown(() => fs.rmdirSync(dir))
  // A seccomp filter, installed by bwrap, that answers ENOSYS to clone3 (x86-64 and arm64: 435).
  // (EPERM takes the same path in spawn(), but glibc's pthread_create falls back to clone() on
  // ENOSYS only, so Node itself would not start under it.)
  const insn = (code: number, jt: number, jf: number, k: number) => {
    const b = Buffer.alloc(8)
    b.writeUInt16LE(code, 0)
    b.writeUInt8(jt, 2)
    b.writeUInt8(jf, 3)
    b.writeUInt32LE(k >>> 0, 4)
    return b
  }
  const filter = Buffer.concat([
    insn(0x20, 0, 0, 0), // ld [0]: the syscall number
    insn(0x15, 0, 1, 435), // jeq clone3
    insn(0x06, 0, 0, 0x00050000 | 38), // ret ERRNO(ENOSYS)
    insn(0x06, 0, 0, 0x7fff0000), // ret ALLOW
  ])
  const file = path.join(os.tmpdir(), `lc-seccomp-${process.pid}`)
  fs.writeFileSync(file, filter)
  t.teardown(() => fs.rmSync(file, { force: true }))
  const script = `
    const lc = require(${JSON.stringify(path.resolve('dist/index.js'))});
    const r = lc.spawnSync('/bin/sh', ['-c', 'cat /proc/self/cgroup'], { cgroup: ${JSON.stringify(dir)}, encoding: 'utf8' });
    console.log(JSON.stringify({ out: r.stdout, error: r.error && r.error.message }));
  `
  const out = execFileSync('sh', ['-c', 'exec bwrap --bind / / --dev-bind /dev /dev --seccomp 3 "$@" 3<"$0"', file, process.execPath, '-e', script], { encoding: 'utf8' })
  const r = JSON.parse(out.trim()) as { out: string; error?: string }
  t.is(r.error, undefined)
  t.regex(r.out, new RegExp(`^0::.*/lc-fallback-${process.pid}$`, 'm'))
})

test('cgroup: a directory that is not a cgroup fails at step clone', (t) => {
  if (!probe().intoCgroup) return t.pass('no CLONE_INTO_CGROUP here')
  const r = spawnSync('true', [], { cgroup: '/tmp' })
  t.true(r.error instanceof SpawnError)
  t.is(r.error?.step, 'clone')
  t.is(r.error?.syscall, 'clone3')
})

test('spawn: events in child_process order, exited resolves with the WaitResult', async (t) => {
  const p = spawn('/bin/sh', ['-c', 'read x; echo "got $x"; exit 5'])
  const events: string[] = []
  p.on('spawn', () => events.push('spawn'))
  p.on('exit', (c, s) => events.push(`exit ${c} ${s}`))
  let out = ''
  p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  p.stdin!.end('hello\n')
  const [code, signal] = await once(p, 'close')
  events.push(`close ${code} ${signal}`)
  t.deepEqual(events, ['spawn', 'exit 5 null', 'close 5 null'])
  t.is(out, 'got hello\n')
  t.is(p.exitCode, 5)
  const r = await p.exited
  t.is(r.exitCode, 5)
  t.is(r.pid, p.pid!)
  t.is(p.spawnfile, '/bin/sh')
  t.deepEqual(p.spawnargs, ['/bin/sh', '-c', 'read x; echo "got $x"; exit 5'])
  t.is(p.pidfd, undefined)
})

test('spawn: a piped stream nobody reads does not hold back \'close\', as with child_process', async (t) => {
  const script = 'cat; echo to-stderr >&2'
  const ours = spawn('/bin/sh', ['-c', script])
  const theirs = cpSpawn('/bin/sh', ['-c', script])
  for (const p of [ours, theirs]) p.stdin!.end('to-stdout\n')
  // Only stdout is read; stderr holds a line nobody asks for.
  const read = async (p: typeof ours | typeof theirs) => {
    let out = ''
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    const [code] = await once(p, 'close')
    return { code, out }
  }
  const [a, b] = await Promise.all([read(ours), read(theirs)])
  t.deepEqual(b, { code: 0, out: 'to-stdout\n' })
  t.deepEqual(a, b)
})

test('spawn: 32 programs waiting for their stdin at once all get it and end', async (t) => {
  // In Bun, a read that waits for a program in a thread of its small pool would take the pool.
  const runs = Array.from({ length: 32 }, (_, i) => {
    const p = spawn('/bin/sh', ['-c', 'read line; echo "$line"'])
    let out = ''
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    const closed = once(p, 'close').then(([code]) => ({ code, out }))
    setTimeout(() => p.stdin!.end(`line ${i}\n`), 50)
    return closed
  })
  const results = await Promise.all(runs)
  t.deepEqual(results, results.map((_, i) => ({ code: 0, out: `line ${i}\n` })))
})

test('spawn: a failed step is an asynchronous error event, exited rejects, pid is undefined', async (t) => {
  const p = spawn('true', [], { cwd: '/nonexistent-dir' })
  let sync = true
  const got = once(p, 'error').then(([e]) => ({ e, sync }))
  sync = false
  const { e, sync: wasSync } = await got
  t.false(wasSync)
  isSpawnError(t, e, 'ENOENT', 'chdir', /does not exist/)
  t.is(p.pid, undefined)
  await t.throwsAsync(p.exited, { instanceOf: SpawnError })
})

test('kill: through the pidfd; false once the program is reaped', async (t) => {
  const p = spawn('sleep', ['30'])
  await once(p, 'spawn')
  t.true(p.kill())
  t.true(p.killed)
  const [code, signal] = await once(p, 'exit')
  t.is(code, null)
  t.is(signal, 'SIGTERM')
  t.false(p.kill('SIGKILL'))
  t.throws(() => p.kill('SIGNOPE' as NodeJS.Signals), { code: 'ERR_UNKNOWN_SIGNAL' })
})

test('timeout and AbortSignal kill with killSignal', async (t) => {
  const a = spawn('sleep', ['30'], { timeout: 50, killSignal: 'SIGKILL' })
  t.is((await a.exited).signal, 'SIGKILL')
  const ac = new AbortController()
  const b = spawn('sleep', ['30'], { signal: ac.signal })
  const error = once(b, 'error')
  await once(b, 'spawn')
  ac.abort()
  const [e] = await error
  t.is(e.name, 'AbortError')
  t.is((await b.exited).signal, 'SIGTERM')
})

test('asyncDispose kills and awaits the exit', async (t) => {
  let p: ReturnType<typeof spawn> | undefined
  {
    await using child = spawn('sleep', ['30'])
    p = child
    await once(child, 'spawn')
  }
  t.is(p!.signalCode, 'SIGTERM')
})

test('unref: the process exits while the program still runs; ref keeps it alive', async (t) => {
  const run = await runIsolated(`
    const p = lc.spawn('sleep', ['30'], { stdio: 'ignore', pdeathsig: 'SIGKILL' });
    p.unref();
    p.on('spawn', () => report({ pid: p.pid }));
  `, { timeout: 10_000 })
  const r = ok(t, run) as { pid: number }
  t.true(r.pid > 0)
  const kept = await runIsolated(`
    const p = lc.spawn('sleep', ['0.3'], { stdio: 'ignore' });
    p.unref(); p.ref();
    p.on('exit', (c) => report({ exit: c }));
  `)
  t.deepEqual(ok(t, kept), { exit: 0 })
})

test('pdeathsig: the program dies with the process that spawned it, even SIGKILLed', async (t) => {
  const run = await runIsolated(`
    const p = lc.spawn('sleep', ['60'], { stdio: 'ignore', pdeathsig: 'SIGKILL', namespaces: ${process.getuid?.() === 0 ? "['pid']" : "[]"} });
    p.on('spawn', () => { console.log(JSON.stringify({ pid: p.pid })); process.kill(process.pid, 'SIGKILL'); });
  `)
  t.is(run.signal, 'SIGKILL')
  const { pid } = JSON.parse(run.stdout.trim()) as { pid: number }
  t.true(await gone(pid), `sleep ${pid} outlived its parent`)
})

test('pdeathsig from a Worker follows the process, not the Worker\'s thread', async (t) => {
  const run = await runIsolated(`
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(\`
      const lc = require(process.env.LC_ENTRY);
      const p = lc.spawn('sleep', ['60'], { stdio: 'ignore', pdeathsig: 'SIGKILL' });
      p.on('spawn', () => require('node:worker_threads').parentPort.postMessage(p.pid));
    \`, { eval: true, execArgv: [] });
    const pid = await new Promise((r) => w.once('message', r));
    await w.terminate();
    await new Promise((r) => setTimeout(r, 300));
    const alive = fs.existsSync('/proc/' + pid) && !/ [ZX] /.test(fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(')')[1]);
    console.log(JSON.stringify({ pid, alive }));
    process.kill(process.pid, 'SIGKILL');
  `)
  const { pid, alive } = JSON.parse(run.stdout.trim()) as { pid: number; alive: boolean }
  t.true(alive, 'the program died with the Worker')
  t.true(await gone(pid), `sleep ${pid} outlived the process`)
})

test('a spawn failure leaves no zombie, no fd and no thread behind', async (t) => {
  const run = await runIsolated(`
    const count = () => fs.readdirSync('/proc/self/fd').length;
    const threads = () => Number(fs.readFileSync('/proc/self/status', 'utf8').match(/Threads:\\s+(\\d+)/)[1]);
    lc.spawnSync('true', [], { cwd: '/nope' });
    const fds = count(), th = threads();
    for (let i = 0; i < 50; i++) lc.spawnSync('true', [], { cwd: '/nope', join: { uts: '/proc/self/ns/uts' } });
    for (let i = 0; i < 50; i++) lc.spawnSync('/nonexistent');
    let zombies = 0;
    try { while (lc.waitpid(-1, lc.WNOHANG)) zombies++ } catch (e) { if (e.code !== 'ECHILD') throw e }
    report({ fdsBefore: fds, fdsAfter: count(), threadsBefore: th, threadsAfter: threads(), zombies });
  `)
  const r = ok(t, run) as Record<string, number>
  t.is(r.fdsAfter, r.fdsBefore)
  t.is(r.threadsAfter, r.threadsBefore)
  t.is(r.zombies, 0)
})

test('1,000 children alive at once cost one reaper thread, and every exit arrives', async (t) => {
  const run = await runIsolated(`
    const threads = () => Number(fs.readFileSync('/proc/self/status', 'utf8').match(/Threads:\\s+(\\d+)/)[1]);
    lc.spawnSync('true');
    const before = threads();
    const kids = [];
    for (let i = 0; i < 1000; i++) kids.push(lc.spawn('sleep', ['2'], { stdio: 'ignore' }));
    const during = threads();
    const results = await Promise.all(kids.map((k) => k.exited));
    report({ before, during, after: threads(), ok: results.filter((r) => r.exitCode === 0).length });
  `, { timeout: 60_000 })
  const r = ok(t, run) as Record<string, number>
  t.is(r.ok, 1000)
  t.true(r.during - r.before <= 2, `threads ${r.before} -> ${r.during}`)
})

test('interleaved with child_process.spawn: nobody loses an exit', async (t) => {
  const ours = Array.from({ length: 30 }, (_, i) => spawn('/bin/sh', ['-c', `exit ${i % 7}`], { stdio: 'ignore' }))
  const theirs = Array.from({ length: 30 }, (_, i) => cpSpawn('/bin/sh', ['-c', `exit ${i % 5}`], { stdio: 'ignore' }))
  const a = await Promise.all(ours.map((p) => p.exited.then((r) => r.exitCode)))
  const b = await Promise.all(theirs.map((p) => once(p, 'exit').then(([c]) => c as number)))
  t.deepEqual(a, ours.map((_, i) => i % 7))
  t.deepEqual(b, theirs.map((_, i) => i % 5))
})

test('a Worker that spawns and is terminated: no crash, the child is still reaped', async (t) => {
  const run = await runIsolated(`
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(\`
      const lc = require(process.env.LC_ENTRY);
      const p = lc.spawn('sleep', ['0.3'], { stdio: 'ignore' });
      p.on('spawn', () => require('node:worker_threads').parentPort.postMessage(p.pid));
    \`, { eval: true, execArgv: [] });
    const pid = await new Promise((r) => w.once('message', r));
    await w.terminate();
    await new Promise((r) => setTimeout(r, 800));
    let state = 'gone';
    try { const s = fs.readFileSync('/proc/' + pid + '/stat', 'utf8'); state = s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) } catch {}
    report({ state });
  `)
  t.deepEqual(ok(t, run), { state: 'gone' })
})

test('a clone() callback cannot spawn: refused with a code that says why', async (t) => {
  const run = await runIsolated(`
    let e;
    const pid = lc.clone(() => { try { lc.spawnSync('true') } catch (err) { e = { code: err.code, message: err.message } } return 0 });
    lc.waitpid(pid);
    report(e);
  `)
  const e = ok(t, run) as { code: string; message: string }
  t.is(e.code, 'ERR_UNSAFE_IN_CLONE_CALLBACK')
  t.regex(e.message, /nobody reaps/)
})

test('bad arguments are TypeErrors and RangeErrors with Node codes, before anything runs', (t) => {
  t.throws(() => spawn(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE', instanceOf: TypeError })
  t.throws(() => spawn(''), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => spawn('true', ['a\0b']), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => spawn('true', [], { namespaces: ['nope' as 'net'] }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => spawn('true', [], { namespaces: 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => spawn('true', [], { uid: -1 }), { code: 'ERR_OUT_OF_RANGE', instanceOf: RangeError })
  t.throws(() => spawn('true', [], { uid: 1.5 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => spawn('true', [], { uidMap: 'root' }), { code: 'ERR_INVALID_ARG_VALUE', message: /add 'user'/ })
  t.throws(() => spawn('true', [], { hostname: 'x' }), { code: 'ERR_INVALID_ARG_VALUE', message: /rename this host/ })
  t.throws(() => spawn('true', [], { exitSignal: 'SIGTERM' as 'SIGCHLD' }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => spawn('true', [], { killSignal: 'SIGNOPE' as NodeJS.Signals }), { code: 'ERR_UNKNOWN_SIGNAL' })
  t.throws(() => spawn('true', [], { stdio: [{} as number] }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => spawn('true', [], { namespaces: ['net'], join: { net: 3 } }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => spawn('true', [], { timeOffsets: { boottime: 1 } }), { code: 'ERR_INVALID_ARG_VALUE', message: /add 'time'/ })
  t.throws(() => spawnSync('true', [], { input: 5 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('hostile options: every one is an Error or a result, none crashes the process', async (t) => {
  const run = await runIsolated(`
    const values = [undefined, null, 0, -1, 1.5, NaN, 2 ** 53, -(2 ** 31), 'x', '', 'a\\0b', Symbol('s'), 10n, [], [1, 'x'], {},
      new Proxy({}, { get() { throw new Error('trap') } }), Object.create(null), () => 1, new Uint8Array(3), { fd: -1 }, { fd: 1.5 }];
    const keys = ['cwd', 'env', 'argv0', 'stdio', 'detached', 'uid', 'gid', 'groups', 'timeout', 'killSignal', 'signal',
      'namespaces', 'join', 'uidMap', 'gidMap', 'setgroups', 'hostname', 'domainname', 'loopback', 'forwards', 'pdeathsig', 'exitSignal',
      'cgroup', 'timeOffsets', 'input', 'maxBuffer', 'encoding'];
    let errors = 0, results = 0, other = 0;
    for (const key of keys) for (const value of values) {
      try {
        const r = lc.spawnSync('/bin/true', [], { [key]: value, stdio: key === 'stdio' ? value : 'ignore' });
        if (r && typeof r === 'object') results++;
      } catch (e) { if (e instanceof Error) errors++; else other++; }
    }
    for (const file of values) try { lc.spawnSync(file) } catch (e) { if (e instanceof Error) errors++; else other++; }
    for (const args of values) try { lc.spawnSync('/bin/true', args) } catch (e) { if (e instanceof Error) errors++; else other++; }
    report({ errors, results, other });
  `, { timeout: 60_000 })
  const r = ok(t, run) as { errors: number; results: number; other: number }
  t.is(r.other, 0)
  t.true(r.errors > 100 && r.results > 50, JSON.stringify(r))
})

test('probe() reports what this host supports', (t) => {
  const p = probe()
  t.is(p.kernel, os.release())
  t.true(p.pidfd)
  t.is(typeof p.clone3, 'boolean')
  t.is(typeof p.closeRange, 'boolean')
  t.is(p.timeNamespace, fs.existsSync('/proc/self/ns/time'))
  t.is(typeof p.userNamespaces.ok, 'boolean')
  if (!p.userNamespaces.ok) t.regex(p.userNamespaces.cause ?? '', /\w/)
  t.true(p.sharedMemoryClone)
})
