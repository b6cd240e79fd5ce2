// Regression tests for clone(), execve(), unshare/setns and waitExit used as a hostile or
// careless caller would. Anything that could kill, hang or abort the process when a regression
// comes back runs in a process of its own.
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import * as lc from '../dist/index.js'
import { asRoot, entry, isSystemError, ok, root as packageRoot, runIsolated, type SystemErrorShape } from './_helpers.js'

const root = asRoot('creating namespaces needs CAP_SYS_ADMIN')

interface Described {
  name: string
  code?: string
  message: string
}

test('1: a program execve() starts has stdin, stdout and stderr open', async (t) => {
  const run = await runIsolated(`
    const pid = lc.clone(() => lc.execve('/bin/sh', ['sh', '-c', 'echo out; echo err >&2; ls -l /proc/self/fd/0 >/dev/null && echo in-open']), 0, lc.SIGCHLD);
    report(lc.waitpid(pid).exitCode);
  `)
  t.is(ok(t, run), 0)
  t.regex(run.stdout, /^out$/m)
  t.regex(run.stdout, /^in-open$/m)
  t.regex(run.stderr, /^err$/m)
})

test('2: a ptid buffer JavaScript takes away before the kernel writes is never written into', async (t) => {
  // A process.exit getter ran user code inside clone(): it moves ptid's memory to another
  // buffer. Nothing may write the tid there: the caller no longer gave it to clone().
  const run = await runIsolated(`
    const ptid = new Int32Array(new ArrayBuffer(512));
    let moved;
    const exit = process.exit;
    Object.defineProperty(process, 'exit', { configurable: true, get() {
      moved ??= structuredClone(ptid.buffer, { transfer: [ptid.buffer] });
      return exit;
    } });
    const pid = lc.clone(() => 0, 0, lc.PARENT_SETTID | lc.SIGCHLD, ptid);
    lc.waitpid(pid);
    // The callback may take it away too: then there is nothing to write into.
    const ptid2 = new Int32Array(new ArrayBuffer(512));
    let moved2;
    const pid2 = lc.clone(() => { moved2 = structuredClone(ptid2.buffer, { transfer: [ptid2.buffer] }) }, 0, lc.PARENT_SETTID | lc.SIGCHLD, ptid2);
    lc.waitpid(pid2);
    report({ written: moved !== undefined && new Int32Array(moved)[0] === pid, written2: new Int32Array(moved2)[0] === pid2, pid2: pid2 > 0 });
  `)
  t.deepEqual(ok(t, run), { written: false, written2: false, pid2: true })
})

test('3: an exit signal that would kill, stop or debug Node is refused before the clone', async (t) => {
  const run = await runIsolated(`
    const out = {};
    for (const s of [1, 9, 10, 15, 19, 34]) out[s] = attempt(() => lc.clone(() => 0, 0, lc.NEWNET | s));
    out.chld = lc.waitpid(lc.clone(() => 5, 0, lc.SIGCHLD)).exitCode;
    out.none = lc.waitpid(lc.clone(() => 6, 0, 0)).exitCode;
    report(out);
  `)
  const r = ok(t, run) as Record<string, Described | number>
  const expectations: Record<string, RegExp> = {
    1: /exit signal SIGHUP .*kills Node\.js/,
    9: /exit signal SIGKILL .*kills Node\.js/,
    10: /exit signal SIGUSR1 .*opens Node's inspector/,
    15: /exit signal SIGTERM .*kills Node\.js/,
    19: /exit signal SIGSTOP .*stops Node\.js/,
    34: /exit signal SIGRTMIN/,
  }
  for (const [s, pattern] of Object.entries(expectations)) {
    const e = r[s] as Described
    t.is(e.code, 'ERR_UNSUPPORTED_CLONE_FLAG', s)
    t.regex(e.message, /^clone\(callback, NEWNET\|SIG\w+\+?\d*\) refused: /, s)
    t.regex(e.message, pattern, s)
    t.regex(e.message, /use SIGCHLD, or 0 for no signal/, s)
  }
  t.is(r.chld, 5)
  t.is(r.none, 6)
})

