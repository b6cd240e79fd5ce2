import test from 'ava'
import fs from 'node:fs'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import * as lc from '../dist/index.js'
import { pidfdOpen, pidfdSendSignal, waitExit, waitpid, WNOHANG, __WALL, __WCLONE } from '../dist/index.js'
import { asRoot, entry, isSystemError, needs, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const root = asRoot('a pid namespace of its own, whose init adopts orphans to reap')

/** The parts of clone's API these tests use; index.d.ts declares them once clone() lands. */
interface CloneApi {
  clone?: (callback: () => number | void, stackSize?: number, flags?: number, ptid?: Int32Array) => number
  execve?: (path: string, argv: string[], env?: Record<string, string>) => never
}
const { clone, execve } = lc as unknown as CloneApi
const withClone = clone && execve ? test : test.skip
if (!clone) console.log('skipping the tests that need children from clone(): lc.clone is not exported yet')

/**
 * runIsolated() options for a node that is init of a new pid namespace: the background job of
 * a shell it spawns is orphaned when the shell exits and adopted by node, an unwaited child
 * that libuv does not know about. `orphan('sleep 30')` starts one and returns its pid.
 */
const asInit = { prefix: ['unshare', '--pid', '--fork', '--mount-proc'] }
const orphanHelper = `
  const orphan = (script) =>
    Number(execFileSync('sh', ['-c', script + ' >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim());
  const stateOf = (pid) => { try { return fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1][0] } catch { return 'gone' } };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
`

test('the wait constants have the values of the kernel headers', (t) => {
  t.deepEqual(
    { WNOHANG: lc.WNOHANG, WUNTRACED: lc.WUNTRACED, WCONTINUED: lc.WCONTINUED, __WALL, __WCLONE, SIGCHLD: lc.SIGCHLD },
    { WNOHANG: 1, WUNTRACED: 2, WCONTINUED: 8, __WALL: 0x40000000, __WCLONE: 0x80000000, SIGCHLD: 17 },
  )
  for (const name of ['waitpid', 'waitExit', 'pidfdSendSignal']) {
    t.is(typeof (lc as unknown as Record<string, unknown>)[name], 'function', name)
  }
})

test('waitpid on a process that is not a child of this one is ECHILD and says why', (t) => {
  for (const pid of [1, process.ppid]) {
    isSystemError(t, t.throws(() => waitpid(pid)), 'ECHILD', 'waitpid', new RegExp(`${pid} is not an unwaited child of this process`))
  }
  const err = t.throws(() => waitpid(1, WNOHANG | __WCLONE)) as SystemErrorShape
  t.true(err.message.startsWith('ECHILD: waitpid(1, WNOHANG|__WCLONE) failed'), err.message)
})

test('waitpid(-1) in a process without children is ECHILD', async (t) => {
  // Not in the test process: waitpid(-1) would reap other tests' child_process children.
  const r = ok(t, await runIsolated('report(attempt(() => lc.waitpid(-1, lc.WNOHANG)))'))
  isSystemError(t, r, 'ECHILD', 'waitpid', /this process has no unwaited children/)
})

test('waitpid with an option waitpid(2) does not take is EINVAL naming the bits in hex', (t) => {
  // WEXITED (4) is a waitid(2) option.
  const err = t.throws(() => waitpid(1, 4)) as SystemErrorShape
  isSystemError(t, err, 'EINVAL', 'waitpid', /0x4 is not a waitpid option/)
  t.true(err.message.startsWith('EINVAL: waitpid(1, __WALL|0x4) failed'), err.message)
})

test('waitpid argument errors are TypeErrors and RangeErrors', (t) => {
  const call = waitpid as (...a: unknown[]) => unknown
  for (const args of [[], ['1'], [null], [1, null], [1, '1']]) {
    t.throws(() => call(...args), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }, JSON.stringify(args))
  }
  for (const args of [[1.5], [2 ** 31], [-(2 ** 31)], [NaN], [1, 2 ** 32], [1, 0.5]]) {
    t.throws(() => call(...args), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }, JSON.stringify(args))
  }
})

