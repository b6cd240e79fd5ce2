import test from 'ava'
import fs from 'node:fs'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { createSandbox, probe, SpawnError, type SandboxOptions, type MountEntry } from '../dist/index.js'
import { entry, isRoot, ok, root, runIsolated } from './_helpers.js'

const userns = probe().userNamespaces
const why = !userns.ok ? `user namespaces are off: ${userns.cause}` : undefined
if (why) console.log(`skipping the sandbox tests: ${why}`)
const maybe = why ? test.skip : test
const asRootToo = why || !isRoot ? test.skip : test
if (!isRoot) console.log('skipping the sandbox tests that map ranges of ids or run as uid 4242: they need root')

/** The host's /usr read-only and the top-level links into it, as a root built on a tmpfs. */
function usr(): MountEntry[] {
  const mounts: MountEntry[] = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64']) {
    let st: fs.Stats
    try {
      st = fs.lstatSync(`/${name}`)
    } catch {
      continue
    }
    if (st.isSymbolicLink()) mounts.push({ type: 'symlink', target: `/${name}`, linkTo: fs.readlinkSync(`/${name}`) })
    else if (st.isDirectory()) mounts.push({ type: 'bind', source: `/${name}`, target: `/${name}`, readonly: true })
  }
  return mounts
}

const box = (extra: SandboxOptions = {}): SandboxOptions => ({
  rootfs: 'tmpfs',
  mounts: [...usr(), { type: 'proc' }, { type: 'dev' }, { type: 'tmpfs', target: '/tmp' }, { type: 'dir', target: '/work' }],
  hostname: 'box',
  ...extra,
})

const field = (status: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]
const threads = () => Number(field(fs.readFileSync('/proc/self/status', 'utf8'), 'Threads'))

maybe('a run joins the sandbox: its root, hostname, pid namespace (init is pid 1) and network', async (t) => {
  await using sb = createSandbox(box())
  t.true(sb.pid > 0)
  t.true(sb.pidfd >= 0)
  t.deepEqual(Object.keys(sb.namespaces).sort(), ['ipc', 'mnt', 'net', 'pid', 'user', 'uts'])
  t.is(sb.namespaces.net!.type, 'net')
  const r = sb.spawnSync('/bin/sh', ['-c', 'hostname; cat /proc/1/comm; ls /; ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1'], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').map((l) => l.trim())
  t.is(lines[0], 'box')
  t.is(lines[1], 'init')
  t.true(lines.includes('work'))
  t.false(lines.includes('home'))
  t.is(lines.at(-1), 'lo')
  // The namespace handles are the run's namespaces.
  const seen = sb.spawnSync('/bin/readlink', ['/proc/self/ns/net', '/proc/self/ns/mnt'], { encoding: 'utf8' }).stdout.trim().split('\n')
  t.is(seen[0], `net:[${sb.namespaces.net!.id.ino}]`)
  t.is(seen[1], `mnt:[${sb.namespaces.mnt!.id.ino}]`)
})

asRootToo('every per-run option is seen from inside: ids, capabilities, seccomp, rlimits, cwd, env, umask, no_new_privs', async (t) => {
  await using sb = createSandbox(box({ uidMap: [{ inside: 0, outside: 0, count: 65536 }], gidMap: [{ inside: 0, outside: 0, count: 65536 }] }))
  const script = 'id -u; id -g; id -G; grep -E "^(CapEff|CapBnd|Seccomp|NoNewPrivs):" /proc/self/status; ulimit -n; pwd; echo "$GREETING"; umask'
  const r = sb.spawnSync('/bin/sh', ['-c', script], {
    encoding: 'utf8',
    uid: 1000,
    gid: 1001,
    groups: [1002],
    capabilities: { keep: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] },
    seccomp: { defaultAction: 'allow', rules: [{ syscalls: ['mknod'], action: { errno: 'EPERM' } }] },
    rlimits: { nofile: { soft: 77 } },
    cwd: '/work',
    env: { GREETING: 'hello', PATH: '/usr/bin:/bin' },
    umask: 0o027,
    noNewPrivs: true,
  })
  t.is(r.status, 0, r.stderr)
  const out = r.stdout.trim().split('\n')
  t.deepEqual(out.slice(0, 3), ['1000', '1001', '1001 1002'])
  const status = out.slice(3, 7).join('\n')
  t.is(field(status, 'CapEff'), '0000000000000400')
  t.is(field(status, 'Seccomp'), '2')
  t.is(field(status, 'NoNewPrivs'), '1')
  t.deepEqual(out.slice(7), ['77', '/work', 'hello', '0027'])
  // Another run gets none of it: the defaults (uid 0 with every capability in the namespace).
  const plain = sb.spawnSync('/bin/sh', ['-c', 'id -u; grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status; pwd'], { encoding: 'utf8' })
  t.deepEqual(plain.stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['0', 'NoNewPrivs: 0', 'Seccomp: 0', '/'])
})

