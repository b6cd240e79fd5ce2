// What every exit reports (usage and reason), and limits where cgroup v2 cannot give them. The
// limits themselves are tested where cgroup v2 has its controllers: in the qemu-system guest of
// scripts/qemu-limits.sh (scripts/limits-guest.mjs).
import test from 'ava'
import fs from 'node:fs'
import { spawn, spawnSync, probe, SpawnError, type SpawnExit } from '../dist/index.js'
import { ok, runIsolated } from './_helpers.js'

const MiB = 1024 * 1024
/** A Python loop that burns 0.3 s of CPU time, however long that takes on a busy machine. */
const burn = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass'
/** Touches 200 MiB: bytes multiplication writes every page (a bytearray of zeros would not). */
const touch = "b = b'x' * (200 << 20)"

/** Whether cgroup v2 here has none of the controllers limits need because cgroup v1 has them. */
function v1Only(): boolean {
  const cgroups = fs.readFileSync('/proc/cgroups', 'utf8')
  const onV1 = (c: string) => new RegExp(`^${c}\\s+[1-9]\\d*\\s+\\d+\\s+1$`, 'm').test(cgroups)
  return onV1('memory') && onV1('pids')
}

test('CPU time of a busy loop, and of a program that sleeps', (t) => {
  const busy = spawnSync('python3', ['-c', burn])
  t.is(busy.status, 0, String(busy.stderr))
  const u = busy.usage!
  t.true(u.userTime + u.systemTime >= 0.3, JSON.stringify(u))
  t.true(u.userTime + u.systemTime <= u.wallTime + 0.05, JSON.stringify(u))
  t.is(busy.reason, 'exit')
  const idle = spawnSync('sleep', ['0.3'])
  t.true(idle.usage!.wallTime >= 0.3, JSON.stringify(idle.usage))
  t.true(idle.usage!.userTime + idle.usage!.systemTime < 0.2, JSON.stringify(idle.usage))
  // No limits, no cgroup figures.
  t.false('memoryPeak' in idle.usage! && idle.usage!.memoryPeak !== undefined)
  t.is(idle.usage!.oomKills, undefined)
})

test('max RSS of a program that touches 200 MiB, in bytes', (t) => {
  const big = spawnSync('python3', ['-c', touch])
  t.is(big.status, 0, String(big.stderr))
  const small = spawnSync('/bin/true')
  t.true(big.usage!.maxRss >= 200 * MiB, String(big.usage!.maxRss))
  // ru_maxrss also counts the memory the process had before execve, shared with this process
  // until then: /bin/true reports this process's RSS, far below what the program touched.
  t.true(small.usage!.maxRss < 200 * MiB, String(small.usage!.maxRss))
  t.true(big.usage!.maxRss < Math.max(small.usage!.maxRss, 200 * MiB) + 100 * MiB, `${big.usage!.maxRss} vs ${small.usage!.maxRss}`)
})

test("spawn(): 'exited' has usage, and the reason is 'exit' or 'signal'", async (t) => {
  const busy = await spawn('python3', ['-c', burn], { stdio: 'ignore' }).exited
  t.is(busy.reason, 'exit')
  t.true(busy.usage.userTime + busy.usage.systemTime >= 0.3, JSON.stringify(busy.usage))
  t.true(busy.usage.wallTime >= busy.usage.userTime + busy.usage.systemTime - 0.05, JSON.stringify(busy.usage))
  const code = await spawn('sh', ['-c', 'exit 3']).exited
  t.is(code.exitCode, 3)
  t.is(code.reason, 'exit')
  const killed = await spawn('sh', ['-c', 'kill -KILL $$']).exited
  t.is(killed.signal, 'SIGKILL')
  t.is(killed.reason, 'signal')
})