test('waitExit rejects, never throws, when pid is not an unwaited child of this process', async (t) => {
  const err = await t.throwsAsync(() => waitExit(1))
  isSystemError(t, err, 'ECHILD', 'waitid', /1 is not an unwaited child of this process/)
  t.true(err!.message.startsWith('ECHILD: waitid(P_PIDFD, pidfd of 1, WEXITED|WNOHANG|WNOWAIT|__WALL) failed'), err!.message)
})

test('waitExit on a pid no process has rejects with ESRCH', async (t) => {
  const gone = await deadPid()
  const err = await t.throwsAsync(() => waitExit(gone))
  isSystemError(t, err, 'ESRCH', 'pidfd_open', new RegExp(`no process with pid ${gone}`))
})

test('waitExit argument errors reject with TypeErrors and RangeErrors', async (t) => {
  const call = waitExit as (...a: unknown[]) => Promise<unknown>
  for (const args of [[], ['1'], [null], [{}]]) {
    await t.throwsAsync(() => call(...args), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }, JSON.stringify(args))
  }
  for (const args of [[0], [-1], [1.5], [2 ** 31]]) {
    await t.throwsAsync(() => call(...args), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' }, JSON.stringify(args))
  }
})

test('pidfdSendSignal ends a child_process child with the signal given by name or number', async (t) => {
  for (const [signal, expected] of [['SIGTERM', 'SIGTERM'], [9, 'SIGKILL'], ['SIGPOLL', 'SIGIO']] as const) {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' })
    await once(child, 'spawn')
    const fd = pidfdOpen(child.pid!)
    try {
      pidfdSendSignal(fd, 0) // only checks
      pidfdSendSignal(fd, signal)
      const [code, sig] = await once(child, 'exit')
      t.deepEqual([code, sig], [null, expected])
      // libuv has reaped it: the pidfd's process is gone.
      isSystemError(t, t.throws(() => pidfdSendSignal(fd, 'SIGTERM')), 'ESRCH', 'pidfd_send_signal', /has exited and been reaped/)
    } finally {
      fs.closeSync(fd)
    }
  }
})

test('pidfdSendSignal takes a FileHandle of a pidfd', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  await once(child, 'spawn')
  const fd = pidfdOpen(child.pid!)
  pidfdSendSignal({ fd }, 'SIGKILL')
  t.deepEqual(await once(child, 'exit'), [null, 'SIGKILL'])
  fs.closeSync(fd)
})

test('pidfdSendSignal on a closed fd or on a file that is not a pidfd is EBADF and says which', (t) => {
  isSystemError(t, t.throws(() => pidfdSendSignal(999_999, 'SIGTERM')), 'EBADF', 'pidfd_send_signal', /999999 is not an open file descriptor/)
  const file = fs.openSync('/dev/null', 'r')
  try {
    isSystemError(t, t.throws(() => pidfdSendSignal(file, 0)), 'EBADF', 'pidfd_send_signal', new RegExp(`fd ${file} is not a pidfd`))
  } finally {
    fs.closeSync(file)
  }
})