maybe('the init reaps what runs leave behind: no zombie stays in the sandbox', async (t) => {
  await using sb = createSandbox(box())
  t.is(sb.spawnSync('/bin/sh', ['-c', 'sleep 0.5 & exit 0']).status, 0)
  const states = () => sb.spawnSync('/bin/sh', ['-c', 'cat /proc/[0-9]*/stat'], { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.split(' ').slice(1, 3).join(' '))
  // The orphan may still be a forked sh that has not exec'd sleep yet, on a loaded machine.
  let seen = states()
  for (let i = 0; i < 50 && !seen.includes('(sleep) S'); i++) seen = states()
  t.true(seen.includes('(sleep) S'), seen.join(', '))
  // The orphaned sleep ends; its parent is now the init, which reaps it.
  for (let i = 0; i < 400 && seen.some((s) => s.startsWith('(sleep)')); i++) {
    await new Promise((r) => setTimeout(r, 20))
    seen = states()
  }
  t.deepEqual(seen.filter((s) => !s.startsWith('(sh)') && !s.startsWith('(cat)')), ['(init) S'])
})

/** Where cgroup v2 is mounted here, if it is. */
const cgroup2 = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => / - cgroup2 /.test(l))?.split(' ')[4]
if (!cgroup2) console.log('skipping the sandbox cgroup test: no cgroup v2 mount here')
;(why || !isRoot || !cgroup2 ? test.skip : test)('the sandbox\'s cgroup: its init and every run start in it', async (t) => {
  const dir = fs.mkdtempSync(path.join(cgroup2!, 'lc-sandbox-'))
  t.teardown(() => fs.rmdirSync(dir))
  const name = `0::/${path.relative(cgroup2!, dir)}`
  {
    await using sb = createSandbox({ namespaces: ['user', 'pid'], cgroup: dir })
    t.true(fs.readFileSync(`/proc/${sb.pid}/cgroup`, 'utf8').split('\n').includes(name))
    const r = sb.spawnSync('/bin/sh', ['-c', 'grep ^0:: /proc/self/cgroup'], { encoding: 'utf8' })
    t.is(r.stdout, `${name}\n`)
  }
})

maybe('defaults apply to every run, a run overrides them; relative cwd is inside the sandbox', async (t) => {
  await using sb = createSandbox(box({ defaults: { cwd: '/work', env: { A: 'default', B: 'kept' } } }))
  const r = sb.spawnSync('/bin/sh', ['-c', 'echo "$A $B"; pwd'], { encoding: 'utf8' })
  t.deepEqual(r.stdout.trim().split('\n'), ['default kept', '/work'])
  const o = sb.spawnSync('/bin/sh', ['-c', 'echo "$A"; pwd'], { encoding: 'utf8', env: { A: 'mine' }, cwd: '..' })
  t.deepEqual(o.stdout.trim().split('\n'), ['mine', '/'])
})

