import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import { execSync } from 'node:child_process'
import * as lc from '../dist/index.js'
import { asRoot, entry, isSystemError, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const { clone, waitpid, SIGCHLD, NEWNET, NEWUTS, NEWPID, NEWUSER, NEWNS } = lc
const root = asRoot('creating namespaces needs CAP_SYS_ADMIN')

const ifaces = (): string[] =>
  fs
    .readFileSync('/proc/thread-self/net/dev', 'utf8')
    .split('\n')
    .slice(2)
    .filter(Boolean)
    .map((l) => l.split(':')[0]!.trim())
    .sort()

/** Clones, reaps, and returns the exit code (null if a signal ended the child). */
function exitCodeOf(callback: () => number | void, flags: number = SIGCHLD): number | null {
  const pid = clone(callback, 0, flags)
  const r = waitpid(pid)
  if (!r) throw new Error('waitpid returned null without WNOHANG')
  return r.exitCode
}

function caught(f: () => unknown): SystemErrorShape & { name: string } {
  try {
    f()
  } catch (e) {
    const err = e as Error & SystemErrorShape
    return { name: err.constructor.name, code: err.code, errno: err.errno, syscall: err.syscall, message: err.message }
  }
  throw new Error('expected an error')
}

test("Linux::Clone's example: clone(() => 77, 0, SIGCHLD) exits 77", (t) => {
  const pid = clone(() => 77, 0, SIGCHLD)
  t.true(pid > 0)
  t.not(pid, process.pid)
  const r = waitpid(pid)
  t.like(r, { pid, exitCode: 77, signal: null, coreDumped: false, status: 77 << 8 })
})

test('a child with no exit signal (flags 0) is still found by waitpid', (t) => {
  const pid = clone(() => 4)
  t.like(waitpid(pid), { pid, exitCode: 4 })
})

test('undefined returns 0; what the child writes to JavaScript state is visible afterwards', (t) => {
  const state = { written: 0, pid: 0 }
  t.is(
    exitCodeOf(() => {
      state.written = 42
      state.pid = lc.getpid()
    }),
    0,
  )
  t.is(state.written, 42)
  t.not(state.pid, process.pid, 'getpid() in the child is the child, process.pid is the parent')
})

test('getpid() is the clone() return value in the child; gettid() is the pid on the main thread', (t) => {
  let inChild = 0
  const pid = clone(() => {
    inChild = lc.getpid()
  }, 0, SIGCHLD)
  waitpid(pid)
  t.is(inChild, pid)
  t.is(lc.getpid(), process.pid)
  t.is(lc.gettid(), process.pid)
})

root('NEWNET child: only lo in the child, the parent keeps its interfaces', (t) => {
  const before = ifaces()
  let inside: string[] = []
  t.is(
    exitCodeOf(() => {
      inside = ifaces()
    }, NEWNET | SIGCHLD),
    0,
  )
  t.deepEqual(inside, ['lo'])
  t.true(before.length > 1, 'the machine has interfaces besides lo')
  t.deepEqual(ifaces(), before)
})

root('NEWUTS child: hostname set with execSync inside the callback, the parent keeps its own', async (t) => {
  // In a process of its own, as every test whose callback runs programs or binds sockets: a
  // regression that kills the child mid-callback ends the process it runs in.
  const run = await runIsolated(`
    const before = os.hostname();
    let seen = '';
    const r = lc.waitpid(lc.clone(() => {
      execSync('hostname lc-clone-test');
      seen = os.hostname() + ' ' + execSync('hostname').toString().trim();
    }, 0, lc.NEWUTS | lc.SIGCHLD));
    report({ exit: r.exitCode, seen, after: os.hostname() === before, before: before !== 'lc-clone-test' });
  `)
  t.deepEqual(ok(t, run), { exit: 0, seen: 'lc-clone-test lc-clone-test', after: true, before: true })
})

test('a TCP server created in the callback serves the parent, which can close it', async (t) => {
  const run = await runIsolated(`
    const net = await import('node:net');
    const { once } = await import('node:events');
    let server;
    // Without a host, listen() binds at once; with one, it would wait for a lookup and bind
    // later, in the parent.
    const r = lc.waitpid(lc.clone(() => { server = net.createServer((s) => s.end('hello from the callback')).listen(0) }, 0, lc.SIGCHLD));
    const boundInChild = server.listening;
    await once(server, 'listening');
    const { port } = server.address();
    const reply = await new Promise((resolve, reject) => {
      let data = '';
      net.connect(port, '127.0.0.1').on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
    });
    await new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    // The event loop still does async fs and timers.
    const fsOk = (await fs.promises.readFile('/proc/self/status', 'utf8')).includes('Pid:');
    await new Promise((r) => setTimeout(r, 5));
    report({ exit: r.exitCode, boundInChild, reply, closed: !server.listening, fsOk });
  `)
  t.deepEqual(ok(t, run), { exit: 0, boundInChild: true, reply: 'hello from the callback', closed: true, fsOk: true })
})

root('NEWPID child: getpid() is 1, and unshare(NEWPID) is allowed inside a callback', (t) => {
  t.is(exitCodeOf(() => lc.getpid(), NEWPID | SIGCHLD), 1)
  let grandchild = ''
  t.is(
    exitCodeOf(() => {
      lc.unshare(NEWPID)
      grandchild = execSync('echo $$', { shell: '/bin/sh' }).toString().trim()
    }),
    0,
  )
  t.is(grandchild, '1', "the callback's children start a new pid namespace")
})

root('inside a callback, unshare(NEWUSER | NEWTIME) works: the child is a process of its own', async (t) => {
  const run = await runIsolated(`
    let seen = {};
    const r = lc.waitpid(lc.clone(() => {
      lc.unshare(lc.NEWUSER | lc.NEWTIME);
      seen = {
        uid: process.getuid(),
        timeForChildren: fs.readlinkSync('/proc/thread-self/ns/time_for_children'),
        spawnedTime: execSync('readlink /proc/self/ns/time').toString().trim(),
      };
    }, 0, lc.SIGCHLD));
    report({ exit: r.exitCode, uid: seen.uid, same: seen.spawnedTime === seen.timeForChildren, isNew: seen.spawnedTime !== fs.readlinkSync('/proc/self/ns/time') });
  `)
  t.deepEqual(ok(t, run), { exit: 0, uid: 65534, same: true, isNew: true })
})

root('NEWUSER child as root: getuid() is the overflow uid with no map written', (t) => {
  let uid = -1
  t.is(
    exitCodeOf(() => {
      uid = process.getuid!()
    }, NEWUSER | SIGCHLD),
    0,
  )
  t.is(uid, 65534)
  t.is(process.getuid!(), 0)
})

test('NEWUSER child as an unprivileged user: getuid() is 65534, outside it stays 4242', async (t) => {
  const r = ok(
    t,
    await runIsolated(
      `
      let uid = -1;
      const pid = lc.clone(() => { uid = process.getuid(); }, 0, lc.NEWUSER | lc.SIGCHLD);
      report({ uid, outside: process.getuid(), exit: lc.waitpid(pid).exitCode });
    `,
      { uid: 4242 },
    ),
  )
  t.deepEqual(r, { uid: 65534, outside: 4242, exit: 0 })
})

root('NEWNS child: a tmpfs it mounts is seen by it alone', async (t) => {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/lc-mnt-`)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const run = await runIsolated(`
    const dir = ${JSON.stringify(dir)};
    let inside = [];
    const r = lc.waitpid(lc.clone(() => {
      // Private first, so that the mount does not propagate back through a shared root.
      execSync('mount --make-rprivate / && mount -t tmpfs lc-test ' + dir);
      fs.writeFileSync(dir + '/only-here', 'x');
      inside = fs.readdirSync(dir);
    }, 0, lc.NEWNS | lc.SIGCHLD));
    report({ exit: r.exitCode, inside, outside: fs.readdirSync(dir), mounted: fs.readFileSync('/proc/self/mounts', 'utf8').includes(dir) });
  `)
  t.deepEqual(ok(t, run), { exit: 0, inside: ['only-here'], outside: [], mounted: false })
})

root('FILES|NEWNET child opens a listening socket in its netns; the parent serves from it there', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      import net from 'node:net';
      let server, nsfd;
      const pid = lc.clone(() => {
        lc.configureLoopback();
        nsfd = fs.openSync('/proc/thread-self/ns/net', 'r');
        server = net.createServer((s) => s.end('served by the parent, from the child netns'));
        server.listen(0);
      }, 0, lc.FILES | lc.NEWNET | lc.SIGCHLD);
      const exit = lc.waitpid(pid).exitCode;
      const boundInChild = server.listening;
      const { port } = server.address();
      const connect = () => new Promise((res) => {
        let data = '';
        net.connect(port, '127.0.0.1').on('data', (d) => (data += d)).on('end', () => res(data))
          .on('error', (e) => res(e.code));
      });
      const fromHost = await connect();
      lc.setns(nsfd, lc.NEWNET);
      const fromChildNetns = await connect();
      server.close();
      report({ exit, boundInChild, fromHost, fromChildNetns });
    `),
  )
  t.deepEqual(r, {
    exit: 0,
    boundInChild: true,
    fromHost: 'ECONNREFUSED',
    fromChildNetns: 'served by the parent, from the child netns',
  })
})

