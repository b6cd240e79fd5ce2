// The examples, run as a user would run them, their output checked.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { probe } from '../dist/index.js'
import { isRoot, runExample } from './_helpers.js'

const userns = probe().userNamespaces
const python = spawnSync('/usr/bin/python3', ['--version']).status === 0

/** The rows of a markdown table, as arrays of trimmed cells, by their first cell. */
function table(out: string): Map<string, string[]> {
  const rows = new Map<string, string[]>()
  for (const line of out.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| ---')) continue
    const cells = line.slice(2, -2).split(' | ').map((c) => c.trim())
    rows.set(cells[0]!, cells.slice(1))
  }
  return rows
}

for (const uid of [undefined, 4242]) {
  const label = uid === undefined ? `as uid ${process.getuid?.()}` : `as uid ${uid}`
  const why = !userns.ok ? `unprivileged user namespaces are off: ${userns.cause}` : uid !== undefined && !isRoot ? 'running as another user needs root (setpriv)' : undefined
  if (why) console.log(`skipping examples/sandbox.mjs ${label}: ${why}`)
  ;(why ? test.skip : test)(`examples/sandbox.mjs: every check as expected (${label})`, async (t) => {
    const run = await runExample('sandbox.mjs', { uid })
    t.is(run.status, 0, `${run.stdout}\n${run.stderr}`)
    t.is(run.stderr, '')
    t.regex(run.stdout, new RegExp(`^The sandbox as uid ${uid ?? process.getuid?.()} \\(uid 0 inside\\), exit status 0:`))
    const rows = table(run.stdout)
    t.deepEqual(rows.get('check'), ['expected', 'seen', 'result'])
    const seen = (check: string) => rows.get(check)?.[1]
    t.is(seen('who am I'), 'uid=0 gid=0 groups=0')
    // Besides its own, the host's top-level links into /usr (or its directories) only.
    const listed = (seen('ls /') ?? '').split(' ')
    t.deepEqual(listed.filter((n) => !/^(s?bin|lib\w*)$/.test(n)), ['dev', 'proc', 'tmp', 'usr', 'workspace'])
    for (const n of listed.filter((n) => /^(s?bin|lib\w*)$/.test(n))) t.true(existsSync(`/${n}`), n)
    t.is(seen('write /workspace/result.txt'), 'allowed')
    t.is(seen('read /workspace/secret.txt'), '0 bytes')
    t.is(seen('write /usr'), 'Read-only file system')
    t.is(seen('network interfaces'), 'lo')
    t.is(seen('effective capabilities'), '0000000000000000')
    t.is(seen('no_new_privs'), '1')
    if (python) {
      t.is(seen('connect to 192.0.2.1:80'), 'ENETUNREACH')
      // Without the filter python3 gets its socket: 'EAFNOSUPPORT' is the filter's answer.
      t.is(seen('AF_UNIX socket'), process.arch === 'x64' || process.arch === 'arm64' ? 'EAFNOSUPPORT' : 'allowed')
    } else {
      t.is(rows.get('AF_UNIX socket')?.[2], 'skipped')
      t.regex(run.stdout, /python3 is not installed here/)
    }
    t.is(seen('the host reads result.txt'), 'written inside')
    t.is(seen('secret.txt on the host'), '20 bytes, untouched')
    for (const [check, [expected, got, result]] of rows) if (check !== 'check') t.true(result === 'ok' || (!python && result === 'skipped'), `${check}: ${got} (expected ${expected})`)
    t.regex(run.stdout, /\nall as expected\n$/)
  })
}

const rootOnly = isRoot ? test : (console.log('skipping examples/demo.mjs: it makes namespaces without a user namespace, which needs root'), test.skip)

rootOnly('examples/demo.mjs (npm run demo): spawn, confined spawn, clone, unshare and a TCP round trip', async (t) => {
  const before = hostname()
  const run = await runExample('demo.mjs', {})
  t.is(run.status, 0, run.stderr)
  const out = run.stdout
  t.regex(out, /uid 0, pid 1, host demo-program/)
  t.regex(out, /\/ holds: bin dev lib( lib64)? proc( sbin)? tmp usr/)
  t.regex(out, /capabilities: 0000000000000000, pid 2/)
  t.regex(out, /touch: cannot touch '\/usr\/x': Read-only file system/)
  t.regex(out, /saw itself as pid 1 on host demo-child/)
  t.regex(out, /it exited with 42; this process is still on host /)
  t.regex(out, /after unshare\(NEWNET\): a namespace of its own, with only lo, and lo is down\n {2}lo +DOWN/)
  t.regex(out, /TCP 127\.0\.0\.1:\d+ answered: hello from inside the new network namespace/)
  t.is(hostname(), before, 'the host keeps its name')
})