/** Runs a CommonJS script in a node process of its own; its last stdout line is the result. */
async function runCommonJs(body: string): Promise<unknown> {
  const source = `const lc = require(${JSON.stringify(entry)}); const fs = require('node:fs');
    const nsOf = (type) => fs.readlinkSync('/proc/thread-self/ns/' + type);
    (async () => { ${body} })().then((x) => console.log(JSON.stringify(x)), (e) => { console.error(e); process.exitCode = 1 });`
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  await once(child, 'close')
  return JSON.parse(out.trim().split('\n').pop() ?? 'null')
}

// A CommonJS script: loading an ES module already starts the threadpool.
root("4: libuv's threadpool keeps the process's first namespace after unshare() as a program's first act", async (t) => {
  const r = await runCommonJs(`
    const first = nsOf('net');
    lc.unshare(lc.NEWNET);
    const pool = await fs.promises.readlink('/proc/thread-self/ns/net');
    return { moved: nsOf('net') !== first, poolKept: pool === first };
  `)
  t.deepEqual(r, { moved: true, poolKept: true })
})

root("4: a Worker that unshares before any async fs leaves the threadpool where it was", async (t) => {
  // The Worker is the pool's first user: without the fix, the pool starts in its namespace.
  const r = await runCommonJs(`
    const { Worker } = require('node:worker_threads');
    const first = nsOf('net');
    const w = new Worker(\`
      const lc = require(\${JSON.stringify(${JSON.stringify(entry)})});
      const fs = require('node:fs');
      lc.unshare(lc.NEWNET);
      fs.promises.readlink('/proc/thread-self/ns/net').then((pool) => require('node:worker_threads').parentPort.postMessage(pool));
    \`, { eval: true });
    const poolSeenByWorker = await new Promise((resolve) => w.once('message', resolve));
    await w.terminate();
    const pool = await fs.promises.readlink('/proc/thread-self/ns/net');
    return { poolKept: pool === first && poolSeenByWorker === first };
  `)
  t.deepEqual(r, { poolKept: true })
})

root('5: a Worker started after unshare() starts in the new namespace, as docs/threads.md says', async (t) => {
  const run = await runIsolated(`
    const { Worker } = await import('node:worker_threads');
    const first = nsOf('uts');
    lc.unshare(lc.NEWUTS);
    const w = new Worker("require('node:worker_threads').parentPort.postMessage(require('node:fs').readlinkSync('/proc/thread-self/ns/uts'))", { eval: true, execArgv: [] });
    const [ns] = await new Promise((resolve) => w.once('message', (m) => resolve([m])));
    await w.terminate();
    report({ inNew: ns === nsOf('uts') && ns !== first });
  `)
  t.deepEqual(ok(t, run), { inNew: true })
  t.regex(fs.readFileSync(new URL('../docs/threads.md', import.meta.url), 'utf8'), /\| Workers started afterwards \| \*\*yes\*\*/)
})

root('6: setns(pidfd, NEWNS) is refused while the thread shares root and cwd, and works after unshare(FS)', async (t) => {
  const run = await runIsolated(`
    const { spawn } = await import('node:child_process');
    const target = spawn('unshare', ['--mount', 'sleep', '30'], { stdio: 'ignore' });
    const mine = nsOf('mnt');
    while (fs.readlinkSync('/proc/' + target.pid + '/ns/mnt') === mine) await new Promise((r) => setTimeout(r, 5));
    const pidfd = lc.pidfdOpen(target.pid);
    const refused = attempt(() => lc.setns(pidfd, lc.NEWNS | lc.NEWUTS));
    const poolAfterRefusal = await fs.promises.readlink('/proc/thread-self/ns/mnt');
    const stillHere = nsOf('mnt') === mine && poolAfterRefusal === mine;
    lc.unshare(lc.FS);
    lc.setns(pidfd, lc.NEWNS);
    const entered = nsOf('mnt') === fs.readlinkSync('/proc/' + target.pid + '/ns/mnt');
    const poolKept = (await fs.promises.readlink('/proc/thread-self/ns/mnt')) === mine;
    target.kill();
    report({ refused, stillHere, entered, poolKept });
  `)
  const r = ok(t, run) as { refused: Described; stillHere: boolean; entered: boolean; poolKept: boolean }
  t.is(r.refused.code, 'ERR_UNSAFE_WITH_THREADS')
  t.regex(r.refused.message, /^setns\(\d+, NEWNS\|NEWUTS\) refused: .*root and cwd of all of them.*call unshare\(FS\) first/)
  t.like(r, { stillHere: true, entered: true, poolKept: true })
})

