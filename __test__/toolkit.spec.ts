import test from 'ava'
import fs from 'node:fs'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import * as lc from '../dist/index.js'
import { asRoot, isSystemError, needs, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const { Namespace, openNamespace, namespaceOf, listNamespaces, netns, inNamespaces } = lc
const root = asRoot('namespaces of other processes, netns and setns need CAP_SYS_ADMIN')

interface Coded {
  name: string
  code?: string
  message: string
}

function caught(f: () => unknown): Coded & SystemErrorShape & { path?: string } {
  try {
    f()
  } catch (e) {
    const err = e as Error & SystemErrorShape
    const { path } = err as { path?: string }
    return { name: err.constructor.name, code: err.code, errno: err.errno, syscall: err.syscall, message: err.message, path }
  }
  throw new Error('expected an error')
}

const inoOf = (path: string): bigint => fs.statSync(path, { bigint: true }).ino

/** A process started by `argv` that has printed `ready`, killed when the test ends. */
async function started(t: { teardown(f: () => void): void }, argv: string[]): Promise<ChildProcess & { pid: number }> {
  const [cmd, ...args] = argv
  const child = spawn(cmd!, [...args, 'sh', '-c', 'echo ready && exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => child.kill('SIGKILL'))
  const ready = once(child.stdout!, 'data').then(([line]) => String(line).trim())
  const exited = once(child, 'exit').then(([code]) => `exited with ${code}`)
  const line = await Promise.race([ready, exited])
  if (line !== 'ready' || child.pid === undefined) throw new Error(`${argv.join(' ')} did not start: ${line}`)
  return child as ChildProcess & { pid: number }
}

/** The one child of `pid` (the process `unshare --fork` runs). */
function childOf(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0])
}

/** Every namespace of every thread of this process. */
function threadNamespaces(pid: number | 'self' = 'self'): Record<string, string> {
  const out: Record<string, string> = {}
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    for (const type of fs.readdirSync(`/proc/${pid}/task/${tid}/ns`)) {
      out[`${tid}/${type}`] = fs.readlinkSync(`/proc/${pid}/task/${tid}/ns/${type}`)
    }
  }
  return out
}

let names = 0
/** A netns name of this run, removed when the test ends whatever happened. */
function netnsName(t: { teardown(f: () => void): void }): string {
  const name = `lc-tk-${process.pid}-${names++}`
  t.teardown(() => {
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' })
    } catch {
      // Removed by the test itself.
    }
  })
  return name
}

// Identity

test('a handle has the fd, type and id of the namespace file; equal for the same namespace', (t) => {
  using byPid = openNamespace(process.pid, 'net')
  using byPath = openNamespace('/proc/self/ns/net')
  const pidfd = lc.pidfdOpen(process.pid)
  try {
    using byPidfd = openNamespace({ pidfd }, 'net')
    t.true(byPidfd.equals(byPid))
  } finally {
    fs.closeSync(pidfd)
  }
  t.is(byPid.type, 'net')
  t.is(byPath.type, 'net')
  const st = fs.statSync('/proc/self/ns/net', { bigint: true })
  t.deepEqual(byPid.id, { dev: st.dev, ino: st.ino })
  t.true(byPid.equals(byPath))
  t.true(byPid.equals({ dev: st.dev, ino: st.ino }))
  t.not(byPid.fd, byPath.fd)
  t.regex(fs.readlinkSync(`/proc/self/fd/${byPid.fd}`), /^net:\[\d+\]$/)
  // Close-on-exec, like every fd Node opens.
  t.regex(fs.readFileSync(`/proc/self/fdinfo/${byPid.fd}`, 'utf8'), /flags:\s+0?2\d{6}/)
})

test('namespaces of different types differ; namespaceOf gives type and id without an fd', (t) => {
  using net = openNamespace(process.pid, 'net')
  using uts = openNamespace(process.pid, 'uts')
  t.false(net.equals(uts))
  const fds = fs.readdirSync('/proc/self/fd').length
  const info = namespaceOf('/proc/self/ns/uts')
  t.is(fs.readdirSync('/proc/self/fd').length, fds)
  t.deepEqual(info, { type: 'uts', id: uts.id })
  t.deepEqual(namespaceOf(process.pid, 'uts'), info)
  t.deepEqual(namespaceOf(uts), info)
  t.is(info.id.ino, inoOf('/proc/self/ns/uts'))
})

