// Hardening, second round: spawn() and the toolkit against hostile or careless use. Each test
// is named after the defect it guards against; anything that could hang or kill the process
// when a regression comes back runs in a process of its own, with a timeout.
import test from 'ava'
import { allowOnly, type LifecycleCall } from './_bpf.js'
import { asRoot, isSystemError, ok, runIsolated, type SystemErrorShape } from './_helpers.js'

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
