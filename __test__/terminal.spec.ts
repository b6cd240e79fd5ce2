import ava, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import { getSystemErrorName } from 'node:util'
import { spawnSync as cpSpawnSync } from 'node:child_process'
import { spawn, spawnSync, SpawnError, type MountEntry, type SpawnOptions, type SpawnStep, type SpawnedProcess } from '../dist/index.js'
import { asRoot, entry, ok, root as rootDir, runIsolated, system } from './_helpers.js'

// Under Bun the tests here run one at a time: run at once in the full suite, their terminal
// streams were seen to stall until ava's timeout.
const test: typeof ava = typeof (globalThis as { Bun?: unknown }).Bun === 'undefined' ? ava : (ava.serial as typeof ava)
const root: typeof test = asRoot('a pty of the host and mounts without a user namespace need root') === ava ? test : (test.skip as typeof test)


/** A new root holding the host's programs, /proc and a /dev of its own, as root of a user namespace. */
function sandbox(options: SpawnOptions = {}, dev = true): SpawnOptions {
  const mounts: MountEntry[] = [...system(), { type: 'proc' }]
  if (dev) mounts.push({ type: 'dev' })
  return { uidMap: 'root', gidMap: 'root', rootfs: 'tmpfs', namespaces: ['user', 'pid'], mounts, ...options }
}