maybe('timeout, killSignal and an AbortSignal end a run; the sandbox stays', async (t) => {
  await using sb = createSandbox(box())
  const r = sb.spawnSync('/bin/sleep', ['10'], { timeout: 100, killSignal: 'SIGKILL' })
  t.is(r.signal, 'SIGKILL')
  t.is(r.error?.code, 'ETIMEDOUT')
  const ac = new AbortController()
  const child = sb.spawn('/bin/sleep', ['10'], { signal: ac.signal })
  await once(child, 'spawn')
  const failed = once(child, 'error')
  ac.abort()
  const [err] = await failed
  t.is((err as Error).name, 'AbortError')
  const exit = await child.exited
  t.is(exit.signal, 'SIGTERM')
  t.is(sb.spawnSync('/bin/true').status, 0)
})

maybe('options that would rebuild the sandbox are refused by name', async (t) => {
  await using sb = createSandbox(box())
  for (const key of ['namespaces', 'mounts', 'rootfs', 'uidMap', 'hostname']) {
    const e = t.throws(() => sb.spawn('/bin/true', [], { [key]: ['x'] } as never), { code: 'ERR_INVALID_ARG_VALUE' })
    t.regex(e!.message, new RegExp(`'options\\.${key}' builds the sandbox`))
  }
  const j = t.throws(() => sb.spawnSync('/bin/true', { join: { net: 3 } } as never), { code: 'ERR_INVALID_ARG_VALUE' })
  t.regex(j!.message, /'options\.join' is fixed/)
  const c = t.throws(() => createSandbox({ seccomp: 'default' } as never), { code: 'ERR_INVALID_ARG_VALUE' })
  t.regex(c!.message, /'options\.seccomp' applies to a run/)
  t.throws(() => createSandbox({ namespaces: ['bogus'] } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /namespaces\[0\]/ })
})

maybe('a build that fails throws a SpawnError naming the step', (t) => {
  const e = t.throws(() => createSandbox({ rootfs: 'tmpfs', mounts: [{ type: 'bind', source: '/nonexistent-source-dir', target: '/x' }] }))
  t.true(e instanceof SpawnError)
  const s = e as SpawnError
  t.is(s.step, 'mount')
  t.is(s.code, 'ENOENT')
  t.is(s.errno, -2)
  t.truthy(s.syscall)
  t.regex(s.message, /nonexistent-source-dir/)
})

maybe('two sandboxes see neither the other\'s files, processes nor network', async (t) => {
  await using a = createSandbox(box())
  await using b = createSandbox(box())
  t.is(a.spawnSync('/bin/sh', ['-c', 'echo a > /tmp/mine && ip link add dummy0 type dummy 2>/dev/null; true']).status, 0)
  const sleeper = a.spawn('/bin/sleep', ['30'])
  await once(sleeper, 'spawn')
  const seenB = b.spawnSync('/bin/sh', ['-c', 'ls /tmp; echo ---; ls /proc | grep -E "^[0-9]+$"; echo ---; cat /proc/net/dev | tail -n +3 | cut -d: -f1'], { encoding: 'utf8' })
  const [files, procs, ifaces] = seenB.stdout.split('---\n').map((s) => s.trim().split('\n').filter(Boolean).map((l) => l.trim()))
  t.deepEqual(files, [])
  // Only its init (1) and the shell itself with its pipeline.
  t.true(procs!.includes('1'))
  t.false(procs!.some((p) => Number(p) > 10), procs!.join(' '))
  t.deepEqual(ifaces, ['lo'])
  const seenA = a.spawnSync('/bin/sh', ['-c', 'cat /tmp/mine; ls /proc | grep -cE "^[0-9]+$"'], { encoding: 'utf8' })
  t.deepEqual(seenA.stdout.trim().split('\n').slice(0, 1), ['a'])
  t.not(a.namespaces.net!.id.ino, b.namespaces.net!.id.ino)
  sleeper.kill('SIGKILL')
  await sleeper.exited
})