test('a throw in the callback: status 1, the error printed to stderr as Node prints it', async (t) => {
  const run = await runIsolated(`
    const pid = lc.clone(() => { throw new RangeError('thrown in the child'); }, 0, lc.SIGCHLD);
    report({ pid, exit: lc.waitpid(pid).exitCode });
  `)
  const r = ok(t, run) as { pid: number; exit: number }
  t.regex(run.stderr, /RangeError: thrown in the child\n\s+at /)
  t.true(run.stderr.includes(`Thrown in a clone() callback: the child (pid ${r.pid}) exits with status 1`), run.stderr)
})

test('process.exit(5) ends the child with 5; the parent runs on and its exit handlers run once, at its own end', async (t) => {
  const run = await runIsolated(`
    process.on('exit', () => console.error('exit handler ran in ' + lc.getpid()));
    let after = false;
    const exit = process.exit, reallyExit = process.reallyExit;
    const pid = lc.clone(() => { process.exit(5); after = true; }, 0, lc.SIGCHLD);
    const r = lc.waitpid(pid);
    report({ exit: r.exitCode, after, restored: process.exit === exit && process.reallyExit === reallyExit, pid: process.pid });
  `)
  const r = ok(t, run) as { pid: number }
  t.deepEqual(r, { exit: 5, after: false, restored: true, pid: r.pid })
  t.is(run.stderr.match(/exit handler ran/g)?.length, 1, run.stderr)
  t.true(run.stderr.includes(`exit handler ran in ${r.pid}`), run.stderr)
})

