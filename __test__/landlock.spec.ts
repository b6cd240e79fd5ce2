// Confinement with no namespace at all: Landlock and seccomp policies, as uid 4242 on a "host"
// that refuses user namespaces (a container-style seccomp filter around the test, as Docker's
// default profile refuses them), observed from inside with ordinary programs.
import test from 'ava'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { spawn as cpSpawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { getSystemErrorName } from 'node:util'
import { probe, spawnSync, landlockRestrictSelf, clone, waitpid, type LandlockOptions } from '../dist/index.js'
import { asRoot, ok, runIsolated } from './_helpers.js'

const support = probe()
const python = fs.existsSync('/usr/bin/python3')
const root = asRoot('files owned by another user, and running as uid 4242, need root')
/** `test` where this kernel has Landlock at `abi` or later, else skipped with the reason. */
function landlock(abi: number): typeof test {
  if (support.landlock.abi >= abi) return test
  console.log(`skipping a test that needs Landlock ABI ${abi}: this kernel has ${support.landlock.abi} (${support.landlock.cause ?? 'older'})`)
  return test.skip as typeof test
}
const withPython: typeof test = python ? test : (console.log('skipping tests that need /usr/bin/python3: not installed'), test.skip as typeof test)

// ---- a fixture tree: a workspace, a "home" and an "/etc" with secrets, a world-writable dir ----

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-landlock-'))
fs.chmodSync(base, 0o755)
const ws = path.join(base, 'ws')
const home = path.join(base, 'home')
const etc = path.join(base, 'etc')
const open = path.join(base, 'open')
for (const d of [ws, home, etc, open]) fs.mkdirSync(d, { mode: 0o755 })
fs.chmodSync(open, 0o777)
fs.writeFileSync(path.join(ws, 'in.txt'), 'workspace\n')
fs.writeFileSync(path.join(home, 'secret.txt'), 'secret\n', { mode: 0o644 })
fs.writeFileSync(path.join(etc, 'shadow'), 'root:x\n', { mode: 0o644 })
if (process.getuid?.() === 0) fs.chownSync(ws, 4242, 4242)
test.after.always(() => fs.rmSync(base, { recursive: true, force: true }))

/** The agent-style sandbox: read the workspace and /usr, write only the workspace. */
const rules = (extra: Partial<LandlockOptions> = {}): LandlockOptions => ({
  fs: { read: [ws], execute: ['/usr'], write: [ws, '/dev/null'] },
  ...extra,
})

/** Runs checks in a node process as uid 4242 under the container-style filter: `body` reports. */
async function restricted(body: string) {
  return runIsolated(
    `const sh = (script, options = {}) => { const r = lc.spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', ...options });
       return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim(), error: r.error?.message, confinement: r.confinement } };
     ${body}`,
    { noUserns: true },
  )
}

root('on a host that refuses user namespaces, probe() says why and Landlock still confines a program', async (t) => {
  const run = await restricted(`
    const rules = ${JSON.stringify(rules())};
    const p = lc.probe();
    const files = (name) => \`cat ${ws}/in.txt; ls /usr/bin/env; cat ${home}/secret.txt; cat ${etc}/shadow; echo > ${ws}/\${name} && echo made; echo > ${open}/\${name}; echo done\`;
    report({
      userns: p.userNamespaces,
      unshare: lc.spawnSync('/bin/true', { namespaces: ['user'] }).error?.code,
      uid: process.getuid(),
      free: sh(files('free')),
      confined: sh(files('confined'), { landlock: rules }),
      status: sh('grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status', { landlock: { fs: { execute: ['/usr'], read: ['/proc'] } } }),
    });
  `)
  const r = ok(t, run) as Record<string, any>
  t.is(r.uid, 4242)
  // The host refuses user namespaces: probe() says so, and a spawn that asks for one fails.
  t.false(r.userns.ok)
  t.regex(r.userns.cause, /refused|seccomp|restrict/i)
  t.is(r.unshare, 'EPERM')
  // Without Landlock the program reads and writes everything uid 4242 may.
  t.regex(r.free.out, /workspace\n\/usr\/bin\/env\nsecret\nroot:x\nmade\ndone/)
  t.is(r.free.err, '')
  t.true(fs.existsSync(path.join(open, 'free')))
  // With it: the workspace and /usr only.
  t.is(r.confined.error, undefined)
  t.regex(r.confined.out, /^workspace\n\/usr\/bin\/env\nmade\ndone$/)
  t.regex(r.confined.err, new RegExp(`${home}/secret.txt: Permission denied`))
  t.regex(r.confined.err, new RegExp(`${etc}/shadow: Permission denied`))
  t.regex(r.confined.err, new RegExp(`cannot create ${open}/confined: Permission denied`))
  t.false(fs.existsSync(path.join(open, 'confined')))
  t.true(fs.existsSync(path.join(ws, 'confined')))
  // no_new_privs is on (Landlock needs it); the caller's filter is inherited (mode 2).
  t.regex(r.status.out, /NoNewPrivs:\s+1\nSeccomp:\s+2/)
  t.is(r.confined.confinement.landlock.abi, support.landlock.abi)
  t.true(r.confined.confinement.landlock.fs.includes('write_file'))
  t.true(r.confined.confinement.noNewPrivs)
})

withPython('net.connect: the program reaches the allowed local port only (Landlock ABI 4)', async (t) => {
  if (support.landlock.abi < 4) return t.pass(`skipped: Landlock ABI ${support.landlock.abi} has no TCP rules`)
  const servers = await Promise.all([0, 1].map(async () => {
    const s = net.createServer((c) => c.end('hello\n')).listen(0, '127.0.0.1')
    await once(s, 'listening')
    return s
  }))
  const [allowed, other] = servers.map((s) => (s.address() as net.AddressInfo).port) as [number, number]
  try {
    const connect = (port: number) => `/usr/bin/python3 -c "
import socket
s = socket.socket()
try:
    s.connect(('127.0.0.1', ${port})); print('connected', s.recv(16).decode().strip())
except OSError as e:
    print('refused', e.errno)"`
    const run = await restricted(`
      const rules = ${JSON.stringify(rules({ net: { connect: [allowed] } }))};
      report({ a: sh(${JSON.stringify(connect(allowed))}, { landlock: rules }), b: sh(${JSON.stringify(connect(other))}, { landlock: rules }),
               free: sh(${JSON.stringify(connect(other))}) });
    `)
    const r = ok(t, run) as Record<string, { out: string; err: string }>
    t.is(r.a!.out, 'connected hello', r.a!.err)
    t.is(r.b!.out, `refused ${os.constants.errno.EACCES}`, r.b!.err)
    t.is(r.free!.out, 'connected hello')
  } finally {
    for (const s of servers) s.close()
  }
})

withPython('scope: no abstract unix socket made outside, and no signal to a process outside (Landlock ABI 6)', async (t) => {
  if (support.landlock.abi < 6) return t.pass(`skipped: Landlock ABI ${support.landlock.abi} has no scopes`)
  const name = `lc-landlock-${process.pid}`
  // The server outside: python's abstract names are exact (Node's listen pads them with NULs).
  const server = cpSpawn('/usr/bin/python3', ['-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(b'\\0${name}'); s.listen(8); print('ready', flush=True)
while True:
    c, _ = s.accept(); c.sendall(b'hi\\n'); c.close()`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(server.stdout!, 'data')
  const outside: ChildProcess = cpSpawn('sleep', ['60'], { uid: 4242, gid: 4242, stdio: 'ignore' })
  await once(outside, 'spawn')
  try {
    const abstract = `/usr/bin/python3 -c "
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(b'\\\\0${name}'); print('connected', s.recv(8).decode().strip())
except OSError as e:
    print('refused', e.errno)"`
    const kill = `kill -0 ${outside.pid} && echo signalled`
    const run = await restricted(`
      const rules = ${JSON.stringify(rules({ scope: ['abstract-unix-socket', 'signal'] }))};
      report({ sock: sh(${JSON.stringify(abstract)}, { landlock: rules }), kill: sh(${JSON.stringify(kill)}, { landlock: rules }),
               freeSock: sh(${JSON.stringify(abstract)}), freeKill: sh(${JSON.stringify(kill)}) });
    `)
    const r = ok(t, run) as Record<string, { out: string; err: string; status: number }>
    t.is(r.freeSock!.out, 'connected hi', r.freeSock!.err)
    t.is(r.sock!.out, `refused ${os.constants.errno.EPERM}`, r.sock!.err)
    t.is(r.freeKill!.out, 'signalled')
    t.not(r.kill!.status, 0)
    t.regex(r.kill!.err, /Operation not permitted/)
  } finally {
    outside.kill('SIGKILL')
    server.kill('SIGKILL')
  }
})

test("compatibility: 'best-effort' reports what this kernel cannot enforce, 'require' fails at step 'landlock' naming it", (t) => {
  if (support.landlock.abi >= 9) return t.pass('skipped: this kernel has resolve_unix (ABI 9): nothing is left to drop')
  const options: LandlockOptions = { fs: { execute: ['/usr'], rights: [{ path: '/usr', access: ['resolve_unix'] }] } }
  const best = spawnSync('/bin/true', { landlock: options })
  t.is(best.error, undefined)
  t.is(best.status, 0)
  t.true(best.confinement.landlock!.dropped.some((d) => d.startsWith('fs.resolve_unix (ABI 9')), best.confinement.landlock!.dropped.join())
  const strict = spawnSync('/bin/true', { landlock: { ...options, compatibility: 'require' } })
  const e = strict.error!
  t.truthy(e)
  t.is(e.step, 'landlock')
  t.is(e.code, 'ENOTSUP')
  t.is(e.syscall, 'landlock_create_ruleset')
  t.is(getSystemErrorName(e.errno!), 'ENOTSUP')
  t.regex(e.message, /compatibility 'require' asks for fs\.resolve_unix \(ABI 9, Linux 7\.1\).*this kernel's Landlock ABI is \d/)
  // Without resolve_unix named, 'require' holds here: every right the rules name is enforced.
  t.is(spawnSync('/bin/true', { landlock: { fs: { execute: ['/usr'] }, compatibility: 'require' } }).status, 0)
})

landlock(1)('a path that does not exist where the program looks fails at step landlock with its index', (t) => {
  const r = spawnSync('/bin/true', { landlock: { fs: { read: ['/usr', path.join(base, 'missing')] } } })
  const e = r.error!
  t.is(e.step, 'landlock')
  t.is(e.index, 1)
  t.is(e.code, 'ENOENT')
  t.is(e.syscall, 'open')
  t.is(e.path, path.join(base, 'missing'))
  t.regex(e.message, /does not exist where the program will see it/)
})

root('paths are taken as the program sees them: a tmpfs and a bind made by mounts can be named by their targets', (t) => {
  // In the program's view `open` is a fresh tmpfs and `home` is the workspace: the rules follow.
  const r = spawnSync('/bin/sh', ['-c', `echo a > ${open}/a && cat ${open}/a ${home}/in.txt && (echo b > ${etc}/b || echo denied)`], {
    encoding: 'utf8',
    namespaces: ['mnt'],
    mounts: [
      { type: 'tmpfs', target: open },
      { type: 'bind', source: ws, target: home, readonly: true },
    ],
    landlock: { fs: { execute: ['/usr'], write: [open], read: [home] } },
  })
  t.is(r.error, undefined, r.error?.message)
  t.is(r.stdout, 'a\nworkspace\ndenied\n', r.stderr)
  t.false(fs.existsSync(path.join(open, 'a')))
})

test('errors: wrong types and names are refused up front with Node codes', (t) => {
  const bad = (landlock: unknown) => () => spawnSync('/bin/true', { landlock: landlock as LandlockOptions })
  t.throws(bad(1), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.landlock" property must be of type object/ })
  t.throws(bad({ fs: { read: '/usr' } }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.landlock\.fs\.read/ })
  t.throws(bad({ fs: { rights: [{ path: '/usr', access: ['fly'] }] } }), { code: 'ERR_INVALID_ARG_VALUE', message: /'fly', which is not a Landlock right \(execute, write_file/ })
  t.throws(bad({ net: { connect: [70000] } }), { code: 'ERR_OUT_OF_RANGE', message: /options\.landlock\.net\.connect\[0\]/ })
  t.throws(bad({ scope: ['everything'] }), { code: 'ERR_INVALID_ARG_VALUE', message: /'abstract-unix-socket' or 'signal'/ })
  t.throws(bad({ compatibility: 'maybe' }), { code: 'ERR_INVALID_ARG_VALUE', message: /'best-effort' or 'require'/ })
  t.throws(bad({ fs: { read: ['/us\0r'] } }), { code: 'ERR_INVALID_ARG_VALUE', message: /null bytes/ })
})

test('noNewPrivs: false with landlock and no CAP_SYS_ADMIN fails at step landlock, saying why', async (t) => {
  const run = await runIsolated(`
    const r = lc.spawnSync('/bin/true', { landlock: { fs: { read: ['/usr'] } }, noNewPrivs: false });
    report({ step: r.error?.step, code: r.error?.code, syscall: r.error?.syscall, message: r.error?.message });
  `, { uid: 4242 })
  const r = ok(t, run) as Record<string, string>
  t.is(r.step, 'landlock')
  t.is(r.code, 'EPERM')
  t.is(r.syscall, 'landlock_restrict_self')
  t.regex(r.message!, /needs no_new_privs/)
})

test('landlockRestrictSelf() is refused on Node\'s own thread, and confines a clone() child only', (t) => {
  t.throws(() => landlockRestrictSelf({ fs: { read: ['/usr'] } }), {
    code: 'ERR_UNSAFE_WITH_THREADS',
    message: /restricts only the calling thread, and Node\.js is multithreaded/,
  })
  let inside: Record<string, unknown> = {}
  const pid = clone(() => {
    const report = landlockRestrictSelf({ fs: { read: ['/usr'] } })
    let read = 'read'
    try {
      fs.readFileSync(path.join(ws, 'in.txt'))
    } catch (e) {
      read = (e as NodeJS.ErrnoException).code ?? 'error'
    }
    inside = { abi: report.abi, read, usr: fs.existsSync('/usr/bin/env') }
    return 0
  }, 0, 17 /* SIGCHLD */)
  t.is(waitpid(pid)?.exitCode, 0)
  t.deepEqual(inside, { abi: support.landlock.abi, read: 'EACCES', usr: true })
  // The parent is not confined.
  t.is(fs.readFileSync(path.join(ws, 'in.txt'), 'utf8'), 'workspace\n')
})

test('with namespaces too: as uid 4242 in a user namespace with a new root, Landlock rules name paths of that root', async (t) => {
  if (!support.userNamespaces.ok) return t.pass(`skipped: user namespaces are refused here (${support.userNamespaces.cause})`)
  const run = await runIsolated(`
    const r = lc.spawnSync('/bin/sh', ['-c', 'echo a > /scratch/a && cat /scratch/a && (echo b > /tmp/b || echo denied) && ls /'], {
      namespaces: ['user', 'mnt'], uidMap: 'root', gidMap: 'root', rootfs: 'tmpfs',
      mounts: [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }, { type: 'symlink', target: '/bin', linkTo: 'usr/bin' },
               { type: 'symlink', target: '/lib', linkTo: 'usr/lib' }, { type: 'symlink', target: '/lib64', linkTo: 'usr/lib64' },
               { type: 'tmpfs', target: '/scratch' }, { type: 'tmpfs', target: '/tmp' }],
      landlock: { fs: { execute: ['/usr'], write: ['/scratch'], read: ['/'] } },
      encoding: 'utf8',
    });
    report({ out: r.stdout, err: r.stderr, error: r.error?.message, abi: r.confinement.landlock.abi });
  `, { uid: 4242 })
  const r = ok(t, run) as Record<string, string>
  t.is(r.error as string | undefined, undefined)
  t.is(r.out, 'a\ndenied\nbin\nlib\nlib64\nscratch\ntmp\nusr\n', r.err)
})