const landlock = probe().landlock
for (const uid of [undefined, 4242]) {
  const label = uid === undefined ? `as uid ${process.getuid?.()}` : `as uid ${uid}`
  const why = landlock.abi === 0 ? `this kernel has no Landlock: ${landlock.cause}` : uid !== undefined && !isRoot ? 'running as another user needs root (setpriv)' : undefined
  if (why) console.log(`skipping examples/no-userns.mjs ${label}: ${why}`)
  ;(why ? test.skip : test)(`examples/no-userns.mjs: Landlock, seccomp and limits without namespaces, every check as expected (${label})`, async (t) => {
    const run = await runExample('no-userns.mjs', { uid })
    t.is(run.status, 0, `${run.stdout}\n${run.stderr}`)
    t.is(run.stderr, '')
    t.regex(run.stdout, new RegExp(`The command as uid ${uid ?? process.getuid?.()}, no namespaces, exit status 0:`))
    t.regex(run.stdout, new RegExp(`^user namespaces here: (allowed|refused)\\nLandlock ABI ${landlock.abi}; enforced: \\d+ file rights`))
    const rows = table(run.stdout)
    const seen = (check: string) => rows.get(check)?.[1]
    t.is(seen('read task.txt in the workspace'), 'fix the bug')
    t.is(seen('read ~/.ssh-key'), 'Permission denied')
    t.is(seen('read /etc/passwd'), 'Permission denied')
    t.is(seen('write result.txt in the workspace'), 'allowed')
    t.is(seen('write a file in /tmp'), 'Permission denied')
    t.is(seen('no_new_privs'), '1')
    t.is(seen('open files allowed (ulimit -n)'), '64')
    if (landlock.abi >= 6) t.is(seen('signal a process outside'), 'Operation not permitted')
    if (python) {
      t.is(seen('AF_UNIX socket'), 'EPERM')
      t.is(seen('ptrace'), 'EPERM')
      if (landlock.abi >= 4) t.regex(rows.get([...rows.keys()].find((k) => k.startsWith('connect to port')) ?? '')?.[1] ?? '', /^EACCES$/)
    }
    for (const [check, [expected, got, result]] of rows) if (check !== 'check') t.true(result === 'ok' || result === 'skipped', `${check}: ${got} (expected ${expected})`)
    t.regex(run.stdout, /\nall as expected\n$/)
  })
}

for (const uid of [undefined, 4242]) {
  const label = uid === undefined ? `as uid ${process.getuid?.()}` : `as uid ${uid}`
  const why = !userns.ok ? `unprivileged user namespaces are off: ${userns.cause}` : uid !== undefined && !isRoot ? 'running as another user needs root (setpriv)' : undefined
  if (why) console.log(`skipping examples/agent-shell.mjs ${label}: ${why}`)
  ;(why ? test.skip : test)(`examples/agent-shell.mjs: one sandbox, many commands, each seeing what the last left (${label})`, async (t) => {
    const run = await runExample('agent-shell.mjs', { uid })
    t.is(run.status, 0, `${run.stdout}\n${run.stderr}`)
    t.is(run.stderr, '')
    const said = (label: string) => new RegExp(`\\(${label}\\) status (\\d+): (.*)`).exec(run.stdout)?.slice(1)
    t.deepEqual(said('who am I'), ['0', '0 | agent'])
    t.deepEqual(said('write a file'), ['0', 'answer.py'])
    t.deepEqual(said('the file is still there'), ['0', 'print(6 * 7)'])
    // The shell, ls and grep, besides the init: nothing of the host.
    t.true(Number(said('processes')?.[1]) <= 5, run.stdout)
    t.deepEqual(said('network interfaces'), ['0', 'lo'])
    t.regex(said('reach the internet')?.[1] ?? '', /(^| )unreachable( |$)/)
    t.deepEqual(said('the proxy through port 3128'), ['0', 'proxy saw GET /pkg'])
    t.regex(said('the host home')?.[1] ?? '', /No such file or directory/)
    t.regex(run.stdout, /\n {2}status 0: 64 \| \/tmp\n/)
    t.regex(run.stdout, /answer\.py holds: print\(6 \* 7\)\n/)
    t.regex(run.stdout, /\nclosed: the sandbox was closed \(it was killed by SIGKILL\)\n$/)
  })
}