test('process.exit() with no code uses process.exitCode; a caught unwind still ends the child', async (t) => {
  // In a process of its own: process.exit() goes through whatever wraps it (ava's worker does).
  const run = await runIsolated(`
    const code = (f) => lc.waitpid(lc.clone(f, 0, lc.SIGCHLD)).exitCode;
    const fromExitCode = code(() => { process.exitCode = 6; process.exit() });
    const restored = process.exitCode;
    let caughtCode = '';
    const caughtExit = code(() => { try { lc.exit(8) } catch (e) { caughtCode = e.code } return 1 });
    report({ fromExitCode, restored: restored ?? null, caughtExit, caughtCode });
  `)
  t.deepEqual(ok(t, run), { fromExitCode: 6, restored: null, caughtExit: 8, caughtCode: 'ERR_CLONE_CHILD_EXITING' })
})

test('exit(3) ends the child with 3', (t) => {
  t.is(exitCodeOf(() => lc.exit(3)), 3)
})

test("execve('/bin/sh', ['sh', '-c', 'exit 9']) replaces the child", (t) => {
  t.is(exitCodeOf(() => lc.execve('/bin/sh', ['sh', '-c', 'exit 9'])), 9)
})

test('execve passes env, and the program starts with default signal handling and an open mask', (t) => {
  const out = fs.mkdtempSync(`${os.tmpdir()}/lc-exec-`)
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }))
  const pid = clone(
    () =>
      lc.execve('/bin/sh', ['sh', '-c', `echo "$LC_VAR" > ${out}/env; grep -E 'SigBlk|SigIgn' /proc/self/status > ${out}/sig`], {
        LC_VAR: 'from execve',
      }),
    0,
    SIGCHLD,
  )
  t.like(waitpid(pid), { exitCode: 0 })
  t.is(fs.readFileSync(`${out}/env`, 'utf8'), 'from execve\n')
  t.regex(fs.readFileSync(`${out}/sig`, 'utf8'), /SigBlk:\s+0+\nSigIgn:\s+0+\n/)
})