test('7: an asynchronous child process in a callback is refused, and Node exits afterwards', async (t) => {
  const run = await runIsolated(
    `
    const { spawn, exec, execFile } = await import('node:child_process');
    let errors = [];
    const pid = lc.clone(() => {
      for (const f of [() => spawn('true'), () => exec('true'), () => execFile('true')]) {
        try { f(); errors.push('no error') } catch (e) { errors.push(describe(e)) }
      }
      execSync('true');
      return 3;
    }, 0, lc.SIGCHLD);
    const status = lc.waitpid(pid).exitCode;
    const later = await new Promise((resolve) => spawn('true').on('exit', resolve));
    report({ status, errors, later });
  `,
    { timeout: 10_000 },
  )
  const r = ok(t, run) as { status: number; errors: Described[]; later: number }
  t.is(r.status, 3)
  t.is(r.later, 0, 'child_process works again after the callback')
  t.is(r.errors.length, 3)
  for (const e of r.errors) {
    t.is(e.code, 'ERR_UNSAFE_IN_CLONE_CALLBACK')
    t.regex(e.message, /^An asynchronous child process .* would be the child's child: Node\.js would never hear of its exit.*\(execSync, spawnSync\).*execve\(\)/)
  }
})

test('8: a Worker or inspector.open() in a callback is refused, and the child is reaped', async (t) => {
  const run = await runIsolated(
    `
    const { Worker } = await import('node:worker_threads');
    const inspector = await import('node:inspector');
    let errors = [];
    const pid = lc.clone(() => {
      try { new Worker('setInterval(() => {}, 1000)', { eval: true, execArgv: [] }); errors.push('no error') } catch (e) { errors.push(describe(e)) }
      try { inspector.default.open(0); errors.push('no error') } catch (e) { errors.push(describe(e)) }
      return 4;
    }, 0, lc.SIGCHLD);
    const status = lc.waitpid(pid).exitCode;
    const w = new Worker("require('node:worker_threads').parentPort.postMessage(7)", { eval: true, execArgv: [] });
    const [m] = await new Promise((resolve) => w.once('message', (x) => resolve([x])));
    await w.terminate();
    report({ status, errors, workerAfter: m });
  `,
    { timeout: 10_000 },
  )
  const r = ok(t, run) as { status: number; errors: Described[]; workerAfter: number }
  t.is(r.status, 4)
  t.is(r.workerAfter, 7)
  t.is(r.errors[0]?.code, 'ERR_UNSAFE_IN_CLONE_CALLBACK')
  t.regex(r.errors[0]?.message ?? '', /^new Worker\(\) in a clone\(\) callback would start a thread that belongs to the child.*start Workers before or after clone\(\)/)
  t.is(r.errors[1]?.code, 'ERR_UNSAFE_IN_CLONE_CALLBACK')
  t.regex(r.errors[1]?.message ?? '', /^inspector\.open\(\) in a clone\(\) callback would start a thread.*open the inspector before clone\(\)/)
})

test('8: threads native code starts in a callback end the parent with a fatal error, not a hang', async (t) => {
  // The binding's own clone, without the guards of the package's: the thread starts.
  const run = await runIsolated(
    `
    const { createRequire } = await import('node:module');
    const binding = createRequire(import.meta.url)(${JSON.stringify(`${packageRoot}index.js`)});
    const { Worker } = await import('node:worker_threads');
    const clone = binding.nativeClone ?? binding.clone;
    const pid = clone(() => { new Worker('setInterval(() => {}, 1000)', { eval: true, execArgv: [] }) }, 0, lc.SIGCHLD);
    report(lc.waitpid(pid));
  `,
    { timeout: 10_000 },
  )
  t.is(run.signal, 'SIGABRT', run.stderr)
  t.regex(run.stderr, /FATAL ERROR: linux-clone: the clone\(\) callback of child \d+ started threads \(a Worker, inspector\.open\(\)\)/)
})

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`9: ${signal} that kills Node while a callback runs ends the child too`, async (t) => {
    const dir = fs.mkdtempSync(`${os.tmpdir()}/linux-clone-`)
    const pidFile = `${dir}/child`
    const source = `
      import * as lc from ${JSON.stringify(entry)};
      import fs from 'node:fs';
      lc.clone(() => { fs.writeFileSync(${JSON.stringify(pidFile)}, String(lc.getpid())); for (;;) {} }, 0, lc.SIGCHLD);
    `
    const node = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: 'ignore' })
    try {
      let childPid = 0
      for (let i = 0; i < 500 && !childPid; i++) {
        await new Promise((r) => setTimeout(r, 10))
        if (fs.existsSync(pidFile)) childPid = Number(fs.readFileSync(pidFile, 'utf8')) || 0
      }
      t.true(childPid > 0, 'the callback started')
      node.kill(signal)
      const [, sig] = (await once(node, 'exit')) as [number | null, string | null]
      t.is(sig, signal)
      let gone = false
      for (let i = 0; i < 200 && !gone; i++) {
        const stat = fs.existsSync(`/proc/${childPid}/stat`) ? fs.readFileSync(`/proc/${childPid}/stat`, 'utf8') : ''
        gone = stat === '' || /\) [ZX] /.test(stat) || !stat.includes('(node)')
        if (!gone) await new Promise((r) => setTimeout(r, 10))
      }
      if (!gone) process.kill(childPid, 'SIGKILL')
      t.true(gone, `the child ${childPid} outlived its parent`)
    } finally {
      node.kill('SIGKILL')
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
}

