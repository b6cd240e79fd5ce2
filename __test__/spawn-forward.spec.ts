// Forwarded ports on a plain spawn(): listening sockets made in the program's network namespace
// before it starts, served by this process. And a new user namespace with joined namespaces.
import test from 'ava'
import fs from 'node:fs'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { createSandbox, probe, spawn, spawnSync, SpawnError, type SpawnOptions, type SpawnedProcess } from '../dist/index.js'
import { has, isRoot, ok, runIsolated } from './_helpers.js'

const userns = probe().userNamespaces
const why = !userns.ok ? `user namespaces are off: ${userns.cause}` : !has('bash') ? "bash is not installed (the programs connect with bash's /dev/tcp)" : undefined
if (why) console.log(`skipping the spawn() forward tests: ${why}`)
const maybe = why ? test.skip : test
const asRootToo = why || !isRoot ? test.skip : test
if (!isRoot) console.log('skipping the spawn() forward tests that run as uid 4242 or join namespaces of other owners: they need root')

const sandboxed: SpawnOptions = { namespaces: ['user', 'net', 'mnt', 'pid'], uidMap: 'root', gidMap: 'root' }
const get = (port: number) => `exec 3<>/dev/tcp/127.0.0.1/${port} || exit 9; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; while IFS= read -r l <&3; do last=$l; done; echo "$last"`

async function hostServer(t: { teardown(fn: () => void): void }, text = 'hello from the host\n'): Promise<number> {
  const server = http.createServer((_req, res) => res.end(text))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return (server.address() as net.AddressInfo).port
}

async function output(child: SpawnedProcess): Promise<[number | null, string]> {
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const [code] = (await once(child, 'close')) as [number | null]
  return [code, out]
}

maybe('a program in a new network namespace reaches a host server only through its forwarded port', async (t) => {
  const hostPort = await hostServer(t)
  const script = `${get(hostPort)}; ${get(3128)}`
  const child = spawn('/bin/bash', ['-c', script], { ...sandboxed, forwards: [{ port: 3128, target: { port: hostPort } }] })
  t.is(child.forwards.length, 1)
  t.is(child.forwards[0]!.port, 3128)
  t.is(child.forwards[0]!.host, '127.0.0.1')
  const [code, out] = await output(child)
  // The host's own port is not there inside; the forwarded one is.
  t.is(code, 9, out)
  t.regex(out, /Connection refused/)
  const child2 = spawn('/bin/bash', ['-c', get(3128)], { ...sandboxed, forwards: [{ port: 3128, target: { port: hostPort } }] })
  t.deepEqual(await output(child2), [0, 'hello from the host\n'])
  // Closed with the program: nothing of it stays listening here.
  t.false(child2.forwards[0]!.server.listening)
})

maybe("the forward is made before the program's seccomp filter and Landlock rules, which refuse the program its own sockets", async (t) => {
  const hostPort = await hostServer(t, 'through the forward\n')
  const landlockNet = probe().landlock.abi >= 4
  if (!landlockNet) t.log(`Landlock's network rules need ABI 4; this kernel has ${probe().landlock.abi}: only the seccomp half is checked`)
  // The program may not make a listening socket (seccomp: bind fails; Landlock: no bind port),
  // and may connect only to the forwarded port.
  const child = spawn('/bin/bash', ['-c', `${get(3128)}; python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 4000))' 2>&1 | tail -1`], {
    ...sandboxed,
    forwards: [{ port: 3128, target: { port: hostPort } }],
    seccomp: { defaultAction: 'allow', rules: [{ syscalls: ['bind', 'listen'], action: { errno: 'EACCES' } }] },
    ...(landlockNet ? { landlock: { net: { connect: [3128], bind: [] } } } : {}),
  })
  const [code, out] = await output(child)
  t.is(code, 0, out)
  const [first, second] = out.trim().split('\n')
  t.is(first, 'through the forward')
  if (has('python3')) t.regex(second ?? '', /PermissionError/)
})

maybe("without a target, each connection is the Forward's 'connection', from the peer inside; an allow callback refuses", async (t) => {
  const read = (port: number) => `exec 3<>/dev/tcp/127.0.0.1/${port} || exit 9; read -r l <&3; echo "got $l"`
  const peers: string[] = []
  const child = spawn('/bin/bash', ['-c', `${read(7000)}; ${read(7001)}`], {
    ...sandboxed,
    forwards: [{ port: 7000 }, { port: 7001, allow: (peer) => (peers.push(peer.remoteAddress), false) }],
  })
  child.forwards[0]!.on('connection', (socket: net.Socket) => socket.end(`hello ${socket.remoteAddress}\n`))
  const [code, out] = await output(child)
  t.is(code, 0, out)
  t.regex(out, /^got hello 127\.0\.0\.1$/m)
  // The second: reset by the allow callback, seen inside as a reset.
  t.regex(out, /Connection reset by peer/)
  t.deepEqual(peers, ['127.0.0.1'])
})