test('execve of a missing path throws ENOENT in the parent, and the child is already reaped', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      const err = attempt(() => lc.clone(() => lc.execve('/nonexistent/program', ['program']), 0, lc.SIGCHLD));
      let path;
      try { lc.clone(() => lc.execve('/nonexistent/program', ['program'])); } catch (e) { path = e.path; }
      report({ err, path, left: attempt(() => lc.waitpid(-1, lc.WNOHANG)).code });
    `),
  ) as { err: SystemErrorShape; path: string; left: string }
  isSystemError(t, r.err, 'ENOENT', 'execve', /execve\("\/nonexistent\/program", \["program"\]\) failed: no such file/)
  t.is(r.path, '/nonexistent/program')
  t.is(r.left, 'ECHILD', 'no child is left to reap')
})

test('a callback that returns a Promise, a fraction, 256 or a string exits 1 with a TypeError on stderr', async (t) => {
  const run = await runIsolated(`
    const codes = [async () => 0, () => 1.5, () => 256, () => 'x'].map((f) => lc.waitpid(lc.clone(f, 0, lc.SIGCHLD)).exitCode);
    report(codes);
  `)
  t.deepEqual(ok(t, run), [1, 1, 1, 1])
  t.regex(run.stderr, /TypeError \[ERR_INVALID_RETURN_VALUE\]: the clone\(\) callback returned a Promise: only synchronous work/)
  t.regex(run.stderr, /must return an integer from 0 to 255 .* Received 1\.5/)
  t.regex(run.stderr, /Received 256/)
  t.regex(run.stderr, /Received type string \('x'\)/)
})

test('exit() and execve() outside a callback throw ERR_NOT_IN_CLONE_CALLBACK', (t) => {
  t.like(caught(() => lc.exit(0)), { name: 'Error', code: 'ERR_NOT_IN_CLONE_CALLBACK' })
  t.regex(caught(() => lc.exit(0)).message, /works only inside a clone\(\) callback/)
  t.like(caught(() => lc.execve('/bin/true', ['true'])), { code: 'ERR_NOT_IN_CLONE_CALLBACK' })
})

test('exit() and execve() check their arguments', (t) => {
  t.like(caught(() => lc.exit(256)), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  // @ts-expect-error: a wrong type on purpose
  t.like(caught(() => lc.execve('/bin/true', 'true')), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  // @ts-expect-error: a wrong type on purpose
  t.like(caught(() => lc.execve('/bin/true', ['true', 1])), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  t.like(caught(() => lc.execve('/bin/true', ['true'], { A: 'x\0y' })), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  t.like(caught(() => lc.execve('/bin/true', ['true'], { 'A=B': 'x' })), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('refused flags: THREAD, SIGHAND, SETTLS, CHILD_SETTID, CHILD_CLEARTID and NEWTIME, each saying why', (t) => {
  const why: Array<[number, RegExp]> = [
    [lc.THREAD, /clone\(callback, THREAD\) refused: THREAD would make the child a second thread .*V8's heap/],
    [lc.SIGHAND, /SIGHAND would make the child a second thread/],
    [lc.SETTLS, /SETTLS set up a new thread's TLS .*Linux::Clone/],
    [lc.CHILD_SETTID, /CHILD_SETTID set up/],
    [lc.CHILD_CLEARTID, /CHILD_CLEARTID set up/],
    [lc.NEWTIME | NEWNET, /bit 0x80 is NEWTIME .*exit signal.*unshare\(NEWTIME\) inside the callback/],
  ]
  let ran = false
  for (const [flag, re] of why) {
    const e = caught(() => clone(() => void (ran = true), 0, flag))
    t.is(e.code, 'ERR_UNSUPPORTED_CLONE_FLAG', e.message)
    t.is(e.syscall, 'clone')
    t.is(e.errno, undefined)
    t.regex(e.message, re)
  }
  t.false(ran, 'no child ran')
})

test('refused arguments: tls, ctid, a callback that is not a function, a bad exit signal, ptid', (t) => {
  const anyClone = clone as unknown as (...args: unknown[]) => number
  const tls = caught(() => anyClone(() => 0, 0, SIGCHLD, undefined, 1))
  t.like(tls, { code: 'ERR_UNSUPPORTED_CLONE_FLAG', syscall: 'clone' })
  t.regex(tls.message, /tls argument serves SETTLS/)
  t.regex(caught(() => anyClone(() => 0, 0, SIGCHLD, undefined, undefined, 1)).message, /ctid argument/)
  t.like(caught(() => anyClone('not a function')), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "callback" argument must be of type function. Received type string (\'not a function\')',
  })
  t.like(caught(() => clone(() => 0, 0, 65)), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  t.like(caught(() => clone(() => 0, 0, lc.PIDFD)), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  t.regex(caught(() => clone(() => 0, 0, lc.PIDFD)).message, /must be an instance of Int32Array when flags include PIDFD/)
  t.like(caught(() => clone(() => 0, 0, lc.PARENT_SETTID, new Uint32Array(1) as unknown as Int32Array)), {
    code: 'ERR_INVALID_ARG_TYPE',
  })
  t.like(caught(() => clone(() => 0, 0, lc.PARENT_SETTID, new Int32Array(0))), { name: 'RangeError' })
  t.like(caught(() => clone(() => 0, -1)), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
  t.like(caught(() => clone(() => 0, 0, 15)), { name: 'Error', code: 'ERR_UNSUPPORTED_CLONE_FLAG' })
})

test('kernel refusals come back as system errors with syscall clone', (t) => {
  const ptid = new Int32Array(1)
  isSystemError(t, caught(() => clone(() => 0, 0, lc.PIDFD | lc.PARENT_SETTID | SIGCHLD, ptid)), 'EINVAL', 'clone', /PIDFD cannot be combined with DETACHED or PARENT_SETTID/)
  isSystemError(t, caught(() => clone(() => 0, 0, NEWUSER | lc.FS | SIGCHLD)), 'EINVAL', 'clone', /NEWUSER cannot be combined with FS/)
})

test('an unprivileged clone(NEWNET) is EPERM and names CAP_SYS_ADMIN', async (t) => {
  const r = ok(t, await runIsolated(`report(attempt(() => lc.clone(() => 0, 0, lc.NEWNET | lc.SIGCHLD)))`, { uid: 4242 }))
  isSystemError(t, r, 'EPERM', 'clone', /NEWNET\) needs CAP_SYS_ADMIN/)
  t.regex((r as SystemErrorShape).message, /^EPERM: clone\(callback, NEWNET\|SIGCHLD\) failed/)
})

test('PARENT_SETTID writes the child tid into ptid; PIDFD writes a pidfd', (t) => {
  const tid = new Int32Array(1)
  const pid = clone(() => 0, 0, lc.PARENT_SETTID | SIGCHLD, tid)
  t.is(tid[0], pid)
  waitpid(pid)
  const pidfd = new Int32Array([-1])
  const pid2 = clone(() => 0, 0, lc.PIDFD | SIGCHLD, pidfd)
  t.true(pidfd[0]! > 2)
  t.is(fs.readlinkSync(`/proc/self/fd/${pidfd[0]}`), 'anon_inode:[pidfd]')
  t.regex(fs.readFileSync(`/proc/self/fdinfo/${pidfd[0]}`, 'utf8'), new RegExp(`Pid:\\s+${pid2}\\n`))
  waitpid(pid2)
  fs.closeSync(pidfd[0]!)
})

test('clone works in a Worker: the child runs on the Worker thread, the Worker sees its writes', async (t) => {
  const r = ok(
    t,
    await runIsolated(`
      import { Worker } from 'node:worker_threads';
      const fromWorker = await new Promise((res, rej) => {
        const w = new Worker(\`
          const lc = require(${JSON.stringify(entry)});
          let x = 0;
          const pid = lc.clone(() => { x = 5; return 12; }, 0, lc.SIGCHLD);
          require('node:worker_threads').parentPort.postMessage({ x, exit: lc.waitpid(pid).exitCode, workerIsNotMain: lc.gettid() !== process.pid });\`,
          { eval: true, execArgv: [] });
        w.on('message', res).on('error', rej);
      });
      report(fromWorker);
    `),
  )
  t.deepEqual(r, { x: 5, exit: 12, workerIsNotMain: true })
})