maybe('a failed run (ENOENT) leaves the sandbox usable', async (t) => {
  await using sb = createSandbox(box())
  const r = sb.spawnSync('/no/such/program')
  t.true(r.error instanceof SpawnError)
  t.is(r.error?.code, 'ENOENT')
  t.is(r.error?.errno, -2)
  t.is(r.error?.step, 'execve')
  const child = sb.spawn('/no/such/program')
  const [err] = await once(child, 'error')
  t.is((err as SpawnError).step, 'execve')
  t.is(sb.spawnSync('/bin/sh', ['-c', 'echo ok'], { encoding: 'utf8' }).stdout, 'ok\n')
})

// Serial: it counts this process's threads, which a concurrent Worker test would change.
;(why ? test.skip : test.serial)('200 concurrent runs in one sandbox, with no thread per run', async (t) => {
  await using sb = createSandbox(box())
  const before = threads()
  const runs = Array.from({ length: 200 }, (_, i) => {
    const c = sb.spawn('/bin/sh', ['-c', `echo ${i}`])
    let out = ''
    c.stdout!.on('data', (d) => (out += d))
    return new Promise<string>((resolve, reject) => {
      c.on('error', reject)
      c.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`run ${i}: ${code}`))))
    })
  })
  const during = threads()
  const outs = await Promise.all(runs)
  t.deepEqual(outs, Array.from({ length: 200 }, (_, i) => String(i)))
  t.true(during - before <= 4, `threads ${before} -> ${during}`)
  t.true(threads() - before <= 4, `threads ${before} -> ${threads()}`)
})

maybe('the init killed from outside: closed settles with why, runs are refused', async (t) => {
  const sb = createSandbox(box())
  process.kill(sb.pid, 'SIGKILL')
  const end = await sb.closed
  t.is(end.reason, 'died')
  t.is(end.signal, 'SIGKILL')
  t.regex(end.message, /init \(pid \d+\) died: it was killed by SIGKILL/)
  t.true(sb.isClosed)
  t.is(sb.pidfd, -1)
  for (const run of [() => sb.spawn('/bin/true'), () => sb.spawnSync('/bin/true')]) {
    const e = t.throws(run, { code: 'ERR_SANDBOX_CLOSED' })
    t.regex(e!.message, /can run nothing more: .*killed by SIGKILL/)
    t.is((e!.cause as { reason: string }).reason, 'died')
  }
  t.is((await sb.close()).reason, 'died')
})

