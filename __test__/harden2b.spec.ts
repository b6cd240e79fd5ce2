// Regression tests for spawn() where it read the tree differently from bubblewrap, left files
// on the host, or left children unreaped. Each compares with bwrap where bwrap has the case.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync as cpSpawnSync } from 'node:child_process'
import * as lc from '../dist/index.js'
import { asRoot } from './_helpers.js'

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