test('a clone() inside a callback: the grandchild runs, the child reaps it', (t) => {
  t.is(
    exitCodeOf(() => {
      const inner = lc.waitpid(clone(() => 20, 0, SIGCHLD))
      return (inner?.exitCode ?? 0) + 1
    }),
    21,
  )
})

test('waitExit() inside a callback rejects: its promise could only settle on an event loop turn, which the child never has', async (t) => {
  let pending: Promise<unknown> | undefined
  t.is(
    exitCodeOf(() => {
      pending = lc.waitExit(process.pid)
    }),
    0,
  )
  const e = (await pending!.then(
    () => ({}),
    (err: unknown) => err,
  )) as SystemErrorShape
  t.is(e.code, 'ERR_UNSAFE_IN_CLONE_CALLBACK')
  t.regex(e.message, /settles on the event loop, which does not turn inside a clone\(\) callback/)
})

test('async work started in the callback runs later, in the parent', async (t) => {
  let resolvedIn = 0
  let pendingPromise: Promise<void> | undefined
  t.is(
    exitCodeOf(() => {
      pendingPromise = Promise.resolve().then(() => {
        resolvedIn = lc.getpid()
      })
    }),
    0,
  )
  await pendingPromise
  t.is(resolvedIn, process.pid)
})

for (const [how, body] of [
  ['SIGKILL from another process', `execSync('kill -9 ' + lc.getpid())`],
  ['SIGSEGV', `process.kill(lc.getpid(), 'SIGSEGV')`],
] as const) {
  test(`a child killed by ${how} mid-callback ends the parent with a fatal error that says so`, async (t) => {
    const run = await runIsolated(`
      lc.clone(() => { ${body}; }, 0, lc.SIGCHLD);
      report('carried on');
    `)
    t.is(run.signal, 'SIGABRT', run.stdout + run.stderr)
    t.false(run.stdout.includes('carried on'))
    const signal = how.split(' ')[0]
    t.regex(
      run.stderr,
      new RegExp(
        `FATAL ERROR: linux-clone: the clone\\(\\) child \\(pid \\d+\\) was killed by ${signal} while its JavaScript callback was running.*heap may be left half-modified`,
      ),
    )
  })
}