root('a process in a new network namespace has another net id and the same uts id', async (t) => {
  const child = await started(t, ['unshare', '--net'])
  using theirs = openNamespace(child.pid, 'net')
  using ours = openNamespace(process.pid, 'net')
  t.false(theirs.equals(ours))
  t.is(theirs.id.ino, inoOf(`/proc/${child.pid}/ns/net`))
  t.deepEqual(namespaceOf(child.pid, 'uts').id, namespaceOf(process.pid, 'uts').id)
})

test('a Namespace works where setns() takes an fd', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      const ns = lc.openNamespace(process.pid, 'uts');
      lc.setns(ns, lc.NEWUTS);
      report({ ok: true, fd: ns.fd >= 0 });
    `),
  )
  t.deepEqual(r, { ok: true, fd: true })
})

// Parents and owners

root('parent() and owner() lead from a nested user namespace up to the initial one', async (t) => {
  // Made by uid 65534: two user namespaces, one inside the other, and a network namespace.
  const child = await started(t, [
    'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
    'unshare', '--user', '--map-root-user', 'unshare', '--user', '--map-root-user', '--net',
  ])
  using initial = openNamespace('/proc/self/ns/user')
  using inner = openNamespace(child.pid, 'user')
  using net = openNamespace(child.pid, 'net')
  using owner = net.owner()
  t.true(owner.equals(inner))
  t.is(net.ownerUid, 65534)
  t.is(inner.ownerUid, 65534)
  using middle = inner.parent()
  t.false(middle.equals(initial))
  t.is(middle.ownerUid, 65534)
  using top = middle.parent()
  t.true(top.equals(initial))
  t.is(top.ownerUid, 0)
  t.true(inner.owner().equals(middle))
  // The initial user namespace has no parent: EPERM, in words.
  isSystemError(t, caught(() => top.parent()), 'EPERM', 'ioctl', /outside the caller's namespace/)
})

root('parent() of a new pid namespace is the caller’s pid namespace', async (t) => {
  const unshare = await started(t, ['unshare', '--pid', '--fork'])
  using inner = openNamespace(childOf(unshare.pid), 'pid')
  using parent = inner.parent()
  t.true(parent.equals(openNamespace(process.pid, 'pid')))
  t.false(inner.equals(parent))
  // Only pid and user namespaces have parents.
  using net = openNamespace(process.pid, 'net')
  isSystemError(t, caught(() => net.parent()), 'EINVAL', 'ioctl', /only pid and user namespaces have a parent/)
})

test('in a user namespace, parent() and owner() beyond it are EPERM with the reason', async (t) => {
  const r = ok(
    t,
    await runIsolated(
      `
      const user = lc.openNamespace(process.pid, 'user');
      const net = lc.openNamespace(process.pid, 'net');
      report({ parent: attempt(() => user.parent()), owner: attempt(() => net.owner()), uid: attempt(() => net.ownerUid) });
    `,
      { prefix: ['unshare', '--user', '--map-root-user'] },
    ),
  ) as Record<string, SystemErrorShape>
  for (const e of [r.parent, r.owner, r.uid]) isSystemError(t, e, 'EPERM', 'ioctl', /lies outside the caller's namespace/)
})

test('as an unprivileged user, namespaces of root’s processes cannot be opened: EACCES with the reason', async (t) => {
  const r = ok(
    t,
    await runIsolated(`report({ pid: attempt(() => lc.openNamespace(${process.pid}, 'net')), path: attempt(() => lc.openNamespace('/proc/${process.pid}/ns/net')) })`, {
      uid: 65534,
    }),
  ) as Record<string, SystemErrorShape>
  isSystemError(t, r.pid, 'EACCES', 'ioctl', /ptrace read access/)
  isSystemError(t, r.path, 'EACCES', 'open', /ptrace read access/)
})

// Errors

test('a closed handle: fd -1, close() again is fine, everything else is ERR_NAMESPACE_CLOSED', (t) => {
  const ns = openNamespace(process.pid, 'uts')
  const fd = ns.fd
  ns.close()
  ns.close()
  t.is(ns.fd, -1)
  t.true(ns.closed)
  t.throws(() => fs.fstatSync(fd), { code: 'EBADF' })
  for (const f of [() => ns.parent(), () => ns.owner(), () => ns.ownerUid, () => inNamespaces({ uts: ns }, () => 1)]) {
    const e = caught(f)
    t.is(e.code, 'ERR_NAMESPACE_CLOSED')
    t.regex(e.message, /uts namespace handle is closed/)
  }
  // Its identity stays readable.
  t.is(ns.type, 'uts')
  t.is(ns.id.ino, inoOf('/proc/self/ns/uts'))
})

test('a namespace of another type than asked for is ERR_NAMESPACE_TYPE_MISMATCH, naming both', (t) => {
  let e = caught(() => openNamespace('/proc/self/ns/net', 'uts'))
  t.like(e, { name: 'Error', code: 'ERR_NAMESPACE_TYPE_MISMATCH' })
  t.is(e.message, '"/proc/self/ns/net" is a net namespace, not a uts namespace')
  using net = openNamespace(process.pid, 'net')
  e = caught(() => namespaceOf(net, 'ipc'))
  t.like(e, { code: 'ERR_NAMESPACE_TYPE_MISMATCH' })
  t.regex(e.message, /is a net namespace, not a ipc namespace/)
  e = caught(() => inNamespaces({ uts: net }, () => 1))
  t.like(e, { code: 'ERR_NAMESPACE_TYPE_MISMATCH' })
  t.regex(e.message, /join\.uts is a net namespace, not a uts namespace/)
})

test('a path that is no namespace is ERR_NOT_A_NAMESPACE; one that does not exist is ENOENT', (t) => {
  let e = caught(() => openNamespace('/etc/hostname', 'net'))
  t.like(e, { name: 'Error', code: 'ERR_NOT_A_NAMESPACE' })
  t.regex(e.message, /^"\/etc\/hostname" is not a namespace \(NS_GET_NSTYPE: ENOTTY\): a namespace file is \/proc\/PID\/ns\/TYPE/)
  e = caught(() => namespaceOf('/proc/self'))
  t.like(e, { code: 'ERR_NOT_A_NAMESPACE' })
  const fd = fs.openSync('/etc/hostname', 'r')
  try {
    t.like(caught(() => new Namespace(fd)), { code: 'ERR_NOT_A_NAMESPACE' })
    t.like(caught(() => inNamespaces({ net: fd }, () => 1)), { code: 'ERR_NOT_A_NAMESPACE' })
  } finally {
    fs.closeSync(fd)
  }
  e = caught(() => openNamespace('/run/netns/lc-no-such-netns'))
  isSystemError(t, e, 'ENOENT', 'open', /there is no file \/run\/netns\/lc-no-such-netns/)
  t.is(e.path, '/run/netns/lc-no-such-netns')
  // A FIFO does not hang the open.
  const dir = fs.mkdtempSync('/tmp/lc-tk-')
  try {
    execFileSync('mkfifo', [`${dir}/fifo`])
    t.like(caught(() => openNamespace(`${dir}/fifo`)), { code: 'ERR_NOT_A_NAMESPACE' })
  } finally {
    fs.rmSync(dir, { recursive: true })
  }
})

test('a pid that does not exist is ESRCH; a pidfd of an exited process too', async (t) => {
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'))
  isSystemError(t, caught(() => openNamespace(pidMax, 'net')), 'ESRCH', 'pidfd_open', new RegExp(`there is no process ${pidMax}`))
  const r = ok(
    t,
    await runIsolated(`
      const child = execFileSync('sh', ['-c', 'sleep 0.01 & echo $!'], { encoding: 'utf8' }).trim();
      const pidfd = lc.pidfdOpen(Number(child));
      while (fs.existsSync('/proc/' + child)) execSync('sleep 0.02');
      report(attempt(() => lc.openNamespace({ pidfd }, 'net')));
    `),
  )
  isSystemError(t, r, 'ESRCH', 'ioctl', /the process behind pidfd \d+ has exited/)
})

test('wrong arguments are TypeErrors with Node’s codes', (t) => {
  t.like(caught(() => openNamespace(process.pid)), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  t.regex(caught(() => openNamespace(process.pid)).message, /"type" argument must be of type string when the target is a process/)
  t.like(caught(() => openNamespace(process.pid, 'mount' as lc.NsType)), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  t.like(caught(() => openNamespace(null as unknown as string)), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  t.like(caught(() => openNamespace(1.5, 'net')), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  t.like(caught(() => inNamespaces({ net: 'x' as unknown as number }, () => 1)), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  t.like(caught(() => inNamespaces({ nett: 3 } as lc.JoinSpec, () => 1)), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  t.like(caught(() => inNamespaces({}, 1 as unknown as () => 1)), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  t.like(caught(() => listNamespaces({ type: 'nett' as lc.NsType })), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  for (const name of ['', '.', '..', 'a/b', 'x'.repeat(256)]) {
    t.like(caught(() => netns.add(name)), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }, name)
    t.like(caught(() => netns.open(name)), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }, name)
  }
})

test('the finalizer closes the fd of a handle dropped without close()', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      // Bun has no --expose-gc; it has Bun.gc().
      let gc;
      if (globalThis.Bun) gc = () => globalThis.Bun.gc(true);
      else {
        const v8 = await import('node:v8');
        const vm = await import('node:vm');
        v8.setFlagsFromString('--expose-gc');
        gc = vm.runInNewContext('gc');
      }
      let fd = (() => lc.openNamespace(process.pid, 'net').fd)();
      const isNs = () => { try { return fs.readlinkSync('/proc/self/fd/' + fd).startsWith('net:') } catch { return false } };
      const before = isNs();
      for (let i = 0; i < 50 && isNs(); i++) { gc(); await new Promise((r) => setTimeout(r, 10)); }
      report({ before, after: isNs() });
    `),
  )
  t.deepEqual(r, { before: true, after: false })
})

