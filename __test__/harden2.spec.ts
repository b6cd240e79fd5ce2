// Hardening, second round: spawn() and the toolkit against hostile or careless use. Each test
// is named after the defect it guards against; anything that could hang or kill the process
// when a regression comes back runs in a process of its own, with a timeout.
import test from 'ava'
import { allowOnly, type LifecycleCall } from './_bpf.js'
import { asRoot, inNode, isSystemError, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

const root = asRoot('a reaper needs a new pid namespace')

/** A spawn error as the isolated run reports it, with its step. */
interface Described extends SystemErrorShape {
  step?: string
}

// ---- defect 1: a filter that refuses execve and exit never hangs the parent ----

const filters: { name: string; allow: LifecycleCall[]; tail: RegExp }[] = [
  { name: 'refusing everything', allow: [], tail: /refuses exit_group and exit: the child ended itself with SIGILL/ },
  { name: 'allowing only exit_group', allow: ['exit_group'], tail: /allow execve$/ },
  { name: 'allowing write and exit, not execve', allow: ['write', 'exit'], tail: /also refuses exit_group: the child ended with exit/ },
]

for (const reaper of [false, true]) {
  for (const f of filters) {
    const title = `defect 1: a deny-by-default filter ${f.name}${reaper ? ', under a reaper,' : ''} fails spawnSync and spawn with the cause`
    ;(reaper ? root : test)(title, async (t) => {
      const filter = allowOnly(f.allow, 1)
      const options = reaper ? `namespaces: ['pid'], pidns: { init: 'reaper' },` : ''
      const run = await runIsolated(
        `
        const seccomp = Buffer.from(${JSON.stringify(filter.toString('base64'))}, 'base64');
        const options = { ${options} seccomp, stdio: 'ignore' };
        const d = (e) => e && { ...describe(e), step: e.step };
        const sync = lc.spawnSync('/bin/true', [], options);
        const child = lc.spawn('/bin/true', [], options);
        const events = [];
        const error = await new Promise((resolve) => child.on('error', resolve));
        const exited = await child.exited.then(() => 'resolved', (e) => e === error ? 'rejected with it' : 'rejected');
        report({ sync: d(sync.error), status: sync.status, async: d(error), exited });
      `,
        { timeout: 20_000 },
      )
      const r = ok(t, run) as { sync: Described; status: number | null; async: Described; exited: string }
      for (const e of [r.sync, r.async]) {
        t.truthy(e, 'the spawn must fail')
        t.is(e.step, 'execve')
        isSystemError(t, e, 'EPERM', 'execve', /the seccomp filter refuses execve \(it answers EPERM\)/)
        t.regex(e.message, f.tail)
      }
      t.is(r.status, null)
      t.is(r.exited, 'rejected with it')
    })
  }
}

// ---- defect 2: a seccomp fd that never ends ----

test('defect 2: a seccomp fd that never ends (/dev/zero) is read only to the kernel limit and refused', async (t) => {
  const run = await runIsolated(
    `
    const fd = fs.openSync('/dev/zero', 'r');
    const big = '/tmp/lc-filter-' + process.pid;
    fs.writeFileSync(big, Buffer.alloc(4097 * 8));
    const fileFd = fs.openSync(big, 'r');
    fs.rmSync(big);
    report({ zero: attempt(() => lc.spawnSync('/bin/true', [], { seccomp: fd })),
             file: attempt(() => lc.spawn('/bin/true', [], { seccomp: { fd: fileFd } })) });
  `,
    { timeout: 20_000 },
  )
  const r = ok(t, run) as { zero: Described; file: Described }
  for (const e of [r.zero, r.file]) {
    t.is(e.name, 'TypeError')
    t.is(e.code, 'ERR_INVALID_ARG_VALUE')
    t.regex(e.message, /^The property 'options\.seccomp' must be at most 4096 instructions \(BPF_MAXINSNS, 32768 bytes\): fd \d+ holds more \(reading stopped at 32769 bytes\)/)
  }
})

test('defect 2: a seccomp pipe whose write end stays open is refused at once, not waited on', async (t) => {
  // A FIFO opened read-write is a pipe that holds its own write end: it never reaches EOF.
  const run = await runIsolated(
    `
    const path = '/tmp/lc-fifo-' + process.pid;
    execFileSync('mkfifo', [path]);
    const fd = fs.openSync(path, fs.constants.O_RDWR);
    fs.rmSync(path);
    const empty = attempt(() => lc.spawnSync('/bin/true', [], { seccomp: fd }));
    fs.writeSync(fd, Buffer.alloc(16));
    const partial = attempt(() => lc.spawnSync('/bin/true', [], { seccomp: fd }));
    report({ empty, partial });
  `,
    { timeout: 20_000 },
  )
  const r = ok(t, run) as { empty: Described; partial: Described }
  t.is(r.empty.code, 'ERR_INVALID_ARG_VALUE')
  t.regex(r.empty.message, /names fd \d+, a pipe or socket with no end of file after 0 bytes: its write end is still open/)
  t.regex(r.partial.message, /no end of file after 16 bytes: its write end is still open\. A filter is read to its end without waiting/)
})

test('defect 2: a closed seccomp fd is named as not open', async (t) => {
  const run = await runIsolated(`
    const fd = fs.openSync('/dev/null', 'r');
    fs.closeSync(fd);
    report(attempt(() => lc.spawnSync('/bin/true', [], { seccomp: fd })));
  `)
  isSystemError(t, ok(t, run), 'EBADF', 'read', /fd \d+ \(options\.seccomp\) is not open for reading/)
})

// ---- defect 5: errors that name the argument and the cause, and stay short ----

test('defect 5: 70,000 groups are refused up front, NGROUPS_MAX named, in a short message', async (t) => {
  const run = await runIsolated(`
    report(attempt(() => lc.spawnSync('/bin/true', [], { groups: Array.from({ length: 70000 }, (_, i) => i) })));
  `)
  const e = ok(t, run) as Described
  t.is(e.name, 'RangeError')
  t.is(e.code, 'ERR_OUT_OF_RANGE')
  t.is(e.message, 'The value of "options.groups.length" is out of range. It must be <= 65536 (NGROUPS_MAX, the kernel\'s limit). Received 70000: [0, 1, 2, 3, 4, 5, 6, 7, … 69992 more]')
})

test('defect 5: options = [] is named as the wrong type', async (t) => {
  const run = await runIsolated(`
    report([attempt(() => lc.spawnSync('/bin/true', [], [])), attempt(() => lc.spawn('/bin/true', [], []))]);
  `)
  for (const e of ok(t, run) as Described[]) {
    t.is(e.name, 'TypeError')
    t.is(e.code, 'ERR_INVALID_ARG_TYPE')
    t.is(e.message, 'The "options" argument must be of type object. Received an instance of Array')
  }
})

root('defect 5: timeOffsets beyond the kernel limits are refused up front; negative fractions work', async (t) => {
  const run = await runIsolated(`
    const o = (timeOffsets) => ({ namespaces: ['time'], timeOffsets });
    report({
      below: attempt(() => lc.spawnSync('/bin/true', [], o({ monotonic: -1e12 }))),
      above: attempt(() => lc.spawnSync('/bin/true', [], o({ boottime: 1e300 }))),
      fraction: lc.spawnSync('/bin/true', [], o({ monotonic: -1.5, boottime: 2.25 })).error?.message ?? 'ok',
    });
  `)
  const r = ok(t, run) as { below: Described; above: Described; fraction: string }
  t.is(r.below.code, 'ERR_OUT_OF_RANGE')
  t.regex(r.below.message, /^The value of "options\.timeOffsets\.monotonic" is out of range\. It must be >= -\d+ && <= \d+ \(the monotonic clock, at \d+ s, plus its offset must stay within 0 and 4611686018 s\)\. Received -1000000000000$/)
  t.is(r.above.code, 'ERR_OUT_OF_RANGE')
  t.regex(r.above.message, /"options\.timeOffsets\.boottime"/)
  t.is(r.fraction, 'ok')
})

test('defect 5: stdio and join fds that are closed or of the wrong kind are named with the right cause', async (t) => {
  const run = await runIsolated(`
    const uts = fs.openSync('/proc/self/ns/uts', 'r');
    const file = fs.openSync('/etc/hostname', 'r');
    // The lowest free number: the next fd the spawn opens for itself would take it.
    const closed = fs.openSync('/dev/null', 'r');
    fs.closeSync(closed);
    const e = (f) => { try { const x = f(); if (x.error) throw x.error; return 'no error' } catch (err) { return { ...describe(err), step: err.step } } };
    report({
      stdio: e(() => lc.spawnSync('/bin/true', [], { stdio: ['pipe', closed, 'pipe'] })),
      join: e(() => lc.spawnSync('/bin/true', [], { join: { net: closed } })),
      type: e(() => lc.spawnSync('/bin/true', [], { join: { net: uts } })),
      pidfd: e(() => lc.spawnSync('/bin/true', [], { join: { pidfd: file, types: ['net', 'uts'] } })),
    });
  `)
  const r = ok(t, run) as Record<'stdio' | 'join' | 'type' | 'pidfd', Described>
  t.is(r.stdio.step, 'fds')
  isSystemError(t, r.stdio, 'EBADF', 'fcntl', /fd \d+ given as options\.stdio\[1\] is not open/)
  t.is(r.join.step, 'setns')
  isSystemError(t, r.join, 'EBADF', 'setns', /fd \d+ given for net in options\.join is not open/)
  isSystemError(t, r.type, 'EINVAL', 'setns', /fd \d+ is a uts namespace, not a net namespace/)
  isSystemError(t, r.pidfd, 'EINVAL', 'setns', /fd \d+ is neither a namespace nor a pidfd but a regular file \(\/etc\/hostname\)/)
})

test('defect 5: overlapping id-map ranges are named up front', async (t) => {
  const run = await runIsolated(`
    report(attempt(() => lc.spawnSync('/bin/true', [], { namespaces: ['user'], uidMap: [{ inside: 0, outside: 4242, count: 10 }, { inside: 5, outside: 100, count: 1 }] })));
  `)
  const e = ok(t, run) as Described
  t.is(e.code, 'ERR_INVALID_ARG_VALUE')
  t.is(e.message, "The property 'options.uidMap[1]' must not overlap options.uidMap[0]: both map inside ids from 5. Received '5 100 1'")
})

test('defect 5: as uid 4242, a map of ids the caller does not own names those ids', async (t) => {
  const run = await runIsolated(
    `
    const e = lc.spawnSync('/bin/true', [], { namespaces: ['user'], uidMap: [{ inside: 0, outside: 0, count: 1 }] }).error;
    report(e && { ...describe(e), step: e.step });
  `,
    { uid: 4242 },
  )
  const e = ok(t, run) as Described
  t.is(e.step, 'idmap')
  isSystemError(t, e, 'EPERM', 'write', /outside uids \[0\] are not this process's own \(uid 4242\)/)
  t.true(e.message.length < 400, e.message)
})

// ---- defect 6: a spawn that fails behaves as child_process's does ----

/** Records what a ChildProcess-like object shows: streams at once, then events until 'close'. */
const observe = `
  const observe = (c) => new Promise((resolve) => {
    const events = [];
    const streams = { stdin: !!c.stdin, stdout: !!c.stdout, stderr: !!c.stderr, stdio: c.stdio.map(Boolean) };
    for (const name of ['spawn', 'error', 'exit', 'close'])
      c.on(name, (...args) => {
        events.push([name, ...args.map((a) => (a instanceof Error ? a.code : a))]);
        if (name === 'close') setTimeout(() => resolve({ streams, events, exitCode: c.exitCode, killed: c.kill(),
          destroyed: [c.stdin.destroyed, c.stdout.destroyed, c.stderr.destroyed], ended: [c.stdout.readableEnded, c.stderr.readableEnded] }), 20);
      });
    c.stdout.on('end', () => events.push(['stdout end']));
  });
`

inNode("it compares with Node's child_process, whose events for a failed spawn Bun orders differently ('close' before stdout's 'end')")('defect 6: a spawn that fails (ENOENT) gives stdio streams, then error and close, as child_process does', async (t) => {
  const run = await runIsolated(
    `${observe}
    const ours = await observe(lc.spawn('/nonexistent/program'));
    const theirs = await observe((await import('node:child_process')).spawn('/nonexistent/program'));
    const thrown = lc.spawn('/nonexistent/program').on('error', () => {});
    const exited = await thrown.exited.then(() => 'resolved', (e) => e.code);
    report({ ours, theirs, exited });
  `,
    { timeout: 20_000 },
  )
  const r = ok(t, run) as { ours: unknown; theirs: { events: unknown[] }; exited: string }
  t.deepEqual(r.theirs.events, [['error', 'ENOENT'], ['stdout end'], ['close', -2, null]], 'child_process as this test knows it')
  t.deepEqual(r.ours, r.theirs)
  t.is(r.exited, 'ENOENT')
})

test('defect 6: a spawn with an AbortSignal already aborted gives streams, then error and close', async (t) => {
  const run = await runIsolated(
    `${observe}
    const ac = new AbortController();
    ac.abort();
    const child = lc.spawn('/bin/true', [], { signal: ac.signal });
    const ours = await observe(child);
    const exited = await child.exited.then(() => 'resolved', (e) => e.code);
    report({ ours, exited, pid: child.pid ?? null });
  `,
    { timeout: 20_000 },
  )
  const r = ok(t, run) as { ours: { events: unknown[]; streams: unknown; destroyed: boolean[] }; exited: string; pid: number | null }
  // child_process starts the program, then kills it; this never starts it: the same order of
  // 'error' and 'close', without 'spawn' and 'exit'.
  t.deepEqual(r.ours.events, [['error', 'ABORT_ERR'], ['stdout end'], ['close', null, null]])
  t.deepEqual(r.ours.streams, { stdin: true, stdout: true, stderr: true, stdio: [true, true, true] })
  t.deepEqual(r.ours.destroyed, [true, true, true])
  t.is(r.exited, 'ABORT_ERR')
  t.is(r.pid, null)
})

// ---- defect 8: inNamespaces() and clone() with values and stacks that fight back ----

test('defect 8: inNamespaces() rethrows a value whose properties throw, and its child does not die of it', async (t) => {
  const run = await runIsolated(`
    const net = fs.openSync('/proc/self/ns/net', 'r');
    const trap = () => { throw new Error('trap') };
    const proxy = new Proxy({}, { get: trap, getPrototypeOf: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap });
    const getters = { get message() { throw new Error('m') }, get stack() { throw new Error('s') }, get code() { throw new Error('c') } };
    const out = {};
    for (const [name, value] of Object.entries({ proxy, getters })) {
      try { lc.inNamespaces({ net }, () => { throw value }); out[name] = 'no error' }
      catch (e) { out[name] = e === value ? 'the value fn threw' : String(e?.message) }
    }
    report(out);
  `)
  t.deepEqual(ok(t, run), { proxy: 'the value fn threw', getters: 'the value fn threw' })
  t.notRegex(run.stderr, /Thrown in a clone\(\) callback/)
})

test('defect 8: inNamespaces() and clone() nested until the stack runs out name the RangeError', async (t) => {
  const run = await runIsolated(
    `
    const net = fs.openSync('/proc/self/ns/net', 'r');
    const nested = () => lc.inNamespaces({ net }, nested);
    let inError;
    try { nested() } catch (e) { inError = { name: e?.name, code: e?.code, message: String(e?.message) } }
    const f = () => lc.waitpid(lc.clone(f, 0, lc.SIGCHLD)).exitCode;
    report({ inError, cloneExit: f() });
  `,
    { timeout: 60_000 },
  )
  const r = ok(t, run) as { inError: { name: string; code?: string; message: string }; cloneExit: number }
  t.regex(r.inError.message, /Maximum call stack size exceeded/)
  t.notRegex(r.inError.message, /process\.exit\(\), exit\(\) and execve\(\) end that child/)
  t.is(r.cloneExit, 1)
  t.regex(run.stderr, /RangeError: Maximum call stack size exceeded\.?\n(?:[^\n]+\n)*\nThrown in a clone\(\) callback/)
  t.notRegex(run.stderr, /threw undefined|did not run to its end/)
})