test("a timeout ends with reason 'timeout', in spawn() and spawnSync()", async (t) => {
  const p = spawn('sleep', ['30'], { timeout: 100 })
  const r: SpawnExit = await p.exited
  t.is(r.signal, 'SIGTERM')
  t.is(r.reason, 'timeout')
  t.true(r.usage.wallTime >= 0.1 && r.usage.wallTime < 30, JSON.stringify(r.usage))
  const s = spawnSync('sleep', ['30'], { timeout: 100 })
  t.is(s.signal, 'SIGTERM')
  t.is(s.reason, 'timeout')
  t.is(s.error?.code, 'ETIMEDOUT')
})

test("kill() and the AbortSignal end with reason 'killed'; a signal from elsewhere is 'signal'", async (t) => {
  const p = spawn('sleep', ['30'])
  await new Promise((r) => p.once('spawn', r))
  t.true(p.kill('SIGINT'))
  const r = await p.exited
  t.is(r.signal, 'SIGINT')
  t.is(r.reason, 'killed')

  const ac = new AbortController()
  const q = spawn('sleep', ['30'], { signal: ac.signal })
  q.on('error', () => {})
  await new Promise((r) => q.once('spawn', r))
  ac.abort()
  const a = await q.exited
  t.is(a.signal, 'SIGTERM')
  t.is(a.reason, 'killed')

  const other = spawn('sleep', ['30'])
  await new Promise((r) => other.once('spawn', r))
  process.kill(other.pid!, 'SIGTERM')
  const o = await other.exited
  t.is(o.signal, 'SIGTERM')
  t.is(o.reason, 'signal')
})

test('usage and reason as uid 4242', async (t) => {
  const run = await runIsolated(`
    const busy = lc.spawnSync('python3', ['-c', ${JSON.stringify(burn)}]);
    const big = lc.spawnSync('python3', ['-c', ${JSON.stringify(touch)}]);
    const slow = lc.spawnSync('sleep', ['30'], { timeout: 100 });
    const p = lc.spawn('sleep', ['30']);
    await new Promise((r) => p.once('spawn', r));
    p.kill();
    const killed = await p.exited;
    report({ uid: process.getuid(), busy: [busy.status, busy.reason, busy.usage], big: [big.status, big.usage.maxRss],
      slow: slow.reason, killed: killed.reason });
  `, { uid: 4242 })
  const r = ok(t, run) as { uid: number; busy: [number, string, { userTime: number; systemTime: number }]; big: [number, number]; slow: string; killed: string }
  t.is(r.uid, 4242)
  t.deepEqual(r.busy.slice(0, 2), [0, 'exit'])
  t.true(r.busy[2].userTime + r.busy[2].systemTime >= 0.3, JSON.stringify(r.busy))
  t.is(r.big[0], 0)
  t.true(r.big[1] >= 200 * MiB, String(r.big[1]))
  t.is(r.slow, 'timeout')
  t.is(r.killed, 'killed')
})

/** Checks the refusal of limits on a host whose controllers belong to cgroup v1. */
function isV1Refusal(t: import('ava').ExecutionContext, e: { code?: string; errno?: number; syscall?: string; step?: string; message: string; path?: string }) {
  t.is(e.step, 'limits')
  t.is(e.syscall, 'write')
  t.true(typeof e.errno === 'number' && e.errno < 0)
  t.regex(e.message, /^E[A-Z]+: write\('.*\/cgroup\.subtree_control', '\+memory'\) failed at spawn step 'limits': cgroup v1 only: the memory controller is bound to a cgroup v1 hierarchy/)
  t.regex(e.message, /systemd-run --user --scope -p Delegate=yes/)
  t.regex(e.message, /cgroupParent/)
}

test('limits where cgroup v1 holds the controllers: an error that says so and what to do (root)', async (t) => {
  if (!v1Only()) {
    t.log('skipped: this host has cgroup v2 controllers (the refusal is for cgroup v1-only hosts)')
    t.pass()
    return
  }
  const s = spawnSync('/bin/true', [], { limits: { memory: 64 * MiB } })
  t.true(s.error instanceof SpawnError)
  t.is(s.error!.code, 'ENOENT')
  t.is(s.error!.errno, -2)
  isV1Refusal(t, s.error!)
  t.is(s.usage, undefined)
  const p = spawn('/bin/true', [], { limits: { memory: 64 * MiB } })
  const e = await new Promise<SpawnError>((resolve) => p.once('error', resolve))
  isV1Refusal(t, e)
  await t.throwsAsync(p.exited, { instanceOf: SpawnError })
  const support = probe().limits
  t.false(support.ok)
  t.regex(support.cause ?? '', /cgroup v1 only: the memory, pids, cpu controllers are bound to a cgroup v1 hierarchy/)
})