// listNamespaces against lsns

interface LsnsEntry {
  ns: number
  type: string
  nprocs: number
  pid: number
  pns: number
  ons: number
}

test('listNamespaces() in a pid namespace of its own: the same ids, process counts, owners and parents as lsns -J', async (t) => {
  // A fresh pid namespace with its own /proc: only this test's processes are there, so the
  // counts cannot change between the two listings. sleep runs in new net, uts and ipc namespaces.
  const r = ok(
    t,
    await runIsolated(
      `
      const { spawn } = await import('node:child_process');
      const other = spawn('unshare', ['--net', '--uts', '--ipc', 'sh', '-c', 'echo ready; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((r) => other.stdout.once('data', r));
      const ours = lc.listNamespaces();
      const netOnly = lc.listNamespaces({ type: 'net' });
      const lsns = JSON.parse(execFileSync('lsns', ['-J', '--output-all'], { encoding: 'utf8' })).namespaces;
      const self = fs.readdirSync('/proc/self/ns').map((t) => fs.statSync('/proc/self/ns/' + t).ino);
      other.kill();
      const slim = (n) => ({ type: n.type, ino: Number(n.id.ino), nprocs: n.nprocs, pids: n.pids, ons: n.userNamespaceId ? Number(n.userNamespaceId.ino) : 0, pns: n.parentId ? Number(n.parentId.ino) : 0, ownerUid: n.ownerUid });
      report({ ours: ours.map(slim), netOnly: netOnly.map(slim), lsns, self, pid: process.pid, other: other.pid });
    `,
      { prefix: ['unshare', '--pid', '--fork', '--mount-proc'] },
    ),
  ) as {
    ours: { type: string; ino: number; nprocs: number; pids: number[]; ons: number; pns: number; ownerUid: number }[]
    netOnly: { type: string; ino: number }[]
    lsns: LsnsEntry[]
    self: number[]
    pid: number
    other: number
  }
  t.is(r.pid, 1)
  // lsns itself is one more process in each of this process's namespaces.
  const expected = r.lsns.map((n) => ({
    type: n.type,
    ino: n.ns,
    nprocs: n.nprocs - (r.self.includes(n.ns) ? 1 : 0),
    ons: n.ons,
    pns: n.pns,
  }))
  const ours = r.ours.map(({ type, ino, nprocs, ons, pns }) => ({ type, ino, nprocs, ons, pns }))
  const byIno = (a: { ino: number }, b: { ino: number }) => a.ino - b.ino
  t.deepEqual(ours.sort(byIno), expected.sort(byIno))
  t.is(ours.length, 8 + 3) // this process's eight, and sleep's net, uts and ipc
  const sleepNet = r.ours.find((n) => n.type === 'net' && n.pids.includes(r.other))!
  t.deepEqual(sleepNet.pids, [r.other])
  t.deepEqual(
    r.netOnly.map((n) => n.ino).sort(),
    r.lsns.filter((n) => n.type === 'net').map((n) => n.ns).sort(),
  )
  t.true(r.ours.every((n) => n.ownerUid === 0))
})