test('10: PARENT is refused: the child would be another process\'s, left a zombie', async (t) => {
  const run = await runIsolated(`report(attempt(() => lc.clone(() => 0, 0, lc.NEWUTS | 0x8000 | lc.SIGCHLD)))`)
  const e = ok(t, run) as Described
  t.is(e.code, 'ERR_UNSUPPORTED_CLONE_FLAG')
  t.regex(e.message, /^clone\(callback, NEWUTS\|PARENT\|SIGCHLD\) refused: PARENT would make the child a child of Node's parent.*ECHILD.*zombie/)
  t.is(lc.PARENT as number, 0x8000)
})

test('11: unshare(FILES) inside a callback is refused: the parent would abort on the fds made after it', async (t) => {
  const run = await runIsolated(`
    let seen;
    const pid = lc.clone(() => { seen = attempt(() => lc.unshare(lc.FILES)); return 0 }, 0, lc.SIGCHLD);
    lc.waitpid(pid);
    report(seen);
  `)
  const e = ok(t, run) as Described
  t.is(e.code, 'ERR_UNSAFE_WITH_THREADS')
  t.regex(e.message, /^unshare\(FILES\) refused: inside a clone\(\) callback.*event loop aborts/)
})

test('12: process.exit reached any way ends only the child; its exit handlers stay the parent\'s', async (t) => {
  const run = await runIsolated(`
    process.on('exit', () => console.error('exit handler ran in ' + lc.getpid()));
    const listenersBefore = process.listenerCount('exit');
    const saved = process.exit;
    const code = (f) => lc.waitpid(lc.clone(f, 0, lc.SIGCHLD)).exitCode;
    const out = {};
    out.saved = code(() => { saved(3) });
    out.reallyExit = code(() => { process.reallyExit(4) });
    process.exitCode = 5;
    out.asCallback = code(process.exit);
    out.exitCodeAfter = process.exitCode;
    process.exitCode = undefined;
    Object.defineProperty(process, 'exit', { configurable: true, get() { throw new Error('getter') } });
    out.throwingGetter = code(() => 7);
    Object.defineProperty(process, 'exit', { configurable: true, writable: true, value: saved });
    out.listenersKept = process.listenerCount('exit') === listenersBefore;
    report(out);
  `)
  t.deepEqual(ok(t, run), { saved: 3, reallyExit: 4, asCallback: 5, exitCodeAfter: 5, throwingGetter: 7, listenersKept: true })
  t.is(run.stderr.match(/exit handler ran/g)?.length, 1, run.stderr)
  t.notRegex(run.stderr, /FATAL|Thrown in a clone/)
})

test('12: guards that cannot be put back refuse clone() before anything happens; a process frozen after loading keeps them', async (t) => {
  const run = await runIsolated(`
    // Frozen after the package loaded: the guards are in place already and still work.
    Object.freeze(process);
    // (process.exit() itself cannot run on a frozen process: it sets process.exitCode.)
    const frozen = lc.waitpid(lc.clone(() => { process.reallyExit(7) }, 0, lc.SIGCHLD)).exitCode;
    report({ frozen });
    process.reallyExit(0); // Node's own exit path cannot run on a frozen process
  `)
  t.deepEqual(ok(t, run), { frozen: 7 })
  const replaced = await runIsolated(`
    // Someone puts a reallyExit of their own in place, for good: the guard cannot come back.
    const own = process.reallyExit;
    Object.defineProperty(process, 'reallyExit', { value: (code) => own.call(process, code), writable: false, configurable: false });
    let ran = false;
    const e = attempt(() => lc.clone(() => { ran = true }, 0, lc.SIGCHLD));
    report({ e, ran, children: attempt(() => lc.waitpid(-1, lc.WNOHANG)).code });
  `)
  const r = ok(t, replaced) as { e: Described; ran: boolean; children: string }
  t.is(r.e.code, 'ERR_CLONE_UNGUARDED')
  t.regex(r.e.message, /^clone\(\) refused: process\.reallyExit cannot be replaced .*process\.exit\(\) would end this process/)
  t.false(r.ran)
  t.is(r.children, 'ECHILD')
})

test("13: a callback's process.chdir() leaves the parent's process.cwd() true", async (t) => {
  const run = await runIsolated(`
    const before = process.cwd();
    lc.waitpid(lc.clone(() => { process.chdir('/tmp'); return process.cwd() === '/tmp' ? 0 : 1 }, 0, lc.SIGCHLD));
    report({ same: process.cwd() === before, real: fs.realpathSync('.') === fs.realpathSync(before) });
  `)
  t.deepEqual(ok(t, run), { same: true, real: true })
})

test('14: a failed execve() with PIDFD leaks no fd', async (t) => {
  const run = await runIsolated(`
    const count = () => fs.readdirSync('/proc/self/fd').length;
    const before = count();
    const ptid = new Int32Array(1);
    let codes = new Set();
    for (let i = 0; i < 100; i++) {
      try { lc.clone(() => lc.execve('/nonexistent', ['x']), 0, lc.PIDFD | lc.SIGCHLD, ptid) } catch (e) { codes.add(e.code) }
    }
    report({ leaked: count() - before, codes: [...codes], ptid: ptid[0] });
  `)
  t.deepEqual(ok(t, run), { leaked: 0, codes: ['ENOENT'], ptid: -1 })
})

test('16: waitExit() rejects, never throws, for arguments whose inspection throws', async (t) => {
  const hostile = [
    new Proxy({}, { get() { throw new Error('trap') }, getPrototypeOf() { throw new Error('trap') } }),
    Object.defineProperty({}, 'constructor', { get() { throw new Error('getter') } }),
  ]
  for (const value of hostile) {
    let promise: Promise<unknown> | undefined
    t.notThrows(() => {
      promise = lc.waitExit(value as unknown as number)
    })
    const e = await t.throwsAsync(promise!)
    t.is((e as SystemErrorShape).code, 'ERR_INVALID_ARG_TYPE')
    t.true(e instanceof TypeError)
    t.regex(e!.message, /The "pid" argument must be of type number/)
  }
})

test('17: stackSize is accepted for Linux::Clone and ignored: any size, the same depth', (t) => {
  const depthWith = (stackSize: number): number => {
    let depth = 0
    const dive = (n: number): number => {
      depth = n
      return dive(n + 1) + 1
    }
    lc.waitpid(
      lc.clone(() => {
        try {
          dive(0)
        } catch {
          // Maximum call stack size exceeded: V8's limit, not stackSize.
        }
      }, stackSize, lc.SIGCHLD),
    )
    return depth
  }
  const small = depthWith(4096)
  const large = depthWith(1 << 20)
  t.true(small > 1000, `${small}`)
  t.true(Math.abs(small - large) < small / 10, `${small} vs ${large}`)
  t.is(lc.waitpid(lc.clone(() => 9, 2 ** 40, lc.SIGCHLD))?.exitCode, 9)
  t.throws(() => lc.clone(() => 0, -1, lc.SIGCHLD), { code: 'ERR_OUT_OF_RANGE' })
})

test('18: kernel EINVALs of clone() say which flags clash', (t) => {
  isSystemError(t, t.throws(() => lc.clone(() => 0, 0, lc.NEWIPC | lc.SYSVSEM | lc.SIGCHLD)), 'EINVAL', 'clone', /NEWIPC cannot be combined with SYSVSEM/)
  isSystemError(t, t.throws(() => lc.clone(() => 0, 0, lc.NEWNS | lc.FS | lc.SIGCHLD)), 'EINVAL', 'clone', /NEWNS cannot be combined with FS/)
})

root('18: a nested clone(NEWPID) after unshare(NEWPID) names the cause, not CLONE_PARENT', async (t) => {
  const run = await runIsolated(`
    let inner;
    lc.waitpid(lc.clone(() => { lc.unshare(lc.NEWPID); inner = attempt(() => lc.clone(() => 0, 0, lc.NEWPID | lc.SIGCHLD)) }, 0, lc.SIGCHLD));
    report(inner);
  `)
  const e = ok(t, run) as SystemErrorShape
  isSystemError(t, e, 'EINVAL', 'clone', /after unshare\(NEWPID\).*pass NEWPID to the outer clone/)
  t.notRegex(e.message, /CLONE_PARENT/)
})

test('18: waitpid(pid, __WCLONE) on a SIGCHLD child says the exit signal does not match', (t) => {
  const pid = lc.clone(() => 0, 0, lc.SIGCHLD)
  isSystemError(t, t.throws(() => lc.waitpid(pid, lc.__WCLONE)), 'ECHILD', 'waitpid', /exit signal is SIGCHLD.*leave __WCLONE out/)
  t.is(lc.waitpid(pid)?.exitCode, 0)
})

test('18: an E2BIG message quotes a bounded part of argv', (t) => {
  const huge = 'x'.repeat(5_000_000)
  const e = t.throws(() => lc.clone(() => lc.execve('/bin/true', ['true', huge]), 0, lc.SIGCHLD)) as SystemErrorShape
  isSystemError(t, e, 'E2BIG', 'execve', /argv and the environment are too large/)
  t.true(e.message.length < 1000, `${e.message.length} characters`)
  t.regex(e.message, /more characters\)/)
})