maybe('forwards and a terminal together: both reach this process, each where it belongs', async (t) => {
  const hostPort = await hostServer(t, 'both\n')
  const child = spawn('/bin/bash', ['-c', `tty; ${get(3128)}`], {
    ...sandboxed,
    mounts: [{ type: 'dev' }],
    forwards: [{ port: 3128, target: { port: hostPort } }],
    terminal: true,
  })
  let out = ''
  child.terminal!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const [code] = (await once(child, 'close')) as [number | null]
  t.is(code, 0, out)
  t.regex(out, /^\/dev\/pts\/0\r?$/m)
  t.regex(out, /^both\r?$/m)
})

maybe('200 connections through a forward of a spawned program leak nothing', async (t) => {
  const hostPort = await hostServer(t, 'x\n')
  const loop = `n=0; for i in $(seq 200); do exec 3<>/dev/tcp/127.0.0.1/3128 || exit 1; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; while IFS= read -r l <&3; do :; done; exec 3>&-; n=$((n+1)); done; echo $n`
  const child = spawn('/bin/bash', ['-c', loop], { ...sandboxed, forwards: [{ port: 3128, target: { port: hostPort } }] })
  const f = child.forwards[0]!
  t.deepEqual(await output(child), [0, '200\n'])
  for (let i = 0; i < 50 && f.connections > 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.is(f.connections, 0)
  t.false(f.server.listening)
})

maybe('253 forwards, as many as one message carries: each listens inside; no spawn waits on a full socket buffer', async (t) => {
  const hostPort = await hostServer(t, 'many\n')
  const forwards = Array.from({ length: 253 }, (_, i) => ({ port: 20000 + i, target: { port: hostPort } }))
  const child = spawn('/bin/bash', ['-c', `${get(20000)}; ${get(20252)}`], { ...sandboxed, forwards })
  t.is(child.forwards.length, 253)
  t.deepEqual(child.forwards.map((f) => f.port), forwards.map((f) => f.port))
  t.deepEqual(await output(child), [0, 'many\nmany\n'])
})

maybe("a forward's failures are named by step 'forward', the entry and the kernel's cause", async (t) => {
  const errorOf = async (options: SpawnOptions): Promise<SpawnError> => {
    const child = spawn('/bin/true', [], { ...sandboxed, ...options })
    const [err] = (await once(child, 'error')) as [SpawnError]
    return err
  }
    const twice = await errorOf({ forwards: [{ port: 8080 }, { port: 8080 }] })
    t.true(twice instanceof SpawnError)
    t.is(twice.code, 'EADDRINUSE')
    t.is(twice.errno, -98)
    t.is(twice.syscall, 'bind')
    t.is(twice.step, 'forward')
    t.is(twice.index, 1)
    t.regex(twice.message, /bind\(127\.0\.0\.1:8080\) in the program's network namespace failed at spawn step 'forward' \(entry 1\): something in the program's network namespace already listens on that port/)
    const nowhere = await errorOf({ forwards: [{ port: 8081, host: '192.0.2.1' }] })
    t.is(nowhere.code, 'EADDRNOTAVAIL')
    t.is(nowhere.errno, -99)
    t.is(nowhere.syscall, 'bind')
    t.is(nowhere.index, 0)
    t.regex(nowhere.message, /has no such address/)
})

test('forwards: argument errors, and where a forward cannot be', (t) => {
  t.throws(() => spawn('/bin/true', [], { ...sandboxed, forwards: {} as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.forwards" property must be an array/ })
  t.throws(() => spawn('/bin/true', [], { ...sandboxed, forwards: [{ port: 0 }] }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.forwards\[0\]\.port"/ })
  t.throws(() => spawn('/bin/true', [], { ...sandboxed, forwards: [{ port: 1, host: '::1' }] }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.forwards\[0\]\.host' must be an IPv4 address/ })
  t.throws(() => spawn('/bin/true', [], { ...sandboxed, forwards: [{ port: 1, target: { port: 70000 } }] }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.forwards\[0\]\.target\.port"/ })
  t.throws(() => spawn('/bin/true', [], { ...sandboxed, forwards: [{ port: 1, allow: 'yes' as never }] }), { code: 'ERR_INVALID_ARG_TYPE', message: /options\.forwards\[0\]\.allow/ })
  // In this process's own network namespace it would only be another listener here.
  t.throws(() => spawn('/bin/true', [], { forwards: [{ port: 1 }] }), { code: 'ERR_INVALID_ARG_VALUE', message: /has none of its own: add 'net' to namespaces/ })
  const many = Array.from({ length: 254 }, (_, i) => ({ port: 1 + i }))
  t.throws(() => spawn('/bin/true', [], { ...sandboxed, forwards: many }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.forwards" is out of range\. It must be at most 253 entries/ })
  // lo left down: the kernel would let it bind, but nothing inside could connect.
  t.throws(() => spawn('/bin/true', [], { ...sandboxed, loopback: false, forwards: [{ port: 1 }] }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.forwards\[0\]\.host' is on lo, which options\.loopback: false leaves down/ })
  // spawnSync() would block the event loop that serves it.
  const sync = t.throws(() => spawnSync('/bin/true', [], { ...sandboxed, forwards: [{ port: 1 }] }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.regex(sync!.message, /is for spawn\(\): forwarded ports are served by this thread's event loop, which spawnSync\(\) blocks/)
})

asRootToo('a forwarded port of a program spawned by uid 4242 in a user namespace of its own', async (t) => {
  const run = await runIsolated(
    `
    const http = await import('node:http');
    const server = http.createServer((q, r) => r.end('hello 4242\\n')).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const c = lc.spawn('/bin/bash', ['-c', ${JSON.stringify(`id -u; ${get(80)}`)}], { namespaces: ['user', 'net'], uidMap: 'root', gidMap: 'root',
      forwards: [{ port: 80, target: { port: server.address().port } }] });
    let out = ''; c.stdout.on('data', (d) => (out += d)); c.stderr.on('data', (d) => (out += d));
    await new Promise((r) => c.on('close', r));
    server.close();
    report({ out, me: process.getuid() });
  `,
    { uid: 4242 },
  )
  const r = ok(t, run) as { out: string; me: number }
  t.is(r.me, 4242)
  // Port 80: the child binds it with the capabilities it has in its own user namespace.
  t.is(r.out, '0\nhello 4242\n')
})

asRootToo('a joined network namespace and a new user namespace: the program is in both, as pid 1 of a new pid namespace', async (t) => {
  await using sb = createSandbox({ namespaces: ['net'] })
  const netns = sb.namespaces.net!
  const r = spawnSync('/bin/sh', ['-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/user; cat /proc/self/uid_map; echo $$'], {
    namespaces: ['user', 'pid', 'mnt'],
    uidMap: [{ inside: 0, outside: 1000, count: 1 }],
    gidMap: [{ inside: 0, outside: 1000, count: 1 }],
    join: { net: netns },
    mounts: [{ type: 'proc', target: '/proc' }],
    encoding: 'utf8',
  })
  t.is(r.error, undefined)
  const [net, user, map, pid] = r.stdout.trim().split('\n')
  t.is(net, `net:[${netns.id.ino}]`)
  t.not(user, fs.readlinkSync('/proc/self/ns/user'))
  t.deepEqual(map!.trim().split(/\s+/), ['0', '1000', '1'])
  t.is(pid, '1')
})

asRootToo('uid 4242 joins the user and network namespaces of its own sandbox with a new user namespace inside; maps for it are refused, saying why', async (t) => {
  const run = await runIsolated(
    `
    const sb = lc.createSandbox({ namespaces: ['user', 'net'] });
    const ns = sb.namespaces;
    const r = lc.spawnSync('/bin/sh', ['-c', 'readlink /proc/self/ns/net /proc/self/ns/user'], { namespaces: ['user'], join: { user: ns.user, net: ns.net }, encoding: 'utf8' });
    const noUser = lc.spawnSync('/bin/true', [], { namespaces: ['user'], join: { net: ns.net } });
    const maps = attempt(() => lc.spawnSync('/bin/true', [], { namespaces: ['user'], uidMap: 'root', join: { user: ns.user, net: ns.net } }));
    report({ out: r.stdout, error: r.error && describe(r.error), net: ns.net.id.ino.toString(), user: ns.user.id.ino.toString(), noUser: noUser.error && { ...describe(noUser.error), step: noUser.error.step }, maps });
    await sb.close();
  `,
    { uid: 4242 },
  )
  const r = ok(t, run) as { out: string; error: unknown; net: string; user: string; noUser: { code: string; errno: number; syscall: string; step: string; message: string }; maps: { code: string; message: string } }
  t.is(r.error, undefined)
  const [net, user] = r.out.trim().split('\n')
  t.is(net, `net:[${r.net}]`)
  // A user namespace of its own, inside the sandbox's.
  t.not(user, `user:[${r.user}]`)
  // Without joining the sandbox's user namespace, the kernel refuses the network one: the advice says what to join.
  t.is(r.noUser.code, 'EPERM')
  t.is(r.noUser.errno, -1)
  t.is(r.noUser.syscall, 'setns')
  t.is(r.noUser.step, 'setns')
  t.regex(r.noUser.message, /needs CAP_SYS_ADMIN over the user namespace that owns it \(join that user namespace first\)/)
  t.is(r.maps.code, 'ERR_INVALID_ARG_VALUE')
  t.regex(r.maps.message, /takes its maps only from a process in the joined namespace/)
})