root('listNamespaces() of the whole system has every namespace lsns -J lists whose process lives on', (t) => {
  const lsns = (JSON.parse(execFileSync('lsns', ['-J'], { encoding: 'utf8' })) as { namespaces: LsnsEntry[] }).namespaces
  const ours = listNamespaces()
  // Processes come and go meanwhile (other test files run): compare what outlived both listings.
  const inoNow = (pid: number, type: string): bigint | null => {
    try {
      return inoOf(`/proc/${pid}/ns/${type}`)
    } catch {
      return null
    }
  }
  const alive = lsns.filter((n) => inoNow(n.pid, n.type) === BigInt(n.ns))
  t.true(alive.length >= 8)
  for (const n of alive) {
    const found = ours.find((o) => o.id.ino === BigInt(n.ns))
    t.truthy(found, `lsns lists ${n.type}:[${n.ns}] of pid ${n.pid}`)
    t.is(found?.type, n.type as lc.NsType)
    t.true(found?.pids.includes(n.pid))
  }
  // Every entry is consistent with /proc.
  // Kernel threads never change namespace; other processes (tests running beside) may.
  const kernelThread = (pid: number): boolean => {
    try {
      return pid === 2 || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === '2'
    } catch {
      return false
    }
  }
  let checked = 0
  for (const n of ours) {
    for (const pid of n.pids.filter(kernelThread)) {
      const ino = inoNow(pid, n.type)
      if (ino === null) continue // ended since
      t.is(ino, n.id.ino, `${n.type} of ${pid}`)
      checked++
    }
  }
  t.true(checked >= 8 * 10, `${checked} checked`)
})