test('pidfdSendSignal: an unknown signal name is the error process.kill() throws', (t) => {
  const fd = pidfdOpen(process.pid)
  try {
    for (const name of ['SIGFOO', 'sigterm', 'TERM', '']) {
      const ours = t.throws(() => pidfdSendSignal(fd, name as NodeJS.Signals), { instanceOf: TypeError, code: 'ERR_UNKNOWN_SIGNAL' })
      if (name === '') continue // process.kill() reads '' as its default, SIGTERM
      const node = t.throws(() => process.kill(process.pid, name))
      t.is(ours!.message, node!.message)
    }
    t.throws(() => pidfdSendSignal(fd, 65), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /It must be >= 0 && <= 64/ })
    t.throws(() => pidfdSendSignal(fd, 1.5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
    const call = pidfdSendSignal as (...a: unknown[]) => void
    t.throws(() => call(fd), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /"signal" argument must be one of type number or string\. Received undefined/ })
    t.throws(() => call(fd, null), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
    t.throws(() => call('3', 0), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  } finally {
    fs.closeSync(fd)
  }
})

test('no argument, however wrong, crashes the process: waitpid and pidfdSendSignal throw, waitExit rejects', async (t) => {
  // In a process of its own, which has no children for waitpid(-1) or waitpid(0) to take.
  const r = ok(
    t,
    await runIsolated(`
      const weird = [undefined, null, true, -1, 0, 2 ** 53, NaN, 0.5, '', 'x'.repeat(5000), Symbol('s'), 1n, {}, [],
        () => 1, Object.create(null), new Proxy({}, { get() { throw new Error('trap') } }), { fd: Symbol() },
        { get fd() { throw new Error('getter') } }, { fd: 1n }, new Uint8Array(8), 'SIGKILL'];
      const notErrors = [];
      let calls = 0;
      for (const a of weird) for (const b of [undefined, ...weird.slice(0, 8), 'SIGFOO']) {
        calls += 3;
        try { lc.waitpid(a, b); notErrors.push('waitpid returned') } catch (e) { if (!(e instanceof Error)) notErrors.push('waitpid threw ' + typeof e) }
        try { lc.pidfdSendSignal(a, b); notErrors.push('pidfdSendSignal returned') } catch (e) { if (!(e instanceof Error)) notErrors.push('pidfdSendSignal threw ' + typeof e) }
        try { await lc.waitExit(a); notErrors.push('waitExit resolved') } catch (e) { if (!(e instanceof Error)) notErrors.push('waitExit rejected with ' + typeof e) }
      }
      report({ calls, notErrors, alive: true });
    `),
  ) as { calls: number; notErrors: string[]; alive: boolean }
  t.true(r.alive)
  t.true(r.calls > 600)
  t.deepEqual(r.notErrors, [])
})

root('pidfdSendSignal as an unprivileged user to a root process is EPERM', async (t) => {
  const r = ok(t, await runIsolated('report(attempt(() => lc.pidfdSendSignal(lc.pidfdOpen(1), 0)))', { uid: 65534 }))
  isSystemError(t, r, 'EPERM', 'pidfd_send_signal', /no permission to signal the process/)
})

root('pidfdSendSignal to a process outside the caller\'s pid namespace is EINVAL', async (t) => {
  // /proc is the outer one here, and an fd of a /proc/PID directory works as a pidfd.
  const r = ok(
    t,
    await runIsolated(`report(attempt(() => lc.pidfdSendSignal(fs.openSync('/proc/${process.pid}', 'r'), 0)))`, {
      prefix: ['unshare', '--pid', '--fork'],
    }),
  )
  isSystemError(t, r, 'EINVAL', 'pidfd_send_signal', /outside this process's pid namespace/)
})

root('waitpid reaps a child libuv does not know: WNOHANG null while it runs, then its exit code, then ECHILD', async (t) => {
  const r = ok(
    t,
    await runIsolated(
      `${orphanHelper}
      const pid = orphan('(sleep 0.3; exit 77)');
      const running = lc.waitpid(pid, lc.WNOHANG);
      const exited = lc.waitpid(pid);
      report({ pid, running, exited, again: attempt(() => lc.waitpid(pid)), state: stateOf(pid) });
    `,
      asInit,
    ),
  ) as { pid: number; running: null; exited: lc.WaitResult; again: SystemErrorShape; state: string }
  t.is(r.running, null)
  t.deepEqual(r.exited, { pid: r.pid, status: 77 << 8, exitCode: 77, signal: null, coreDumped: false, stopSignal: null, continued: false })
  isSystemError(t, r.again, 'ECHILD', 'waitpid', /already reaped/)
  t.is(r.state, 'gone')
})

root('waitpid reports the signal a pidfd sent, and stops and continues with WUNTRACED and WCONTINUED', async (t) => {
  const r = ok(
    t,
    await runIsolated(
      `${orphanHelper}
      const pid = orphan('exec sleep 30');
      const fd = lc.pidfdOpen(pid);
      process.kill(pid, 'SIGSTOP');
      const stopped = lc.waitpid(pid, lc.WUNTRACED);
      process.kill(pid, 'SIGCONT');
      const continued = lc.waitpid(pid, lc.WCONTINUED);
      const running = lc.waitpid(pid, lc.WNOHANG);
      lc.pidfdSendSignal(fd, 'SIGKILL');
      report({ stopped, continued, running, killed: lc.waitpid(pid) });
    `,
      asInit,
    ),
  ) as Record<string, lc.WaitResult | null>
  t.like(r.stopped!, { stopSignal: 'SIGSTOP', exitCode: null, signal: null, continued: false })
  t.like(r.continued!, { continued: true, stopSignal: null, status: 0xffff })
  t.is(r.running, null)
  t.like(r.killed!, { exitCode: null, signal: 'SIGKILL', coreDumped: false, status: 9 })
})

root('waitExit resolves with the exit code, keeps the process alive only while it waits, and then waitpid is ECHILD', async (t) => {
  const started = Date.now()
  const run = await runIsolated(
    `${orphanHelper}
    const pid = orphan('(sleep 0.5; exit 3)');
    // Nothing else keeps the event loop alive: only the pending waitExit.
    const result = await lc.waitExit(pid);
    report({ pid, result, again: attempt(() => lc.waitpid(pid)), state: stateOf(pid) });
  `,
    { ...asInit, timeout: 20_000 },
  )
  const r = ok(t, run) as { pid: number; result: lc.WaitResult; again: SystemErrorShape; state: string }
  t.deepEqual(r.result, { pid: r.pid, status: 3 << 8, exitCode: 3, signal: null, coreDumped: false, stopSignal: null, continued: false })
  isSystemError(t, r.again, 'ECHILD', 'waitpid', /not an unwaited child/)
  t.is(r.state, 'gone')
  t.true(Date.now() - started < 15_000, 'the process should exit by itself once nothing waits')
})

root('waitExit resolves with the signal that ended the child; many at once each get their own', async (t) => {
  const r = ok(
    t,
    await runIsolated(
      `${orphanHelper}
      const pids = Array.from({ length: 8 }, () => orphan('exec sleep 30'));
      const waits = pids.map((pid) => lc.waitExit(pid));
      await sleep(50);
      pids.forEach((pid, i) => lc.pidfdSendSignal(lc.pidfdOpen(pid), i % 2 ? 'SIGTERM' : 'SIGKILL'));
      const results = await Promise.all(waits);
      report({ pids, results: results.map((r) => [r.pid, r.signal]), states: pids.map(stateOf) });
    `,
      asInit,
    ),
  ) as { pids: number[]; results: [number, string][]; states: string[] }
  t.deepEqual(
    r.results,
    r.pids.map((pid, i) => [pid, i % 2 ? 'SIGTERM' : 'SIGKILL']),
  )
  t.deepEqual(r.states, r.pids.map(() => 'gone'))
})

root('waitExit and waitpid on one child: whichever reaps first gets the result, the other ECHILD', async (t) => {
  const r = ok(
    t,
    await runIsolated(
      `${orphanHelper}
      const pid = orphan('(sleep 0.3; exit 5)');
      const pending = lc.waitExit(pid).then((r) => r.exitCode, (e) => e.code);
      let sync;
      try { sync = lc.waitpid(pid).exitCode } catch (e) { sync = e.code }
      report({ sync, async: await pending });
    `,
      asInit,
    ),
  ) as { sync: number | string; async: number | string }
  t.deepEqual([r.sync, r.async].sort(), [5, 'ECHILD'].sort())
})

root('a Worker terminated while its waitExit is pending: no abort, the child is still reaped, the process exits', async (t) => {
  const run = await runIsolated(
    `${orphanHelper}
    import { once } from 'node:events';
    import { Worker } from 'node:worker_threads';
    const worker = new Worker(\`
      const lc = require(${JSON.stringify(entry)});
      const { parentPort } = require('node:worker_threads');
      const { execFileSync } = require('node:child_process');
      const pid = Number(execFileSync('sh', ['-c', 'exec sleep 30 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).trim());
      lc.waitExit(pid).then((r) => parentPort.postMessage(r));
      parentPort.postMessage(pid);
    \`, { eval: true, execArgv: [] });
    const [pid] = await once(worker, 'message');
    const before = stateOf(pid);
    await sleep(100);
    await worker.terminate();
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    while (stateOf(pid) !== 'gone' && Date.now() - killedAt < 2000) await sleep(20);
    report({ before, after: stateOf(pid) });
  `,
    { ...asInit, timeout: 20_000 },
  )
  t.is(run.signal, null, run.stderr)
  const r = ok(t, run) as { before: string; after: string }
  t.regex(r.before, /^[RS]$/, 'alive (running or sleeping) until killed')
  t.is(r.after, 'gone', 'the reaper should reap the child: no zombie')
})

root('process.exit() while waitExit() calls are pending exits cleanly', async (t) => {
  const run = await runIsolated(
    `${orphanHelper}
    for (let i = 0; i < 4; i++) lc.waitExit(orphan('exec sleep 30'));
    for (let i = 0; i < 4; i++) lc.waitExit(orphan('(sleep 0.2; exit 1)'));
    setTimeout(() => process.exit(7), 200);
  `,
    asInit,
  )
  t.deepEqual([run.status, run.signal], [7, null], run.stderr)
})

// The children these need come from clone(), which another module provides.

withClone('waitpid reaps a clone() child with its exit code, with SIGCHLD or no exit signal at all', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      const withSigchld = lc.waitpid(lc.clone(() => 77, 0, lc.SIGCHLD));
      const withoutSignal = lc.waitpid(lc.clone(() => 78, 0, 0));
      report({ withSigchld, withoutSignal });
    `),
  ) as Record<string, lc.WaitResult>
  t.like(r.withSigchld, { exitCode: 77, signal: null, coreDumped: false, status: 77 << 8 })
  t.like(r.withoutSignal, { exitCode: 78, signal: null, status: 78 << 8 })
})

withClone('waitpid builds the result waitExit builds, key for key, for any exit code', async (t) => {
  // waitpid() makes an exit's result in JavaScript, waitExit() through Node-API: one shape.
  const r = ok(
    t,
    await runIsolated(`
      const a = lc.clone(() => 255, 0, lc.SIGCHLD);
      const b = lc.clone(() => 255, 0, lc.SIGCHLD);
      const viaWaitpid = lc.waitpid(a);
      const viaWaitExit = await lc.waitExit(b);
      report({ a, b, viaWaitpid, viaWaitExit, keys: [Object.keys(viaWaitpid), Object.keys(viaWaitExit)] });
    `),
  ) as { a: number; b: number; viaWaitpid: lc.WaitResult; viaWaitExit: lc.WaitResult; keys: [string[], string[]] }
  const exited = { status: 255 << 8, exitCode: 255, signal: null, coreDumped: false, stopSignal: null, continued: false }
  t.deepEqual(r.viaWaitpid, { pid: r.a, ...exited })
  t.deepEqual(r.viaWaitExit, { pid: r.b, ...exited })
  t.deepEqual(r.keys[0], r.keys[1])
})

withClone('waitpid WNOHANG is null for a running clone() child; killed through its pidfd it reports SIGKILL', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      const pid = lc.clone(() => lc.execve('/bin/sleep', ['sleep', '5']), 0, lc.SIGCHLD);
      const running = lc.waitpid(pid, lc.WNOHANG);
      lc.pidfdSendSignal(lc.pidfdOpen(pid), 'SIGKILL');
      report({ running, killed: lc.waitpid(pid) });
    `),
  ) as { running: null; killed: lc.WaitResult }
  t.is(r.running, null)
  t.like(r.killed, { exitCode: null, signal: 'SIGKILL' })
})