test('18: a stack overflow in nested clones is printed as a RangeError', async (t) => {
  const run = await runIsolated(`
    const dive = () => lc.waitpid(lc.clone(dive, 0, lc.SIGCHLD)).exitCode;
    report(lc.waitpid(lc.clone(dive, 0, lc.SIGCHLD)).exitCode);
  `)
  t.is(ok(t, run), 1)
  t.regex(run.stderr, /RangeError: Maximum call stack size exceeded/)
  t.notRegex(run.stderr, /cannot be printed/)
})

test('19: process.exit() in a callback coerces its code as Node does', async (t) => {
  const run = await runIsolated(`
    const code = (f) => lc.waitpid(lc.clone(f, 0, lc.SIGCHLD)).exitCode;
    const out = { str: code(() => process.exit('3')), big: code(() => process.exit(2 ** 40)), neg: code(() => process.exit(-1)) };
    out.bad = attempt(() => lc.clone(() => process.exit('x'), 0, lc.SIGCHLD));
    report(out);
  `)
  const r = ok(t, run) as Record<string, unknown>
  t.like(r, { str: 3, big: 0, neg: 255 })
  t.is(r.bad, 'no error', 'a code Node rejects is a TypeError thrown in the callback, which exits 1')
  t.regex(run.stderr, /ERR_INVALID_ARG_TYPE/)
})

test('18: a callback stopped by Worker.terminate() says so, not a napi status', async (t) => {
  const run = await runIsolated(
    `
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(\`
      const lc = require(\${JSON.stringify(${JSON.stringify(entry)})});
      require('node:worker_threads').parentPort.postMessage('go');
      for (;;) lc.waitpid(lc.clone(() => { for (let i = 0; i < 1e5; i++); return 0 }, 0, lc.SIGCHLD));
    \`, { eval: true, execArgv: [] });
    await new Promise((resolve) => w.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await w.terminate();
    report('terminated');
  `,
    { timeout: 20_000 },
  )
  t.is(ok(t, run), 'terminated')
  t.notRegex(run.stderr, /napi status|cannot be printed/)
})