// netns, against iproute2

needs('ip', root)('netns.add() makes a namespace that ip netns lists and enters, with only lo; delete() removes it', (t) => {
  const name = netnsName(t)
  netns.add(name)
  t.true(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').some((l) => l.split(' ')[0] === name))
  t.true(netns.list().includes(name))
  const links = execFileSync('ip', ['netns', 'exec', name, 'ip', '-o', 'link'], { encoding: 'utf8' }).trim().split('\n')
  t.is(links.length, 1)
  t.regex(links[0]!, /^1: lo: /)
  const seen = execFileSync('ip', ['netns', 'exec', name, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).trim()
  using ns = netns.open(name)
  t.is(seen, `net:[${ns.id.ino}]`)
  t.false(ns.equals(openNamespace(process.pid, 'net')))
  t.is(execFileSync('findmnt', ['-no', 'PROPAGATION', '/run/netns'], { encoding: 'utf8' }).trim(), 'shared')
  netns.delete(name)
  t.false(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').some((l) => l.split(' ')[0] === name))
  t.false(fs.existsSync(`/run/netns/${name}`))
  t.false(netns.list().includes(name))
  // The namespace lives on while the handle holds it.
  t.deepEqual(namespaceOf(ns), { type: 'net', id: ns.id })
  t.is(`net:[${fs.fstatSync(ns.fd, { bigint: true }).ino}]`, seen)
})

needs('ip', root)('netns.open() and netns.delete() work on what ip netns add made', (t) => {
  const name = netnsName(t)
  execFileSync('ip', ['netns', 'add', name])
  t.true(netns.list().includes(name))
  const seen = execFileSync('ip', ['netns', 'exec', name, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).trim()
  using ns = netns.open(name)
  t.is(`net:[${ns.id.ino}]`, seen)
  t.deepEqual(namespaceOf(`/run/netns/${name}`), { type: 'net', id: ns.id })
  netns.delete(name)
  t.false(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(name))
})

root('netns.add() of a name that exists is EEXIST; delete() or open() of one that does not is ENOENT', (t) => {
  const name = netnsName(t)
  netns.add(name)
  isSystemError(t, caught(() => netns.add(name)), 'EEXIST', 'open', new RegExp(`a network namespace named "${name}" exists already`))
  netns.delete(name)
  isSystemError(t, caught(() => netns.delete(name)), 'ENOENT', 'umount2', new RegExp(`there is no network namespace named "${name}"`))
  isSystemError(t, caught(() => netns.open(name)), 'ENOENT', 'open', /there is no file/)
})

root('unprivileged, netns.add() and delete() are EPERM, naming the capability', async (t) => {
  fs.mkdirSync('/run/netns', { recursive: true })
  const name = netnsName(t)
  netns.add(name)
  const r = ok(
    t,
    await runIsolated(`report({ add: attempt(() => lc.netns.add('lc-tk-eperm')), del: attempt(() => lc.netns.delete('${name}')) })`, {
      uid: 65534,
    }),
  ) as Record<string, SystemErrorShape>
  // /run/netns exists, so it is the mount that fails.
  isSystemError(t, r.add, 'EPERM', 'mount', /mounting needs CAP_SYS_ADMIN/)
  isSystemError(t, r.del, 'EPERM', 'umount2', /unmounting needs CAP_SYS_ADMIN/)
  t.false(fs.existsSync('/run/netns/lc-tk-eperm'))
  t.true(netns.list().includes(name))
})

// inNamespaces

root('inNamespaces({ net }) returns a listening server; the caller reaches it after setns()', async (t) => {
  const name = netnsName(t)
  const r = ok(
    t,
    await runIsolated(`
      const net = await import('node:net');
      lc.netns.add(${JSON.stringify(name)});
      try {
        const ns = lc.netns.open(${JSON.stringify(name)});
        const server = lc.inNamespaces({ net: ns }, () => {
          lc.configureLoopback();
          return net.createServer((s) => s.end('pong from ' + fs.readlinkSync('/proc/thread-self/ns/net'))).listen(0);
        });
        const { port } = server.address();
        const talk = () => new Promise((resolve) => {
          const c = net.connect(port, '127.0.0.1');
          let got = '';
          c.on('data', (d) => (got += d)).on('end', () => resolve(got)).on('error', (e) => resolve(e.code));
        });
        const fromHere = await talk();
        lc.setns(ns, lc.NEWNET);
        const fromThere = await talk();
        server.close();
        report({ fromHere, fromThere, ns: 'net:[' + ns.id.ino + ']' });
      } finally {
        lc.netns.delete(${JSON.stringify(name)});
      }
    `),
  ) as { fromHere: string; fromThere: string; ns: string }
  t.is(r.fromHere, 'ECONNREFUSED')
  // The server's callback runs on the main thread, which setns() moved into the namespace.
  t.is(r.fromThere, `pong from ${r.ns}`)
  t.false(fs.existsSync(`/run/netns/${name}`))
})

root('inNamespaces() enters user, mnt, pid, net, uts, ipc and cgroup at once; no thread of the caller moves', async (t) => {
  const unshare = await started(t, [
    'unshare', '--user', '--map-root-user', '--mount', '--pid', '--fork', '--net', '--uts', '--ipc', '--cgroup',
  ])
  const target = childOf(unshare.pid)
  const r = ok(
    t,
    await runIsolated(`
      const { Worker } = await import('node:worker_threads');
      await fs.promises.readFile('/etc/hostname'); // the threadpool runs
      const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
      await new Promise((r) => w.once('online', r));
      const tasks = () => Object.fromEntries(fs.readdirSync('/proc/self/task').flatMap((tid) =>
        fs.readdirSync('/proc/self/task/' + tid + '/ns').map((t) => [tid + '/' + t, fs.readlinkSync('/proc/self/task/' + tid + '/ns/' + t)])));
      const before = tasks();
      const types = ['user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup'];
      const join = Object.fromEntries(types.map((t) => [t, lc.openNamespace(${target}, t)]));
      const inside = lc.inNamespaces(join, () => ({
        ns: Object.fromEntries(types.map((t) => [t, fs.readlinkSync('/proc/thread-self/ns/' + (t === 'pid' ? 'pid_for_children' : t))])),
        hostname: os.hostname(),
        childPidNs: execSync('readlink /proc/self/ns/pid', { encoding: 'utf8' }).trim(),
        uid: process.getuid(),
      }));
      const after = tasks();
      await fs.promises.readFile('/etc/hostname');
      w.terminate();
      report({ inside, same: JSON.stringify(before) === JSON.stringify(after), threads: Object.keys(before).length / 10 });
    `),
  ) as { inside: { ns: Record<string, string>; hostname: string; childPidNs: string; uid: number }; same: boolean; threads: number }
  for (const [type, link] of Object.entries(r.inside.ns)) t.is(link, fs.readlinkSync(`/proc/${target}/ns/${type}`), type)
  t.is(r.inside.childPidNs, fs.readlinkSync(`/proc/${target}/ns/pid`))
  t.is(r.inside.uid, 0)
  t.true(r.same, 'every thread of the caller keeps its namespaces')
  t.true(r.threads > 5)
})

test('inNamespaces() leaves every thread of the test process where it was', async (t) => {
  await fs.promises.readFile('/etc/hostname')
  const before = threadNamespaces()
  using uts = openNamespace(process.pid, 'uts')
  using user = openNamespace(process.pid, 'user')
  for (let i = 0; i < 20; i++) t.is(inNamespaces({ uts, user }, () => i), i)
  t.deepEqual(threadNamespaces(), before)
})

test('unprivileged: the namespaces a user namespace owns are entered after it', async (t) => {
  const holder = await started(t, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '--user', '--map-root-user', '--net'])
  const r = ok(
    t,
    await runIsolated(
      `
      const user = lc.openNamespace(${holder.pid}, 'user');
      const net = lc.openNamespace(${holder.pid}, 'net');
      const seen = lc.inNamespaces({ net, user }, () => [nsOf('user'), nsOf('net'), process.getuid()]);
      report({ seen, netAlone: attempt(() => lc.inNamespaces({ net }, () => 1)) });
    `,
      { uid: 65534 },
    ),
  ) as { seen: [string, string, number]; netAlone: SystemErrorShape }
  t.deepEqual(r.seen, [fs.readlinkSync(`/proc/${holder.pid}/ns/user`), fs.readlinkSync(`/proc/${holder.pid}/ns/net`), 0])
  isSystemError(t, r.netAlone, 'EPERM', 'setns', /needs CAP_SYS_ADMIN/)
})

test('an exception inside fn is rethrown in the caller: the same object, with its stack', (t) => {
  using uts = openNamespace(process.pid, 'uts')
  let thrown: unknown
  const err = t.throws(
    () =>
      inNamespaces({ uts }, function insideTheNamespace() {
        thrown = new RangeError('from inside')
        throw thrown
      }),
    { instanceOf: RangeError, message: 'from inside' },
  )
  t.is(err, thrown as RangeError)
  t.regex(err!.stack ?? '', /at insideTheNamespace /)
})

test('fn returning a Promise is refused with ERR_IN_NAMESPACES_ASYNC; its rejection does not surface', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      const uts = lc.openNamespace(process.pid, 'uts');
      const a = attempt(() => lc.inNamespaces({ uts }, async () => { throw new Error('late') }));
      const b = attempt(() => lc.inNamespaces({ uts }, () => ({ then() {} })));
      await new Promise((r) => setTimeout(r, 50));
      report({ a, b });
    `),
  ) as Record<string, Coded>
  for (const e of [r.a, r.b]) {
    t.is(e.name, 'TypeError')
    t.is(e.code, 'ERR_IN_NAMESPACES_ASYNC')
    t.regex(e.message, /fn returned a Promise.*only synchronous work runs inside the namespaces/)
  }
})

test('fn that ends its child (process.exit) is ERR_IN_NAMESPACES_CHILD_EXITED in the caller', async (t) => {
  // In a process of its own: ava wraps process.exit, and the wrapper would run in the child.
  const run = await runIsolated(`
    const uts = lc.openNamespace(process.pid, 'uts');
    report(attempt(() => lc.inNamespaces({ uts }, () => process.exit(3))));
  `)
  const e = ok(t, run) as { code: string; message: string }
  t.is(e.code, 'ERR_IN_NAMESPACES_CHILD_EXITED')
  t.regex(e.message, /exited with 3 before fn returned/)
})

root('a time namespace other than the caller’s cannot be joined (EUSERS); the caller’s own is a no-op', async (t) => {
  const unshare = await started(t, ['unshare', '--time', '--fork'])
  using other = openNamespace(childOf(unshare.pid), 'time')
  using own = openNamespace(process.pid, 'time')
  t.false(other.equals(own))
  isSystemError(t, caught(() => inNamespaces({ time: other }, () => 1)), 'EUSERS', 'setns', /failed: inNamespaces\(\) runs fn in a child that shares this process's memory.*nsenter/)
  t.is(inNamespaces({ time: own }, () => 2), 2)
})