maybe('a run that races the init\'s death fails at setns with ESRCH, saying why', async (t) => {
  const sb = createSandbox(box())
  process.kill(sb.pid, 'SIGKILL')
  // Dead (a zombie, or reaped by the package's reaper thread), but the exit has not been
  // reported to this thread yet: that needs a turn of its event loop.
  const dead = () => {
    try {
      return /^ Z/.test(fs.readFileSync(`/proc/${sb.pid}/stat`, 'utf8').split(')')[1]!)
    } catch {
      return true
    }
  }
  while (!dead()) {
    // a few microseconds at most
  }
  t.false(sb.isClosed)
  const r = sb.spawnSync('/bin/true')
  t.true(r.error instanceof SpawnError)
  t.is(r.error?.step, 'setns')
  t.is(r.error?.code, 'ESRCH')
  t.is(r.error?.errno, -3)
  t.is(r.error?.syscall, 'setns')
  t.regex(r.error?.message ?? '', /the sandbox's init \(pid \d+\) has died, so the sandbox can run nothing more$/)
  const child = sb.spawn('/bin/true')
  const [err] = await once(child, 'error')
  t.is((err as SpawnError).step, 'setns')
  t.regex((err as Error).message, /has died, so the sandbox can run nothing more$/)
  t.is((await sb.closed).reason, 'died')
})

maybe('close() with runs still going kills them all', async (t) => {
  const sb = createSandbox(box())
  const runs = [sb.spawn('/bin/sleep', ['60']), sb.spawn('/bin/sh', ['-c', 'sleep 60 & wait'])]
  await Promise.all(runs.map((r) => once(r, 'spawn')))
  const end = await sb.close()
  t.is(end.reason, 'close')
  t.is(end.signal, 'SIGKILL')
  const exits = await Promise.all(runs.map((r) => r.exited))
  t.deepEqual(exits.map((e) => e.signal), ['SIGKILL', 'SIGKILL'])
  t.throws(() => sb.spawnSync('/bin/true'), { code: 'ERR_SANDBOX_CLOSED' })
  // Its handles went with it.
  t.true(Object.values(sb.namespaces).every((ns) => ns.closed))
  t.is(sb.pidfd, -1)
})

maybe('a Worker creates, uses and closes sandboxes', async (t) => {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import(${JSON.stringify(entry)}).then(async (lc) => {
       const seen = [];
       for (let i = 0; i < 3; i++) {
         const sb = lc.createSandbox({ namespaces: ['user', 'pid', 'net', 'uts'], hostname: 'w' + i });
         seen.push(sb.spawnSync('/bin/hostname', { encoding: 'utf8' }).stdout.trim());
         seen.push((await sb.close()).reason);
       }
       // One left open, not keeping the Worker alive: it goes when the Worker's thread exits.
       const left = lc.createSandbox({ namespaces: ['user', 'pid'] });
       left.unref();
       parentPort.postMessage([seen, left.pid]);
     }, (e) => parentPort.postMessage(String(e)));`,
    { eval: true },
  )
  // Listened for now: the Worker may end before its message is handled here.
  const exited = once(worker, 'exit')
  const [[seen, left]] = await once(worker, 'message')
  t.deepEqual(seen, ['w0', 'close', 'w1', 'close', 'w2', 'close'])
  await exited
  // Killed at the Worker's exit, reaped by the package's reaper thread.
  let gone = false
  for (let i = 0; i < 100 && !gone; i++) {
    gone = !fs.existsSync(`/proc/${left}`)
    if (!gone) await new Promise((r) => setTimeout(r, 20))
  }
  t.true(gone, `the init ${left} outlived its Worker`)
})

maybe('nothing is left on the host: mounts, /tmp, fds, processes', async (t) => {
  // A /tmp of its own, so that nobody else's files come and go in the listing; a checkout of
  // this package, or the runtime, under /tmp (CI's clone and its Node and Bun builds may be
  // there) is bound back into it.
  const keep = [root.replace(/\/$/, ''), path.dirname(process.execPath)].filter((d) => d.startsWith('/tmp/'))
  const binds = keep.map((d) => ` && mkdir -p '${d}' && mount --bind '/mnt/${d.slice(5)}' '${d}'`).join('')
  const setup = `mount --bind /tmp /mnt && mount -t tmpfs lc-test /tmp${binds} && exec "$@"`
  const prefix = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', setup, 'sh']
  const run = await runIsolated(
    `
    const snap = () => ({
      mounts: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
      tmp: fs.readdirSync('/tmp').sort(),
      // What a sandbox holds (pidfds, namespaces, sockets, pipes), not the event loop's own
      // (epoll, eventfd, io_uring), which Node may open late.
      fds: fs.readdirSync('/proc/self/fd').map((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd) } catch { return '' } })
        .filter((l) => !/^anon_inode:\\[(eventpoll|eventfd|io_uring|timerfd)\\]$/.test(l)).length,
      children: fs.readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim(),
    });
    const usr = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }];
    for (const n of ['bin', 'lib', 'lib64']) { try { usr.push({ type: 'symlink', target: '/' + n, linkTo: fs.readlinkSync('/' + n) }) } catch {} }
    // The first sandbox starts the package's reaper thread (its fds stay): not counted.
    const once = async (i) => {
      const sb = lc.createSandbox({ rootfs: 'tmpfs', mounts: [...usr, { type: 'tmpfs', target: '/tmp' }, { type: 'proc' }] });
      sb.spawnSync('/bin/sh', ['-c', 'echo x > /tmp/f']);
      const c = sb.spawn('/bin/sleep', ['30']);
      await new Promise((r) => c.once('spawn', r));
      await sb.close();
      await c.exited;
    };
    await once();
    const before = snap();
    for (let i = 0; i < 3; i++) await once();
    // The reaper thread closes a sandbox's pidfds as it reaps: give it a moment.
    for (let i = 0; i < 100 && snap().fds > before.fds; i++) await new Promise((r) => setTimeout(r, 20));
    report({ before, after: snap() });
  `,
    { prefix },
  )
  const r = ok(t, run) as { before: { fds: number }; after: { fds: number } }
  // No more fds than before (the reaper may close its own late, never keep more).
  t.true(r.after.fds <= r.before.fds, `${r.after.fds} fds after, ${r.before.fds} before`)
  t.deepEqual({ ...r.after, fds: 0 }, { ...r.before, fds: 0 })
})

asRootToo('unprivileged: a sandbox as uid 4242 in a user namespace of its own', async (t) => {
  const run = await runIsolated(
    `
    const sb = lc.createSandbox({ rootfs: 'tmpfs', mounts: [{ type: 'bind', source: '/usr', target: '/usr', readonly: true },
      ...['bin', 'lib', 'lib64'].flatMap((n) => { try { return [{ type: 'symlink', target: '/' + n, linkTo: fs.readlinkSync('/' + n) }] } catch { return [] } }),
      { type: 'proc' }, { type: 'tmpfs', target: '/tmp' }], hostname: 'mine' });
    const r = sb.spawnSync('/bin/sh', ['-c', 'id -u; hostname; grep CapEff /proc/self/status; cat /proc/self/uid_map'], { encoding: 'utf8' });
    const c = sb.spawnSync('/bin/sh', ['-c', 'grep CapEff /proc/self/status'], { encoding: 'utf8', uid: 0, capabilities: { keep: 'none' } });
    const end = await sb.close();
    report({ out: r.stdout.trim().split('\\n').map((l) => l.replace(/\\s+/g, ' ').trim()), status: r.status, err: r.stderr, none: c.stdout.trim(), reason: end.reason, me: process.getuid() });
  `,
    { uid: 4242 },
  )
  const r = ok(t, run) as { out: string[]; status: number; err: string; none: string; reason: string; me: number }
  t.is(r.me, 4242)
  t.is(r.status, 0, r.err)
  t.deepEqual(r.out.slice(0, 2), ['0', 'mine'])
  t.regex(r.out[2]!, /^CapEff: 000001ffffffffff|^CapEff: 0000003fffffffff|^CapEff: [0-9a-f]+$/)
  t.not(r.out[2], 'CapEff: 0000000000000000')
  t.is(r.out[3], '0 4242 1')
  t.regex(r.none, /^CapEff:\s+0000000000000000$/)
  t.is(r.reason, 'close')
})

/** Runs a bash script in the sandbox; its exit code and everything it printed. */
function bash(sb: ReturnType<typeof createSandbox>, script: string): Promise<[number | null, string]> {
  return new Promise((resolve, reject) => {
    const c = sb.spawn('/bin/bash', ['-c', script])
    let out = ''
    c.stdout!.on('data', (d) => (out += d))
    c.stderr!.on('data', (d) => (out += d))
    c.on('error', reject)
    c.on('close', (code) => resolve([code, out]))
  })
}
const get = (port: number) => `exec 3<>/dev/tcp/127.0.0.1/${port} || exit 9; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; while IFS= read -r l <&3; do last=$l; done; echo "$last"`
const hasBash = fs.existsSync('/usr/bin/bash') || fs.existsSync('/bin/bash')
const maybeBash = why || !hasBash ? test.skip : test
if (!hasBash) console.log('skipping the forwarded port tests: they connect with bash\'s /dev/tcp, and bash is not installed')

async function hostServer(t: { teardown(fn: () => void): void }): Promise<number> {
  const server = http.createServer((_req, res) => res.end('hello from the host\n'))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return (server.address() as net.AddressInfo).port
}

// Serial: it counts this process's fds, which concurrent tests would change.
;(why || !hasBash ? test.skip : test.serial)('a forwarded port: a program inside reaches a host HTTP server only through it; 1,000 connections leak nothing', async (t) => {
  const hostPort = await hostServer(t)
  await using sb = createSandbox(box())
  // Without the forward, the host's loopback is not the sandbox's.
  t.deepEqual(await bash(sb, `${get(hostPort)}`), [9, `/bin/bash: connect: Connection refused\n/bin/bash: line 1: /dev/tcp/127.0.0.1/${hostPort}: Connection refused\n`])
  const f = sb.forward({ port: 3128 }, { host: '127.0.0.1', port: hostPort })
  t.is(f.port, 3128)
  t.deepEqual(await bash(sb, get(3128)), [0, 'hello from the host\n'])
  const fds = () => fs.readdirSync('/proc/self/fd').length
  const before = fds()
  const loop = `n=0; for i in $(seq 1000); do exec 3<>/dev/tcp/127.0.0.1/3128 || exit 1; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; while IFS= read -r l <&3; do :; done; exec 3>&-; n=$((n+1)); done; echo $n`
  t.deepEqual(await bash(sb, loop), [0, '1000\n'])
  // The last connection's close may still be on its way through the event loop.
  for (let i = 0; i < 50 && (f.connections > 0 || fds() > before); i++) await new Promise((r) => setTimeout(r, 20))
  t.is(f.connections, 0)
  // At most as many as before: other tests' teardowns may close fds of this process meanwhile.
  t.true(fds() <= before, `${fds()} fds, ${before} before`)
  await f.close()
  t.deepEqual(await bash(sb, get(3128)), [9, '/bin/bash: connect: Connection refused\n/bin/bash: line 1: /dev/tcp/127.0.0.1/3128: Connection refused\n'])
})

maybeBash('a forward to a unix socket, an allow callback that refuses, and no spawnSync while a forward is open', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-forward-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const sock = path.join(dir, 'proxy.sock')
  const server = http.createServer((_req, res) => res.end('via unix socket\n')).listen(sock)
  await once(server, 'listening')
  t.teardown(() => server.close())
  await using sb = createSandbox(box())
  const peers: string[] = []
  let admit: boolean | 'throw' = true
  const allow = (peer: { remoteAddress: string }) => {
    peers.push(peer.remoteAddress)
    if (admit === 'throw') throw new Error('allow failed')
    return admit
  }
  const f = sb.forward({ port: 8080, allow }, { path: sock })
  t.deepEqual(await bash(sb, get(8080)), [0, 'via unix socket\n'])
  // Reading first, without writing: the reset is what the read sees.
  const listenOnly = 'exec 3<>/dev/tcp/127.0.0.1/8080 || exit 9; read -r l <&3; echo "read status $?"'
  admit = false
  const [, refused] = await bash(sb, listenOnly)
  // stdout and stderr arrive in either order.
  t.regex(refused, /Connection reset by peer/)
  t.regex(refused, /^read status 1$/m)
  // A callback that throws refuses too, and reaches 'error' listeners.
  admit = 'throw'
  const failed = once(f, 'error')
  const [, thrown] = await bash(sb, listenOnly)
  t.regex(thrown, /Connection reset by peer/)
  t.regex(thrown, /^read status 1$/m)
  t.is(((await failed)[0] as Error).message, 'allow failed')
  t.deepEqual(peers, ['127.0.0.1', '127.0.0.1', '127.0.0.1'])
  const e = t.throws(() => sb.spawnSync('/bin/true'), { code: 'ERR_SANDBOX_FORWARD_SYNC' })
  t.regex(e!.message, /served by this thread's event loop, which spawnSync\(\) blocks/)
  // The same port twice: the kernel's answer, said in words.
  const twice = t.throws(() => sb.forward({ port: 8080 }), { code: 'EADDRINUSE' }) as Error & { errno: number; syscall: string }
  t.is(twice.errno, -98)
  t.is(twice.syscall, 'bind')
  t.regex(twice.message, /bind\(127\.0\.0\.1:8080\) in the sandbox's network namespace failed: something in the sandbox's network namespace already listens on that port/)
  // An address the sandbox does not have.
  const nowhere = t.throws(() => sb.forward({ port: 8081, host: '192.0.2.1' }), { code: 'EADDRNOTAVAIL' }) as Error & { errno: number; syscall: string }
  t.is(nowhere.errno, -99)
  t.is(nowhere.syscall, 'bind')
  t.regex(nowhere.message, /bind\(192\.0\.2\.1:8081\) in the sandbox's network namespace failed: the sandbox's network namespace has no such address/)
  t.throws(() => sb.forward({ port: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sb.forward({ port: 80, host: '::1' }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.host' must be an IPv4 address/ })
  await f.close()
  t.is(sb.spawnSync('/bin/true').status, 0)
  await sb.close()
  t.throws(() => sb.forward({ port: 1 }), { code: 'ERR_SANDBOX_CLOSED' })
})

maybeBash('a forward without a target: each connection is a \'connection\' event, reset if nobody listens', async (t) => {
  await using sb = createSandbox(box())
  const f = sb.forward({ port: 7000 })
  const read = 'exec 3<>/dev/tcp/127.0.0.1/7000 || exit 9; read -r l <&3; echo "got $l"'
  const out = (await bash(sb, read))[1]
  t.regex(out, /Connection reset by peer/)
  t.regex(out, /^got $/m)
  f.on('connection', (socket: net.Socket) => socket.end(`hello ${socket.remoteAddress}\n`))
  t.deepEqual(await bash(sb, read), [0, 'got hello 127.0.0.1\n'])
  await f.close()
  t.is(f.connections, 0)
})

asRootToo('a forwarded port in a sandbox of uid 4242', async (t) => {
  const run = await runIsolated(
    `
    const http = await import('node:http');
    const server = http.createServer((q, r) => r.end('hello 4242\\n')).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const sb = lc.createSandbox({ rootfs: 'tmpfs', mounts: [{ type: 'bind', source: '/usr', target: '/usr', readonly: true },
      ...['bin', 'lib', 'lib64'].flatMap((n) => { try { return [{ type: 'symlink', target: '/' + n, linkTo: fs.readlinkSync('/' + n) }] } catch { return [] } })] });
    const f = sb.forward({ port: 3128 }, { port: server.address().port });
    const c = sb.spawn('/bin/bash', ['-c', ${JSON.stringify(get(3128))}]);
    let out = ''; c.stdout.on('data', (d) => (out += d));
    await new Promise((r) => c.on('close', r));
    await f.close(); await sb.close(); server.close();
    report({ out, me: process.getuid() });
  `,
    { uid: 4242 },
  )
  const r = ok(t, run) as { out: string; me: number }
  t.is(r.me, 4242)
  t.is(r.out, 'hello 4242\n')
})

maybe('a run with a terminal: its pty comes from the sandbox\'s own devpts, typed commands run, resize reaches it', async (t) => {
  await using sb = createSandbox(box())
  const c = sb.spawn('/bin/sh', ['-i'], { terminal: { cols: 80, rows: 24 }, env: { PATH: '/usr/bin:/bin', PS1: '$ ' } })
  let out = ''
  c.terminal!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const until = async (re: RegExp) => {
    for (let i = 0; i < 250 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 20))
    t.regex(out, re)
  }
  c.terminal!.write('tty; ls /dev/pts; stty size\n')
  await until(/\/dev\/pts\/0\r?\n0\s+ptmx\r?\n24 80/)
  t.true(c.resize(100, 30))
  const closed = once(c, 'close')
  c.terminal!.write('stty size; exit 3\n')
  await until(/30 100/)
  const [code] = await closed
  t.is(code, 3)
})