test('a blocked SIGTERM sent to the child mid-callback is harmless', (t) => {
  t.is(
    exitCodeOf(() => {
      process.kill(lc.getpid(), 'SIGTERM')
      return 4
    }),
    4,
  )
})

test('stress: 1000 clones under threadpool and GC load, all statuses right, in bounded time', async (t) => {
  const run = await runIsolated(
    `
      import crypto from 'node:crypto';
      import { PerformanceObserver } from 'node:perf_hooks';
      let gcs = 0;
      new PerformanceObserver((list) => { gcs += list.getEntries().length; }).observe({ entryTypes: ['gc'] });
      let busy = true, asyncDone = 0;
      const keepBusy = () => {
        if (!busy) return;
        let left = 2;
        const next = () => { asyncDone++; if (--left === 0) keepBusy(); };
        fs.promises.readFile('/proc/self/stat').then(next);
        crypto.pbkdf2('pw', 'salt', 2000, 32, 'sha256', next);
      };
      for (let i = 0; i < 4; i++) keepBusy();
      let wrong = 0, hold = [];
      for (let i = 0; i < 1000; i++) {
        const pid = lc.clone(() => {
          const junk = [];
          for (let j = 0; j < 5000; j++) junk.push({ j, s: 'x'.repeat(j % 50) });
          hold = junk;
          return i % 256;
        }, 0, lc.SIGCHLD);
        const r = lc.waitpid(pid);
        if (r.exitCode !== i % 256) wrong++;
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      busy = false;
      await new Promise((r) => setTimeout(r, 50));
      report({ wrong, asyncDone: asyncDone > 100, gcs: gcs > 10 });
    `,
    { timeout: 90_000 },
  )
  t.deepEqual(ok(t, run), { wrong: 0, asyncDone: true, gcs: true })
})