test('limits where cgroup v1 holds the controllers: the same refusal as uid 4242', async (t) => {
  if (!v1Only()) {
    t.log('skipped: this host has cgroup v2 controllers (the refusal is for cgroup v1-only hosts)')
    t.pass()
    return
  }
  const run = await runIsolated(`
    const s = lc.spawnSync('/bin/true', [], { limits: { pids: 10 } });
    report({ uid: process.getuid(), e: describe(s.error), step: s.error.step, probe: lc.probe().limits });
  `, { uid: 4242 })
  const r = ok(t, run) as { uid: number; e: { code: string; errno: number; syscall: string; message: string }; step: string; probe: { ok: boolean; cause: string } }
  t.is(r.uid, 4242)
  // The first thing that fails differs (no permission to write), the cause is the same.
  t.is(r.e.code, 'EACCES')
  t.is(r.e.errno, -13)
  t.is(r.e.syscall, 'write')
  t.is(r.step, 'limits')
  t.regex(r.e.message, /'\+pids'\) failed at spawn step 'limits': cgroup v1 only: the pids controller is bound to a cgroup v1 hierarchy/)
  t.regex(r.e.message, /systemd-run --user --scope -p Delegate=yes/)
  t.false(r.probe.ok)
  t.regex(r.probe.cause, /cgroup v1 only/)
})

test('cgroupParent that is not a cgroup v2 directory', (t) => {
  const s = spawnSync('/bin/true', [], { limits: { pids: 10 }, cgroupParent: '/tmp' })
  const e = s.error!
  t.is(e.step, 'limits')
  t.is(e.code, 'ENOENT')
  t.is(e.errno, -2)
  t.is(e.syscall, 'open')
  t.is(e.path, '/tmp/cgroup.controllers')
  t.regex(e.message, /^ENOENT: open\('\/tmp\/cgroup\.controllers'\) failed at spawn step 'limits': \/tmp is not a cgroup v2 directory/)
  // As an fd: named by the path it was opened from.
  const fd = fs.openSync('/tmp', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)
  t.teardown(() => fs.closeSync(fd))
  const byFd = spawnSync('/bin/true', [], { limits: { pids: 10 }, cgroupParent: fd }).error!
  t.is(byFd.code, 'ENOENT')
  t.is(byFd.path, '/tmp/cgroup.controllers')
  t.regex(byFd.message, /\/tmp is not a cgroup v2 directory/)
})

test('limits: argument errors are Node-shaped', (t) => {
  const bad = (limits: unknown, extra: object = {}) => () => spawnSync('/bin/true', [], { limits, ...extra } as never)
  t.throws(bad('1g'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"options\.limits" property must be of type object/ })
  t.throws(bad({ memory: -1 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /options\.limits\.memory/ })
  t.throws(bad({ memory: 1.5 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(bad({ pids: 0 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /options\.limits\.pids/ })
  t.throws(bad({ cpu: { quota: 0 } }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /a fraction of one CPU/ })
  t.throws(bad({ cpu: { quota: { max: 500, period: 100000 } } }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /quota\.max/ })
  t.throws(bad({ cpu: { quota: '20%' } }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(bad({ cpuWeight: 0 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(bad({ memroy: 1 }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /options\.limits\.memroy' is not a limit/ })
  t.throws(bad({ pids: 5 }, { cgroup: '/tmp' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /options\.cgroup names one already/ })
  t.throws(() => spawnSync('/bin/true', [], { cgroupParent: '/tmp' }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /give limits too/ })
  t.throws(bad({ pids: 5 }, { cgroupParent: {} }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /cgroupParent/ })
})
