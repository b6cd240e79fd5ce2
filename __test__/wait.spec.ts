import test from 'ava'
import fs from 'node:fs'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import * as lc from '../index.js'
import { pidfdOpen, pidfdSendSignal, waitpid, WNOHANG, __WALL, __WCLONE } from '../index.js'
import { asRoot, entry, isSystemError, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

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
  for (const name of ['waitpid', 'pidfdSendSignal']) {
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
      const ours = t.throws(() => pidfdSendSignal(fd, name), { instanceOf: TypeError, code: 'ERR_UNKNOWN_SIGNAL' })
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