/** A program on a terminal: what it wrote so far, waiting for output, and how it ended. */
interface Session {
  child: SpawnedProcess
  text(): string
  /** Resolves once the output matches (no deadline: ava's test timeout is the bound). */
  waitFor(re: RegExp): Promise<void>
  /** 'close': the exit, the whole output, and whether 'exit' came first. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: Buffer; exitFirst: boolean }>
}

function session(t: ExecutionContext, file: string, args: string[], options: SpawnOptions): Session {
  const child = spawn(file, args, { terminal: true, ...options })
  const chunks: Buffer[] = []
  const waiters: { re: RegExp; resolve: () => void }[] = []
  let exited = false
  const text = () => Buffer.concat(chunks).toString('latin1')
  child.on('error', (e) => t.log('spawn error', e))
  child.terminal?.on('data', (d: Buffer) => {
    chunks.push(d)
    const all = text()
    for (const w of [...waiters]) if (w.re.test(all)) waiters.splice(waiters.indexOf(w), 1) && w.resolve()
  })
  child.on('exit', () => (exited = true))
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: Buffer; exitFirst: boolean }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, output: Buffer.concat(chunks), exitFirst: exited }))
  })
  return {
    child,
    text,
    closed,
    waitFor: (re) =>
      new Promise<void>((resolve) => {
        if (re.test(text())) resolve()
        else waiters.push({ re, resolve })
      }),
  }
}

/** Runs a shell script on a terminal to its end: its output with \r\n as \n. */
async function onTerminal(t: ExecutionContext, script: string, options: SpawnOptions = {}): Promise<string> {
  const s = session(t, '/bin/sh', ['-c', script], options)
  const end = await s.closed
  const out = end.output.toString().replace(/\r\n/g, '\n')
  t.is(end.code, 0, out)
  return out
}

/** A program that tries ioctl TIOCSTI (and TIOCLINUX) on an fd (or /dev/tty) and prints what happened. */
const tryTiocsti = (fd: number | '/dev/tty') =>
  `import fcntl, termios, sys, os
fd = ${fd === '/dev/tty' ? 'os.open("/dev/tty", os.O_RDWR)' : fd}
for name, req, arg in (("TIOCSTI", termios.TIOCSTI, b"x"), ("TIOCLINUX", 0x541C, b"\\x0b")):
    try:
        fcntl.ioctl(fd, req, arg)
        print(name, "allowed")
    except OSError as e:
        print(name, "refused", e.errno)
`

/** `root`, or `test.skip` with the reason printed when `tool` is missing. */
function withTool(tool: string, args: string[]): typeof test {
  if (spawnSync(tool, args).status === 0) return root
  console.log(`skipping terminal tests that need ${tool}: it is not installed`)
  return test.skip as typeof test
}
/** child.confinement.tiocsti without the filter: what this kernel does by itself. */
const withoutFilter = (() => {
  try {
    return fs.readFileSync('/proc/sys/dev/tty/legacy_tiocsti', 'utf8').trim() === '0' ? 'kernel' : 'none'
  } catch {
    return 'none' // before Linux 6.2: no such setting
  }
})()

/** A terminal's output as lines (a terminal ends them with \r\n, two terminals with \r\r\n). */
const linesOf = (out: Buffer): string[] => out.toString().trim().split(/\r*\n/)

const python = withTool('python3', ['-c', 'pass'])
const procps = withTool('ps', ['-o', 'pid=', '-p', String(process.pid)])

root("tty names a pty of the sandbox's own devpts, on fds 0-2, and /dev/pts holds only it", async (t) => {
  const out = await onTerminal(t, 'tty; ls -A1 /dev/pts; readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; stat -c %u $(tty); stat -c %d /dev/pts', sandbox())
  const lines = out.trim().split('\n')
  t.is(lines[0], '/dev/pts/0', out)
  t.deepEqual(lines.slice(1, 3).sort(), ['0', 'ptmx'], out)
  t.deepEqual(lines.slice(3, 6), ['/dev/pts/0', '/dev/pts/0', '/dev/pts/0'], out)
  t.is(lines[6], '0', 'the slave belongs to the program user')
  t.not(lines[7], String(fs.statSync('/dev/pts').dev), 'a devpts instance other than this host\'s')
})

root("a dev entry over this host's /dev (no new root): the pty comes from its devpts", async (t) => {
  const out = await onTerminal(t, 'tty; ls -A1 /dev/pts', { namespaces: ['user', 'mnt'], uidMap: 'root', gidMap: 'root', mounts: [{ type: 'dev', target: '/dev' }] })
  t.deepEqual(out.trim().split('\n'), ['/dev/pts/0', '0', 'ptmx'])
})

root('without a devpts of its own, the pty comes from the /dev/ptmx the program sees (the host\'s)', async (t) => {
  const [tty, dev] = (await onTerminal(t, 'tty; stat -c %d /dev/pts')).trim().split('\n')
  t.regex(tty ?? '', /^\/dev\/pts\/\d+$/)
  t.is(dev, String(fs.statSync('/dev/pts').dev), "this host's devpts instance")
})

root('the slave belongs to the uid the program runs as', async (t) => {
  const out = await onTerminal(t, 'stat -c %u $(tty); id -u', { uid: 4242, gid: 4242 })
  t.deepEqual(out.trim().split('\n'), ['4242', '4242'])
})

root('stty size shows the given size, and after resize() the new one, which a SIGWINCH handler sees', async (t) => {
  const script = 'trap "stty size; exit 0" WINCH; stty size; while :; do sleep 0.05; done'
  const s = session(t, '/bin/sh', ['-c', script], { ...sandbox(), terminal: { cols: 100, rows: 30 } })
  await s.waitFor(/30 100/)
  t.true(s.child.resize(120, 40))
  const end = await s.closed
  t.is(end.code, 0)
  t.deepEqual(end.output.toString().trim().split(/\r\n/), ['30 100', '40 120'])
  t.false(s.child.resize(80, 24), 'no terminal to resize once it has closed')
})

root('sh -i echoes and runs what is typed; Ctrl-C interrupts the foreground job, not the shell', async (t) => {
  const s = session(t, '/bin/sh', ['-i'], sandbox({ env: { PATH: '/usr/bin:/bin', PS1: '$ ' } }))
  const term = s.child.terminal!
  term.write('echo typed-$((40+2))\n')
  // The echo of the line as typed, and its result.
  await s.waitFor(/echo typed-\$\(\(40\+2\)\)/)
  await s.waitFor(/typed-42/)
  term.write("sh -c 'echo job-$((4*4)); exec sleep 100'\n")
  await s.waitFor(/job-16/)
  term.write('\x03')
  term.write('echo status-$? shell-$$\n')
  // 130 = 128 + SIGINT: the job died of it; the shell is still pid 1 of the namespace.
  await s.waitFor(/status-130 shell-1/)
  t.is(s.child.exitCode, null)
  term.write('exit 7\n')
  const end = await s.closed
  t.is(end.code, 7)
  t.regex(end.output.toString(), /\^C/, 'the terminal echoes the interrupt')
})

procps('ps shows the program leading its own session, its group in the terminal\'s foreground', async (t) => {
  const s = session(t, '/bin/sh', ['-c', 'ps -o sid=,pgid=,tpgid= -p $$'], {})
  const end = await s.closed
  t.is(end.code, 0)
  const pid = String(s.child.pid)
  t.deepEqual(end.output.toString().trim().split(/\s+/), [pid, pid, pid])
  t.not(pid, String(process.pid))
  // In a pid namespace of its own, under the reaper: the program is pid 2 and leads its session;
  // pid 1 has left the caller's session too (else 0: a session outside the namespace).
  const inNs = await onTerminal(t, 'ps -o pid=,sid=,tpgid= -p 1,$$', sandbox({ pidns: { init: 'reaper' } }))
  t.deepEqual(inNs.trim().split(/\s+/), ['1', '1', '-1', '2', '2', '2'])
})

python('the program cannot push input into its terminal: TIOCSTI and TIOCLINUX are refused', async (t) => {
  const s = session(t, 'python3', ['-c', tryTiocsti(0)], {})
  const end = await s.closed
  t.deepEqual(linesOf(end.output), ['TIOCSTI refused 1', 'TIOCLINUX refused 1'])
  // What the filter stops: without it the kernel lets a program type into its own terminal
  // (the terminal echoes the pushed x).
  const allowed = session(t, 'python3', ['-c', tryTiocsti(0)], { tiocsti: 'allow' })
  const lines = linesOf((await allowed.closed).output)
  t.true(lines.some((l) => l.endsWith('TIOCSTI allowed')), lines.join('|'))
  t.false(lines.includes('TIOCLINUX refused 1'), lines.join('|'))
})

/**
 * A node process on a terminal of its own plays the caller sitting at a terminal: it spawns a
 * program with `inner` options, which tries TIOCSTI on `fd`. Returns what the program printed.
 */
async function asCallerAtTerminal(t: ExecutionContext, inner: string, fd: number | '/dev/tty'): Promise<string[]> {
  const script = `
    import { spawn } from ${JSON.stringify(entry)};
    const c = spawn('python3', ['-c', ${JSON.stringify(tryTiocsti(fd))}], ${inner});
    console.log('filter ' + c.tiocstiFilter + ' ' + c.confinement.tiocsti);
    if (c.terminal) c.terminal.pipe(process.stdout);
    if (c.stdout) c.stdout.pipe(process.stdout);
    c.on('close', (code) => process.exit(code ?? 1));
  `
  // The outer spawn is the caller's own terminal: it must not be filtered itself.
  const s = session(t, process.execPath, ['--input-type=module', '-e', script], { tiocsti: 'allow' })
  const end = await s.closed
  const lines = linesOf(end.output)
  t.is(end.code, 0, lines.join('\n'))
  return lines
}

python('defect 4: a confined program that inherits the caller\'s terminal cannot push input into it', async (t) => {
  const confined = `{ stdio: 'inherit', namespaces: ['user'], uidMap: 'root', gidMap: 'root' }`
  t.deepEqual(await asCallerAtTerminal(t, confined, 0), ['filter true filter', 'TIOCSTI refused 1', 'TIOCLINUX refused 1'])
  // Opted out, and unconfined (as child_process): the kernel lets it type into the caller's shell.
  const optedOut = await asCallerAtTerminal(t, `{ ...${confined}, tiocsti: 'allow' }`, 0)
  t.is(optedOut[0], `filter false ${withoutFilter}`)
  t.true(optedOut.some((l) => l.endsWith('TIOCSTI allowed')), optedOut.join('|'))
  const plain = await asCallerAtTerminal(t, `{ stdio: 'inherit' }`, 0)
  t.is(plain[0], `filter false ${withoutFilter}`)
  t.true(plain.some((l) => l.endsWith('TIOCSTI allowed')), plain.join('|'))
  // With pipes, the caller's terminal is still /dev/tty, while the program is in its session.
  const piped = `{ namespaces: ['user'], uidMap: 'root', gidMap: 'root' }`
  t.deepEqual(await asCallerAtTerminal(t, piped, '/dev/tty'), ['filter true filter', 'TIOCSTI refused 1', 'TIOCLINUX refused 1'])
  const pipedOptOut = await asCallerAtTerminal(t, `{ ...${piped}, tiocsti: 'allow' }`, '/dev/tty')
  t.true(pipedOptOut.some((l) => l.endsWith('TIOCSTI allowed')), pipedOptOut.join('|'))
  // In a session of its own it has no /dev/tty, and needs no filter.
  const detached = await asCallerAtTerminal(t, `{ ...${piped}, detached: true }`, 0)
  t.is(detached[0], `filter false ${withoutFilter}`)
})

python('a program with a terminal of its own cannot push input through an inherited descriptor of the caller\'s', async (t) => {
  // fd 3 is the caller's terminal; as root (CAP_SYS_ADMIN) the kernel alone would allow it.
  const lines = await asCallerAtTerminal(t, `{ terminal: true, stdio: [null, null, null, 0] }`, 3)
  t.deepEqual(lines, ['filter true filter', 'TIOCSTI refused 1', 'TIOCLINUX refused 1'])
  const optedOut = await asCallerAtTerminal(t, `{ terminal: true, stdio: [null, null, null, 0], tiocsti: 'allow' }`, 3)
  t.true(optedOut.some((l) => l.endsWith('TIOCSTI allowed')), optedOut.join('|'))
})

root("the filter goes in while the child holds CAP_SYS_ADMIN: no_new_privs stays off, a uid 0 program keeps its bounding set", async (t) => {
  const out = await onTerminal(t, 'grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status', sandbox({ capabilities: { keep: ['CAP_CHOWN'], bounding: ['CAP_CHOWN', 'CAP_KILL'] } }))
  const field = (name: string) => out.split('\n').find((l) => l.startsWith(`${name}:`))?.split(/\s+/)[1]
  t.is(field('Seccomp'), '2', out)
  t.is(field('NoNewPrivs'), '0', out)
  // execve gives uid 0 its bounding set (CAP_CHOWN and CAP_KILL), which no_new_privs would stop.
  t.is(field('CapEff'), '0000000000000021', out)
})

root('10 MB of output arrive whole before close, after exit', async (t) => {
  const size = 10 * 1024 * 1024
  const s = session(t, '/bin/sh', ['-c', `head -c ${size} /dev/zero | tr '\\0' a`], sandbox())
  const end = await s.closed
  t.is(end.code, 0)
  t.true(end.exitFirst, "'exit' comes before 'close'")
  t.is(end.output.length, size)
  t.true(end.output.every((b) => b === 0x61), 'nothing but what was written')
})

root('destroying the stream hangs up the terminal: the program gets SIGHUP', async (t) => {
  const s = session(t, '/bin/sh', ['-c', 'echo ready; while :; do sleep 0.05; done'], {})
  await s.waitFor(/ready/)
  s.child.terminal!.destroy()
  const end = await s.closed
  t.is(end.signal, 'SIGHUP')
  t.is(end.code, null)
})

root('encoding decodes the stream; TERM is the name given', async (t) => {
  const child = spawn('/bin/sh', ['-c', 'echo "$TERM" é'], { terminal: { name: 'vt100', encoding: 'utf8' } })
  let out = ''
  child.terminal!.on('data', (d: unknown) => {
    t.is(typeof d, 'string')
    out += d as string
  })
  await new Promise((resolve) => child.on('close', resolve))
  t.is(out, 'vt100 é\r\n')
})

test('unprivileged (uid 4242): a terminal in a sandbox of its own', async (t) => {
  const run = await runIsolated(
    `
    const system = ${JSON.stringify(system())};
    const c = lc.spawn('/bin/sh', ['-c', 'tty; id -u; ls -A1 /dev/pts; cat /proc/self/status | grep ^Seccomp:'], {
      terminal: { cols: 90, rows: 20 }, uidMap: 'root', gidMap: 'root', rootfs: 'tmpfs', namespaces: ['user', 'pid'],
      mounts: [...system, { type: 'proc' }, { type: 'dev' }] });
    let out = '';
    c.terminal.setEncoding('utf8').on('data', (d) => out += d);
    c.on('error', (e) => report(describe(e)));
    c.on('close', (code) => report({ code, out }));
    `,
    { uid: 4242 },
  )
  const r = ok(t, run) as { code: number; out: string }
  t.is(r.code, 0, JSON.stringify(r))
  const lines = r.out.trim().split(/\r\n/)
  t.is(lines[0], '/dev/pts/0')
  t.is(lines[1], '0')
  t.deepEqual(lines.slice(2, 4).sort(), ['0', 'ptmx'])
  t.regex(lines[4] ?? '', /^Seccomp:\s+2$/, 'the TIOCSTI filter is installed')
})

// ---- errors ----

/** Asserts a failed 'terminal' step: Node's error shape and a cause in words. */
function terminalError(t: ExecutionContext, err: unknown, want: { code: string; syscall: string; path?: string; cause: RegExp }): void {
  if (!(err instanceof SpawnError)) return void t.fail(`expected a SpawnError, got ${String(err)}`)
  t.is(err.code, want.code, err.message)
  t.is(getSystemErrorName(err.errno), want.code)
  t.is(err.syscall, want.syscall)
  t.is(err.step, 'terminal' satisfies SpawnStep)
  t.is(err.path, want.path)
  t.true(err.message.startsWith(`${want.code}: ${want.syscall}(`), err.message)
  t.regex(err.message, /step 'terminal'/)
  t.regex(err.message, want.cause)
}

function spawnFailure(options: SpawnOptions): Promise<unknown> {
  return new Promise((resolve) => {
    const c = spawn('/bin/sh', ['-c', 'exit 0'], { terminal: true, ...options })
    c.on('error', resolve)
    c.on('spawn', () => resolve(undefined))
  })
}

root("a new root without a /dev: step 'terminal' says /dev/ptmx is missing and how to add it", async (t) => {
  terminalError(t, await spawnFailure(sandbox({}, false)), {
    code: 'ENOENT',
    syscall: 'open',
    path: '/dev/ptmx',
    cause: /no \/dev\/ptmx.*\{ type: 'dev' \}/,
  })
})

root("no devpts at /dev/pts: step 'terminal' says the kernel cannot find the instance", async (t) => {
  const err = await spawnFailure({ namespaces: ['mnt'], mounts: [{ type: 'tmpfs', target: '/dev/pts' }] })
  terminalError(t, err, { code: 'ENODEV', syscall: 'open', path: '/dev/ptmx', cause: /\/dev\/pts .*not a devpts file system/ })
})

root("a /dev/ptmx that is no multiplexer: step 'terminal' says so at the unlock", async (t) => {
  const options = sandbox({}, false)
  const err = await spawnFailure({ ...options, mounts: [...options.mounts!, { type: 'file', target: '/dev/ptmx', data: '' }] })
  terminalError(t, err, { code: 'ENOTTY', syscall: 'ioctl', path: '/dev/ptmx', cause: /TIOCSPTLCK.*\/dev\/ptmx is not the pty multiplexer/ })
})

root('examples/terminal.mjs: a shell in a sandbox runs what is typed on its own terminal', (t) => {
  const r = cpSpawnSync(process.execPath, ['examples/terminal.mjs'], {
    cwd: rootDir,
    input: 'echo typed-$((6*7)); hostname; tty; ls -A1 /dev/pts; id -u\n',
    encoding: 'utf8',
    timeout: 20_000,
  })
  t.is(r.status, 0, r.stderr)
  t.is(r.stderr, '')
  // Without bash's bracketed-paste switches, the terminal's carriage returns, and the echo of
  // the final `exit`, which the terminal shows wherever it arrives while the commands run.
  const out = r.stdout.replace(/\x1b\[\?2004[hl]/g, '').replace(/\r/g, '')
  const lines = out.split('\n').filter((l) => l !== '' && l !== 'exit').join('\n')
  t.regex(lines, /\ntyped-42\nsandbox\n\/dev\/pts\/0\n0\nptmx\n0\n/)
  t.regex(out, /sandbox# exit/)
})

test('terminal options are checked with Node\'s codes', (t) => {
  const bad = (options: SpawnOptions, code: string, re: RegExp, type: ErrorConstructor = TypeError) => {
    const e = t.throws(() => spawn('/bin/true', [], options), { instanceOf: type })
    t.is((e as { code?: string }).code, code)
    t.regex(e!.message, re)
  }
  bad({ terminal: 'yes' as unknown as boolean }, 'ERR_INVALID_ARG_TYPE', /"options.terminal" property must be of type boolean or an object/)
  bad({ terminal: { cols: 0 } }, 'ERR_OUT_OF_RANGE', /"options.terminal.cols".*>= 1 && <= 65535/, RangeError)
  bad({ terminal: { rows: 1.5 } }, 'ERR_OUT_OF_RANGE', /"options.terminal.rows".*an integer/, RangeError)
  bad({ terminal: { name: 'a\0b' } }, 'ERR_INVALID_ARG_VALUE', /options.terminal.name' must be a string without null bytes/)
  bad({ terminal: { encoding: 'nope' as BufferEncoding } }, 'ERR_INVALID_ARG_VALUE', /options.terminal.encoding' is invalid encoding/)
  bad({ terminal: { colour: true } as unknown as boolean }, 'ERR_INVALID_ARG_VALUE', /options.terminal.colour' is not an option of terminal/)
  bad({ terminal: true, stdio: 'pipe' }, 'ERR_INVALID_ARG_VALUE', /options.stdio' must leave fds 0-2 out \(null\) with options.terminal/)
  bad({ terminal: true, stdio: ['pipe'] }, 'ERR_INVALID_ARG_VALUE', /they are the terminal/)
  bad({ tiocsti: 'maybe' as 'allow' }, 'ERR_INVALID_ARG_VALUE', /options.tiocsti' must be 'deny' or 'allow'/)
  const sync = t.throws(() => spawnSync('/bin/true', [], { terminal: true }), { instanceOf: TypeError })
  t.is((sync as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
  t.regex(sync!.message, /not supported by spawnSync\(\).*use spawn\(\) and child.terminal/)
})

root('resize() checks its arguments, and needs a terminal', async (t) => {
  const plain = spawn('/bin/true', [])
  const e = t.throws(() => plain.resize(80, 24))
  t.is((e as { code?: string }).code, 'ERR_INVALID_STATE')
  t.regex(e!.message, /resize\(\) needs a terminal/)
  await new Promise((resolve) => plain.on('close', resolve))
  const s = session(t, '/bin/sh', ['-c', 'read x'], {})
  const r = t.throws(() => s.child.resize(0, 24), { instanceOf: RangeError })
  t.is((r as { code?: string }).code, 'ERR_OUT_OF_RANGE')
  s.child.terminal!.write('\n')
  t.is((await s.closed).code, 0)
})
