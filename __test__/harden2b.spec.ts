// Regression tests for spawn() where it read the tree differently from bubblewrap, left files
// on the host, or left children unreaped. Each compares with bwrap where bwrap has the case.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync as cpSpawnSync } from 'node:child_process'
import * as lc from '../dist/index.js'
import { asRoot, inNode, entry, ok, runIsolated } from './_helpers.js'

const root = asRoot('mount namespaces need CAP_SYS_ADMIN')
const bwrapVersion = cpSpawnSync('bwrap', ['--version'], { encoding: 'utf8' }).stdout?.trim()
const env = { PATH: '/usr/bin:/bin' }

/** `script` under bwrap with `args`, or undefined (and the reason logged) without bwrap. */
function bwrap(t: ExecutionContext, args: string[], script: string): { status: number | null; stdout: string; stderr: string } | undefined {
  if (!bwrapVersion) {
    t.log('bwrap is not installed: the comparison with it is skipped')
    return undefined
  }
  const r = cpSpawnSync('bwrap', [...args, '/bin/sh', '-c', script], { env, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function tmpdir(t: ExecutionContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

root('defect 3: a dev entry without a rootfs binds the host\'s device nodes, as bwrap --dev /dev', (t) => {
  const script = 'ls /dev | sort | tr "\\n" " "; echo; echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1'
  const s = lc.spawnSync('/bin/sh', ['-c', script], { namespaces: ['mnt', 'pid'], mounts: [{ type: 'dev' }], env, encoding: 'utf8' })
  t.is(s.error, undefined, s.error?.message)
  t.is(s.status, 0, s.stderr)
  t.regex(s.stdout, /^null-ok$/m)
  t.regex(s.stdout, /00 00 00 00/)
  const b = bwrap(t, ['--bind', '/', '/', '--dev', '/dev'], script)
  if (b) {
    t.is(b.status, 0, b.stderr)
    t.is(s.stdout, b.stdout)
  }
})

root('defect 3: a tmpfs over a directory does not hide a later bind\'s source inside it, as bwrap --tmpfs /x --bind /x/y', (t) => {
  const x = tmpdir(t, 'lc-d3-')
  fs.mkdirSync(path.join(x, 'y'))
  fs.writeFileSync(path.join(x, 'y', 'f'), 'from the host\n')
  const script = `ls ${x}; cat ${x}/y/f`
  const s = lc.spawnSync('/bin/sh', ['-c', script], {
    mounts: [
      { type: 'tmpfs', target: x },
      { type: 'bind', source: path.join(x, 'y'), target: path.join(x, 'y') },
    ],
    env,
    encoding: 'utf8',
  })
  t.is(s.error, undefined, s.error?.message)
  t.is(s.status, 0, s.stderr)
  t.is(s.stdout, 'y\nfrom the host\n')
  const b = bwrap(t, ['--bind', '/', '/', '--tmpfs', x, '--bind', path.join(x, 'y'), path.join(x, 'y')], script)
  if (b) {
    t.is(b.status, 0, b.stderr)
    t.is(s.stdout, b.stdout)
  }
})

root('defect 3: a source that really is missing is still named as missing', (t) => {
  const x = tmpdir(t, 'lc-d3-')
  const s = lc.spawnSync('/bin/true', [], {
    mounts: [{ type: 'bind', source: path.join(x, 'nothing'), target: path.join(x, 'there') }],
    env,
  })
  const e = s.error
  t.truthy(e)
  t.is(e?.code, 'ENOENT')
  t.is(e?.step, 'mount')
  t.regex(e?.message ?? '', /source .*nothing.* does not exist/)
})

/** A writable workspace on this host, for masks over files that do not exist yet. */
function workspace(t: ExecutionContext): string {
  const ws = tmpdir(t, 'lc-d9-')
  fs.writeFileSync(path.join(ws, 'code.js'), '1\n')
  return ws
}

const masks = (ws: string): lc.MountEntry[] => [
  { type: 'bind', source: ws, target: ws },
  { type: 'bind', source: '/dev/null', target: path.join(ws, '.bashrc'), readonly: true, placeholder: true },
  { type: 'tmpfs', target: path.join(ws, '.vscode'), readonly: true, placeholder: true },
]

const MASK_SCRIPT = (ws: string) =>
  `cd ${ws}; echo evil > .bashrc 2>/dev/null && echo wrote-bashrc; touch .vscode/settings.json 2>/dev/null && echo wrote-vscode; rm -f .bashrc 2>/dev/null && echo removed; echo ok > code.js; ls -A | tr "\\n" " "`

root('defect 9: placeholder: true masks paths that do not exist yet, and the host is clean after the exit', (t) => {
  const ws = workspace(t)
  // Refused without the opt-in: it would leave a file on the host.
  const refused = lc.spawnSync('/bin/true', [], { mounts: [{ type: 'bind', source: '/dev/null', target: path.join(ws, '.bashrc'), readonly: true }], env })
  t.is(refused.error?.code, 'ENOENT')
  t.regex(refused.error?.message ?? '', /leave it on the host/)
  const s = lc.spawnSync('/bin/sh', ['-c', MASK_SCRIPT(ws)], { mounts: masks(ws), env, encoding: 'utf8' })
  t.is(s.error, undefined, s.error?.message)
  t.is(s.stdout, '.bashrc .vscode code.js ')
  t.deepEqual(fs.readdirSync(ws).sort(), ['code.js'])
  t.is(fs.readFileSync(path.join(ws, 'code.js'), 'utf8'), 'ok\n')
  const b = bwrap(t, ['--bind', '/', '/', '--bind', ws, ws, '--ro-bind', '/dev/null', path.join(ws, '.bashrc'), '--tmpfs', path.join(ws, '.vscode'), '--remount-ro', path.join(ws, '.vscode')], MASK_SCRIPT(ws))
  if (b) {
    t.is(b.stdout, s.stdout)
    // bwrap leaves its mount points behind: what the npm sandboxes delete afterwards.
    t.deepEqual(fs.readdirSync(ws).sort(), ['.bashrc', '.vscode', 'code.js'])
  }
})

root('defect 9: async spawn() removes its placeholders once the program has exited', async (t) => {
  const ws = workspace(t)
  const p = lc.spawn('/bin/sh', ['-c', MASK_SCRIPT(ws)], { mounts: masks(ws), env, stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  const end = new Promise((resolve) => p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d)).on('end', resolve))
  t.deepEqual(fs.readdirSync(ws).sort(), ['.bashrc', '.vscode', 'code.js'])
  await p.exited
  await end
  t.is(out, '.bashrc .vscode code.js ')
  t.deepEqual(fs.readdirSync(ws).sort(), ['code.js'])
})

root('defect 9: a parent killed with SIGKILL: placeholders stay while the sandbox runs, the next spawn() removes them after', async (t) => {
  const ws = workspace(t)
  const run = await runIsolated(`
    const p = lc.spawn('/bin/sleep', ['1000'], { mounts: ${JSON.stringify(masks(ws))}, stdio: 'ignore' });
    p.on('spawn', () => { report({ pid: p.pid }); process.kill(process.pid, 'SIGKILL') });
  `)
  t.is(run.signal, 'SIGKILL')
  const { pid } = run.result as { pid: number }
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  })
  t.deepEqual(fs.readdirSync(ws).sort(), ['.bashrc', '.vscode', 'code.js'])
  // Another process's spawn() sweeps: the sandbox still runs, so its masks stay.
  const sweep = 'report(lc.spawnSync("/bin/true", []).status)'
  t.is(ok(t, await runIsolated(sweep)), 0)
  t.deepEqual(fs.readdirSync(ws).sort(), ['.bashrc', '.vscode', 'code.js'])
  process.kill(pid, 'SIGKILL')
  // Reparented, the sandbox is reaped by whoever adopted it; a zombie counts as ended. SIGKILL
  // is delivered at once but the exit takes a moment on a loaded machine: wait for it.
  const ended = () => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true
    } catch {
      return true
    }
  }
  for (let i = 0; i < 250 && !ended(); i++) await new Promise((r) => setTimeout(r, 20))
  t.true(ended(), `pid ${pid} still runs`)
  t.is(ok(t, await runIsolated(sweep)), 0)
  t.deepEqual(fs.readdirSync(ws).sort(), ['code.js'])
})

