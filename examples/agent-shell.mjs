// One sandbox, many commands: what an agent's shell needs. The sandbox is built once (new user,
// mount, pid, net, uts and ipc namespaces, an empty root with the host's /usr read-only, a
// writable /workspace bound from a directory here, its own /proc, /dev and /tmp, no network but
// lo); each command joins it at about the cost of a plain spawn, with options of its own.
// Files written by one command are there for the next; nothing else of the host is. Runs as any
// user where user namespaces are allowed:
//   node examples/agent-shell.mjs
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSandbox, probe } from 'linux-clone'

const support = probe().userNamespaces
if (!support.ok) {
  console.error(`This host does not allow unprivileged user namespaces: ${support.cause}`)
  process.exit(1)
}

const workspace = mkdtempSync(join(tmpdir(), 'agent-shell-'))
const usr = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64']) {
  let st
  try {
    st = lstatSync(`/${name}`)
  } catch {
    continue
  }
  if (st.isSymbolicLink()) usr.push({ type: 'symlink', target: `/${name}`, linkTo: readlinkSync(`/${name}`) })
  else if (st.isDirectory()) usr.push({ type: 'bind', source: `/${name}`, target: `/${name}`, readonly: true })
}

const sandbox = createSandbox({
  namespaces: ['user', 'mnt', 'pid', 'net', 'uts', 'ipc'],
  hostname: 'agent',
  rootfs: 'tmpfs',
  mounts: [...usr, { type: 'bind', source: workspace, target: '/workspace' }, { type: 'proc' }, { type: 'dev' }, { type: 'tmpfs', target: '/tmp' }],
  // What every command gets unless it says otherwise.
  defaults: { cwd: '/workspace', env: { PATH: '/usr/bin:/bin', HOME: '/workspace' }, capabilities: { keep: 'none' }, noNewPrivs: true },
})

const commands = [
  ['who am I', 'id -u; hostname'],
  ['write a file', 'echo "print(6 * 7)" > answer.py && ls'],
  ['the file is still there', 'cat answer.py'],
  ['processes', 'ls /proc | grep -cE "^[0-9]+$"'],
  ['network interfaces', "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"],
  ['reach the internet', 'echo > /dev/tcp/192.0.2.1/80 2>&1 || echo unreachable'],
  ['the host home', 'ls /home 2>&1 || true'],
]
// bash for /dev/tcp where it is installed, sh elsewhere.
const shell = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh'
try {
  console.log(`A sandbox held by its init, pid ${sandbox.pid} here; each command joins it:\n`)
  for (const [label, script] of commands) {
    const r = sandbox.spawnSync(shell, ['-c', script], { encoding: 'utf8' })
    const out = (r.stdout + r.stderr).trim().split('\n').join(' | ')
    console.log(`$ ${script}\n  (${label}) status ${r.status}: ${out}`)
  }
  // A command with options of its own: a limit and another working directory.
  const limited = sandbox.spawnSync('/bin/sh', ['-c', 'ulimit -n; pwd'], { encoding: 'utf8', rlimits: { nofile: { soft: 64 } }, cwd: '/tmp' })
  console.log(`$ ulimit -n; pwd   (with rlimits and cwd of its own)\n  status ${limited.status}: ${limited.stdout.trim().split('\n').join(' | ')}`)

  console.log(`\nOn the host, ${join(workspace, 'answer.py')} holds: ${readFileSync(join(workspace, 'answer.py'), 'utf8').trim()}`)
} finally {
  const end = await sandbox.close()
  console.log(`closed: ${end.message}`)
  rmSync(workspace, { recursive: true, force: true })
}