withClone('waitExit resolves for clone() children: an exit code, a signal, then waitpid is ECHILD', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      const exited = await lc.waitExit(lc.clone(() => 3, 0, lc.SIGCHLD));
      const pid = lc.clone(() => lc.execve('/bin/sleep', ['sleep', '30']), 0, lc.SIGCHLD);
      const pending = lc.waitExit(pid);
      lc.pidfdSendSignal(lc.pidfdOpen(pid), 'SIGTERM');
      const killed = await pending;
      report({ exited, killed, again: attempt(() => lc.waitpid(pid)) });
    `),
  ) as { exited: lc.WaitResult; killed: lc.WaitResult; again: SystemErrorShape }
  t.like(r.exited, { exitCode: 3, signal: null })
  t.like(r.killed, { exitCode: null, signal: 'SIGTERM' })
  isSystemError(t, r.again, 'ECHILD', 'waitpid', /not an unwaited child/)
})

withClone('a process that awaited waitExit for a clone() child exits by itself', async (t) => {
  const run = await runIsolated(
    `
    const r = await lc.waitExit(lc.clone(() => lc.execve('/bin/sh', ['sh', '-c', 'sleep 0.3; exit 4']), 0, lc.SIGCHLD));
    report(r.exitCode);
  `,
    { timeout: 20_000 },
  )
  t.is(ok(t, run), 4)
})

withClone('a Worker with a pending waitExit for a clone() child is terminated: no abort, no zombie', async (t) => {
  const run = await runIsolated(
    `
    import { Worker } from 'node:worker_threads';
    const stateOf = (pid) => { try { return fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1][0] } catch { return 'gone' } };
    const worker = new Worker(\`
      const lc = require(${JSON.stringify(entry)});
      const { parentPort } = require('node:worker_threads');
      const pid = lc.clone(() => lc.execve('/bin/sleep', ['sleep', '30']), 0, lc.SIGCHLD);
      lc.waitExit(pid).then((r) => parentPort.postMessage(r));
      parentPort.postMessage(pid);
    \`, { eval: true, execArgv: [] });
    const pid = await new Promise((resolve) => worker.once('message', resolve));
    await new Promise((r) => setTimeout(r, 100));
    await worker.terminate();
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    while (stateOf(pid) !== 'gone' && Date.now() - killedAt < 2000) await new Promise((r) => setTimeout(r, 20));
    report({ after: stateOf(pid) });
  `,
    { timeout: 20_000 },
  )
  t.is(run.signal, null, run.stderr)
  t.deepEqual(ok(t, run), { after: 'gone' })
})

