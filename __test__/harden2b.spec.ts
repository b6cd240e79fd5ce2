// Regression tests for spawn() where it read the tree differently from bubblewrap, left files
// on the host, or left children unreaped. Each compares with bwrap where bwrap has the case.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync as cpSpawnSync } from 'node:child_process'
import * as lc from '../dist/index.js'
import { asRoot, ok, runIsolated } from './_helpers.js'

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
  // Reparented, the sandbox is reaped by whoever adopted it; a zombie counts as ended.
  t.is(ok(t, await runIsolated(sweep)), 0)
  t.deepEqual(fs.readdirSync(ws).sort(), ['code.js'])
})