// ---- defect 7: zombies, judged by a subreaper that runs node and counts what it inherits ----

const SUBREAPER = `
import ctypes, os, sys, time, subprocess
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: node's orphans come to us
p = subprocess.Popen(sys.argv[1:])
p.wait()
time.sleep(0.5)
me, zombies, alive = os.getpid(), 0, 0
for name in os.listdir('/proc'):
    if not name.isdigit(): continue
    try: stat = open('/proc/%s/stat' % name).read()
    except OSError: continue
    f = stat[stat.rindex(')') + 2:].split(' ')
    if int(f[1]) == me:
        if f[0] == 'Z': zombies += 1
        else: alive += 1
print('{"status": %d, "zombies": %d, "alive": %d}' % (p.returncode, zombies, alive))
while True:
    try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0: time.sleep(0.05)
    except ChildProcessError: break
`

/** Runs `script` (an ES module; `lc` is the package) under a subreaper: the zombies node left. */
function underSubreaper(t: ExecutionContext, script: string): { status: number; zombies: number; alive: number } {
  const dir = tmpdir(t, 'lc-d7-')
  fs.writeFileSync(path.join(dir, 'subreaper.py'), SUBREAPER)
  fs.writeFileSync(path.join(dir, 'main.mjs'), `import * as lc from ${JSON.stringify(entry)};\n${script}`)
  const r = cpSpawnSync('python3', [path.join(dir, 'subreaper.py'), process.execPath, path.join(dir, 'main.mjs')], { encoding: 'utf8', timeout: 60_000 })
  t.is(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { status: number; zombies: number; alive: number }
}

const python = cpSpawnSync('python3', ['-c', 'print(1)']).status === 0
const withPython = python ? test : (console.log('skipping the subreaper tests: python3 is not installed'), test.skip as typeof test)

withPython('defect 7: Workers terminated while they spawn leave no child unreaped', (t) => {
  const r = underSubreaper(t, `
    import { Worker } from 'node:worker_threads';
    const workers = [];
    for (let k = 0; k < 8; k++) {
      const w = new Worker(\`
        const lc = require(\${JSON.stringify(${JSON.stringify(entry)})});
        require('worker_threads').parentPort.postMessage('go');
        for (;;) lc.spawn('/bin/true', [], { stdio: 'ignore' });
      \`, { eval: true });
      w.on('error', () => {});
      w.once('message', () => setTimeout(() => w.terminate(), 20 + 10 * k));
      workers.push(w);
    }
    await Promise.all(workers.map((w) => new Promise((r) => w.on('exit', r))));
    await new Promise((r) => setTimeout(r, 500));
  `)
  t.is(r.status, 0)
  t.is(r.zombies, 0)
  t.is(r.alive, 0)
})

inNode('Bun aborts (SIGABRT) when a Worker is terminated inside a native call that runs its JavaScript', withPython)('defect 7: a Worker terminated during a clone() callback leaves no defunct child', (t) => {
  const r = underSubreaper(t, `
    import { Worker } from 'node:worker_threads';
    const w = new Worker(\`
      const lc = require(\${JSON.stringify(${JSON.stringify(entry)})});
      require('worker_threads').parentPort.postMessage('go');
      lc.clone(() => { const end = Date.now() + 2000; while (Date.now() < end); return 0 }, 0, lc.SIGCHLD);
    \`, { eval: true, stderr: true });
    w.once('message', () => setTimeout(() => w.terminate(), 100));
    await new Promise((r) => w.on('exit', r));
    // The process lives on: the child must not stay defunct for its lifetime.
    const { execFileSync } = await import('node:child_process');
    const children = execFileSync('sh', ['-c', 'cat /proc/' + process.pid + '/task/*/children'], { encoding: 'utf8' }).trim().split(/\\s+/).filter(Boolean);
    const defunct = children.filter((c) => { try { return fs.readFileSync('/proc/' + c + '/stat', 'utf8').split(') ')[1].startsWith('Z') } catch { return false } });
    if (defunct.length) { console.error('defunct', defunct); process.exit(3) }
  `.replace("import { Worker }", "import fs from 'node:fs';\n    import { Worker }"))
  t.is(r.status, 0)
  t.is(r.zombies, 0)
})

withPython('defect 7: children that exited before the process ends are reaped (100 async spawns)', (t) => {
  // Exited for sure before the exit (zombies, or reaped already), without yielding to the event
  // loop: a child still running at the exit would become the subreaper's zombie, not a leak.
  const r = underSubreaper(t, `
    import fs from 'node:fs';
    const pids = [];
    for (let i = 0; i < 100; i++) {
      const c = lc.spawn('/bin/sleep', ['0.2'], { stdio: 'ignore' });
      c.unref();
      pids.push(c.pid);
    }
    const state = (pid) => {
      try {
        const s = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
        return s[s.lastIndexOf(')') + 2];
      } catch {
        return 'gone';
      }
    };
    const end = Date.now() + 30000;
    while (Date.now() < end && pids.some((p) => !['Z', 'X', 'gone'].includes(state(p))));
    process.exit(0);
  `)
  t.is(r.zombies, 0)
})

// ---- defect 10: a hostile caller ----

// Bun's Worker.terminate() leaves a terminated Worker's fds open (hundreds of sockets after 18
// Workers).
const nodeOnly = inNode("its terminated Workers' fds are not released")

nodeOnly('defect 10: Workers terminated at any point of spawn() leak no fd (pipe ends, pidfds)', async (t) => {
  const run = await runIsolated(`
    const { Worker } = await import('node:worker_threads');
    // What spawn() makes: socketpairs, pipes, pidfds. A Worker's own event loop fds (epoll,
    // eventfd, io_uring) go when Node tears the Worker down, which it may do late.
    const ours = () => fs.readdirSync('/proc/self/fd').map((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd) } catch { return '' } })
      .filter((l) => /^(socket|pipe|anon_inode:\\[pidfd\\])/.test(l));
    // One run first, so that what stays for good (the reaper's) is counted before.
    await new Promise((r) => { const w = new Worker('(await import(process.env.LC_ENTRY)).spawnSync("/bin/true")', { eval: true }); w.on('exit', r) });
    const before = ours().length;
    for (let round = 0; round < 3; round++) {
      const ws = [];
      for (let k = 0; k < 6; k++) {
        const w = new Worker(\`
          const lc = await import(process.env.LC_ENTRY);
          (await import('node:worker_threads')).parentPort.postMessage('go');
          for (;;) lc.spawn('/bin/true', [], { stdio: 'pipe' });
        \`, { eval: true });
        w.on('error', () => {});
        w.once('message', () => setTimeout(() => w.terminate(), 30 + 7 * k));
        ws.push(new Promise((r) => w.on('exit', r)));
      }
      await Promise.all(ws);
    }
    for (let i = 0; i < 50 && ours().length - before >= 24; i++) await new Promise((r) => setTimeout(r, 100));
    report({ grown: ours().length - before, left: ours() });
  `)
  const r = ok(t, run) as { grown: number; left: string[] }
  // Unfixed, each of the 18 Workers leaves the three pipe ends of the spawn it was stopped in,
  // and some pidfds (about 70 fds). What remains is the few statements between the wait being
  // claimed and the streams taking the pipe ends, where a termination still leaks them: seen up
  // to 10 on a loaded machine.
  t.true(r.grown < 24, `${r.grown} more fds: ${r.left.join(' ')}`)
})

test('defect 10: a full fd table fails spawn() and spawnSync() with EMFILE at their fds step, and leaks nothing', async (t) => {
  const run = await runIsolated(`
    const held = [];
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch {}
    const sync = lc.spawnSync('/bin/true', []).error;
    const asyncError = await new Promise((r) => lc.spawn('/bin/true', [], { stdio: 'ignore' }).on('error', r));
    for (const fd of held.splice(0, 16)) fs.closeSync(fd);
    const count = () => fs.readdirSync('/proc/self/fd').length;
    const before = count();
    const again = lc.spawnSync('/bin/echo', ['works'], { encoding: 'utf8' }).stdout;
    report({ sync: describe(sync), step: sync.step, asyncError: describe(asyncError), asyncStep: asyncError.step, again, grown: count() - before });
  `, { prefix: ['prlimit', '--nofile=64:64'] })
  const r = ok(t, run) as { sync: { code: string; errno: number; message: string }; step: string; asyncError: { code: string; errno: number }; asyncStep: string; again: string; grown: number }
  t.is(r.sync.code, 'EMFILE')
  t.is(r.sync.errno, -24)
  t.is(r.step, 'fds')
  t.regex(r.sync.message, /no free fd: its fd table is full \(at RLIMIT_NOFILE/)
  t.is(r.asyncError.code, 'EMFILE')
  t.is(r.asyncStep, 'fds')
  t.is(r.again, 'works\n')
  t.is(r.grown, 0)
})

withPython('defect 10: 2,000 concurrent spawns interleaved with child_process: every exit reported to its owner, no zombie', (t) => {
  const r = underSubreaper(t, `
    const cp = await import('node:child_process');
    const results = [];
    for (let i = 0; i < 2000; i++) {
      const p = lc.spawn('/bin/sh', ['-c', 'exit ' + (i % 7)], { stdio: ['ignore', 'pipe', 'ignore'] });
      results.push(p.exited.then((e) => e.exitCode === i % 7, () => false));
      if (i % 50 === 0) results.push(new Promise((res) => cp.execFile('/bin/sh', ['-c', 'exit 3'], (e) => res(e?.code === 3))));
    }
    const ok = (await Promise.all(results)).filter(Boolean).length;
    if (ok !== results.length) { console.error(ok, 'of', results.length); process.exit(3) }
  `)
  t.is(r.status, 0)
  t.is(r.zombies, 0)
  t.is(r.alive, 0)
})

withPython('defect 10: AbortSignal, kill() and a timeout at each point of set-up: every spawn settles, no zombie', (t) => {
  const r = underSubreaper(t, `
    const settled = [];
    for (let i = 0; i < 300; i++) {
      const ac = new AbortController();
      // SIGKILL: as pid 1 of a pid namespace, sleep would ignore the default SIGTERM.
      const o = { signal: ac.signal, killSignal: 'SIGKILL', stdio: ['pipe', 'pipe', 'pipe'], namespaces: i % 2 ? ['pid', 'mnt'] : [], timeout: i % 5 === 0 ? 1 : undefined };
      if (i % 3 === 0) ac.abort();
      const p = lc.spawn('/bin/sleep', ['30'], o);
      p.on('error', () => {});
      if (i % 3 === 1) ac.abort();
      if (i % 3 === 2) p.on('spawn', () => p.kill('SIGKILL'));
      settled.push(p.exited.then(() => 'exit', (e) => e.code));
    }
    const timer = setTimeout(() => { console.error('a spawn never settled'); process.exit(3) }, 20000);
    const outcomes = await Promise.all(settled);
    clearTimeout(timer);
    if (outcomes.filter((o) => o === 'ABORT_ERR').length !== 100 || outcomes.filter((o) => o === 'exit').length !== 200) { console.error(outcomes); process.exit(4) }
  `)
  t.is(r.status, 0)
  t.is(r.zombies, 0)
  t.is(r.alive, 0)
})

root('defect 9: no placeholder is made through a symlink a sandboxed program could have left in the workspace', (t) => {
  const ws = workspace(t)
  const elsewhere = tmpdir(t, 'lc-d9-elsewhere-')
  fs.symlinkSync(elsewhere, path.join(ws, '.vscode'))
  const s = lc.spawnSync('/bin/true', [], {
    mounts: [
      { type: 'bind', source: ws, target: ws },
      { type: 'bind', source: '/dev/null', target: path.join(ws, '.vscode', 'settings.json'), readonly: true, placeholder: true },
    ],
    env,
  })
  // Refused as without the option, and nothing made where the link points.
  t.is(s.error?.code, 'ENOENT')
  t.deepEqual(fs.readdirSync(elsewhere), [])
})