root("the options form: namespaces by their /proc names, exitSignal 'SIGCHLD' or null", async (t) => {
  const run = await runIsolated(`
    let hostname = '';
    const pid = lc.clone(() => { execSync('hostname options-form'); hostname = os.hostname(); return 12 }, { namespaces: ['uts', 'net'], exitSignal: 'SIGCHLD' });
    const first = lc.waitpid(pid).exitCode;
    const none = lc.waitpid(lc.clone(() => 3, { exitSignal: null })).exitCode;
    const ptid = new Int32Array(1);
    const withTid = lc.clone(() => 0, { flags: lc.PARENT_SETTID, ptid });
    lc.waitpid(withTid);
    report({ first, hostname, parent: os.hostname() !== 'options-form', none, tid: ptid[0] === withTid });
  `)
  t.deepEqual(ok(t, run), { first: 12, hostname: 'options-form', parent: true, none: 3, tid: true })
})

test('the options form refuses unknown names and signals before anything happens', (t) => {
  let ran = false
  const anyClone = clone as unknown as (cb: () => void, o: unknown) => number
  const bad = caught(() => anyClone(() => void (ran = true), { namespaces: ['network'] }))
  t.like(bad, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  t.regex(bad.message, /must hold names of mnt, uts, ipc, net, pid, user, cgroup .*Received type string \('network'\)/)
  t.like(caught(() => anyClone(() => void (ran = true), { namespaces: 'net' })), { code: 'ERR_INVALID_ARG_TYPE' })
  t.like(caught(() => anyClone(() => void (ran = true), { exitSignal: 'SIGFOO' })), { name: 'TypeError', code: 'ERR_UNKNOWN_SIGNAL' })
  const term = caught(() => anyClone(() => void (ran = true), { exitSignal: 'SIGTERM' }))
  t.is(term.code, 'ERR_UNSUPPORTED_CLONE_FLAG')
  t.regex(term.message, /exit signal SIGTERM .*kills Node\.js/)
  t.false(ran)
})
