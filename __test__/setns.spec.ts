import test from 'ava'
import fs from 'node:fs'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { NEWNET, NEWUTS, setns } from '../dist/index.js'
import { asRoot, isSystemError, needs, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const root = asRoot('entering namespaces needs CAP_SYS_ADMIN')

/** A process started by unshare(1) in new UTS and network namespaces, set up and waiting. */
async function target(): Promise<ChildProcess & { pid: number }> {
  const child = spawn(
    'unshare',
    ['--uts', '--net', 'sh', '-c', 'hostname lc-target && ip link add lc-br0 type bridge && echo ready && exec sleep 60'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const ready = once(child.stdout!, 'data').then(([line]) => String(line).trim())
  const exited = once(child, 'exit').then(([code]) => `exited with ${code}`)
  const line = await Promise.race([ready, exited])
  if (line !== 'ready' || child.pid === undefined) throw new Error(`target did not start: ${line}`)
  return child as ChildProcess & { pid: number }
}

needs('ip', root)('setns() through a pidfd with NEWNET|NEWUTS enters both namespaces of a process at once', async (t) => {
  const child = await target()
  try {
    const r = ok(
      t,
      await runIsolated(`
        const pidfd = lc.pidfdOpen(${child.pid});
        lc.setns(pidfd, lc.NEWNET | lc.NEWUTS);
        fs.closeSync(pidfd);
        report({ hostname: os.hostname(), interfaces: ifaces() });
      `),
    )
    t.deepEqual(r, { hostname: 'lc-target', interfaces: ['lc-br0', 'lo'] })
  } finally {
    child.kill()
  }
})

test('setns(-1) is EBADF', async (t) => {
  const err = t.throws(() => setns(-1))
  isSystemError(t, err, 'EBADF', 'setns', /-1 is not an open file descriptor/)
})

test('setns() with the fd of a regular file is EINVAL: neither a namespace nor a pidfd', async (t) => {
  const fd = fs.openSync('/etc/hostname', 'r')
  try {
    const err = t.throws(() => setns(fd))
    isSystemError(t, err, 'EINVAL', 'setns', /neither a namespace nor a pidfd/)
  } finally {
    fs.closeSync(fd)
  }
})

test('setns() of a network namespace fd with nstype NEWUTS is EINVAL, naming both types', async (t) => {
  const fd = fs.openSync('/proc/thread-self/ns/net', 'r')
  try {
    const err = t.throws(() => setns(fd, NEWUTS))
    isSystemError(t, err, 'EINVAL', 'setns', /refers to a net namespace, but nstype asks for NEWUTS/)
  } finally {
    fs.closeSync(fd)
  }
})

test('setns() of a pidfd with nstype 0 is EINVAL and says a mask is needed', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.setns(lc.pidfdOpen(process.pid), 0)))`))
  isSystemError(t, r, 'EINVAL', 'setns', /is a pidfd: nstype must name the namespaces/)
})

test('setns() of a pidfd with bits that are not namespace types is EINVAL, naming them', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.setns(lc.pidfdOpen(process.pid), lc.NEWUTS | lc.FS)))`))
  isSystemError(t, r, 'EINVAL', 'setns', /nstype may hold only NEW\* namespace flags, not FS/)
})

test('setns() through the pidfd of a process that has exited is ESRCH', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      import { spawn } from 'node:child_process';
      import { once } from 'node:events';
      const child = spawn('true');
      const pidfd = lc.pidfdOpen(child.pid); // before libuv can reap it
      await once(child, 'exit');
      report(attempt(() => lc.setns(pidfd, lc.NEWNET)))
    `),
  )
  isSystemError(t, r, 'ESRCH', 'setns', /the process behind pidfd \d+ has exited/)
})

root('setns() into a user namespace is EINVAL: Node.js is multithreaded', async (t) => {
  const child = spawn('unshare', ['--user', 'sleep', '60'], { stdio: 'ignore' })
  await once(child, 'spawn')
  await waitForNs(child.pid!, 'user')
  try {
    const r = ok(t, await runIsolated(`report(attempt(() => lc.setns(fs.openSync('/proc/${child.pid}/ns/user', 'r'))))`))
    isSystemError(t, r, 'EINVAL', 'setns', /Node\.js is multithreaded.*user namespace/)
  } finally {
    child.kill()
  }
})

root('setns() into a mount namespace is EINVAL until unshare(FS), and then works', async (t) => {
  const child = spawn('unshare', ['--mount', 'sleep', '60'], { stdio: 'ignore' })
  await once(child, 'spawn')
  await waitForNs(child.pid!, 'mnt')
  try {
    const r = ok(
      t,
      await runIsolated(`
        const fd = fs.openSync('/proc/${child.pid}/ns/mnt', 'r');
        let error;
        try { lc.setns(fd) } catch (e) { error = describe(e) }
        lc.unshare(lc.FS);
        lc.setns(fd, lc.NEWNS);
        report({ error, entered: nsOf('mnt') === fs.readlinkSync('/proc/${child.pid}/ns/mnt') });
      `),
    ) as { error: SystemErrorShape; entered: boolean }
    isSystemError(t, r.error, 'EINVAL', 'setns', /shares its filesystem attributes.*unshare\(FS\) first/)
    t.true(r.entered)
  } finally {
    child.kill()
  }
})

root('setns() into a time namespace is EUSERS and says why', async (t) => {
  const child = spawn('unshare', ['--time', '--fork', 'sleep', '60'], { stdio: 'ignore' })
  await once(child, 'spawn')
  try {
    const grandchild = await childOf(child.pid!)
    const r = ok(t, await runIsolated(`report(attempt(() => lc.setns(fs.openSync('/proc/${grandchild}/ns/time', 'r'))))`))
    isSystemError(t, r, 'EUSERS', 'setns', /Node\.js is multithreaded.*time namespace/)
  } finally {
    child.kill()
  }
})

root('setns() as an unprivileged user is EPERM and names CAP_SYS_ADMIN', async (t) => {
  const r = ok(
    t,
    await runIsolated(`report(attempt(() => lc.setns(fs.openSync('/proc/self/ns/uts', 'r'))))`, { uid: 65534 }),
  )
  isSystemError(t, r, 'EPERM', 'setns', /CAP_SYS_ADMIN/)
})

async function waitForNs(pid: number, type: string): Promise<void> {
  const mine = fs.readlinkSync(`/proc/self/ns/${type}`)
  for (let i = 0; i < 200; i++) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/ns/${type}`) !== mine) return
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`process ${pid} never entered a new ${type} namespace`)
}

async function childOf(pid: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
    if (kids) return Number(kids.split(' ')[0])
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`process ${pid} has no child`)
}

void NEWNET