/** A pid that no process has: one just reaped. */
async function deadPid(): Promise<number> {
  const r = await runIsolated('report(process.pid)')
  return r.result as number
}

needs('python3')('at exit, pending waitExit() waits still reap the children that have exited: none is left to a subreaper', async (t) => {
  // A subreaper (python3, through prctl) runs a node that starts 100 children which exit at once
  // and 20 that outlive it, waits for all with waitExit(), and exits at once. The subreaper then
  // counts the zombies it was handed: the 20 late ones are its own to reap, as any orphan's
  // parent's; none of the 100 may be among them.
  const python = `
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
subprocess.run(sys.argv[1:], check=True)
time.sleep(0.6)
me, zombies = os.getpid(), 0
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        stat = open('/proc/%s/stat' % pid).read()
    except OSError:
        continue
    fields = stat[stat.rindex(')') + 2:].split()
    zombies += int(fields[1]) == me and fields[0] == 'Z'
print(zombies)
`
  const script = `
    const lc = require(process.env.LC_ENTRY);
    for (let i = 0; i < 100; i++) lc.waitExit(lc.clone(() => lc.execve('/bin/true', ['true']), 0, lc.SIGCHLD)).catch(() => {});
    for (let i = 0; i < 20; i++) lc.waitExit(lc.clone(() => lc.execve('/bin/sleep', ['sleep', '0.3']), 0, lc.SIGCHLD)).catch(() => {});
    setTimeout(() => process.exit(0), 50);
  `
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('python3', ['-c', python, process.execPath, '-e', script], { env: { ...process.env, LC_ENTRY: entry }, stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => (text += d))
    p.on('error', reject).on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`python3 exited ${code}`))))
  })
  t.is(Number(out.trim()), 20)
})
