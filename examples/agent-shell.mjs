// One sandbox, many commands: what an agent's shell needs. The sandbox is built once (new user,
// mount, pid, net, uts and ipc namespaces, an empty root with the host's /usr read-only, a
// writable /workspace bound from a directory here, its own /proc, /dev and /tmp, no network but
// lo, where port 3128 is forwarded to a proxy of this process); each command joins it at about
// the cost of a plain spawn, with options of its own. Files written by one command are there
// for the next; nothing else of the host is. Runs as any
// user where user namespaces are allowed:
//   node examples/agent-shell.mjs
import { once } from 'node:events'
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
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

// The only way out: a "proxy" on this host's loopback, reached through port 3128 inside.
const proxy = createServer((req, res) => res.end(`proxy saw ${req.method} ${req.url}\n`)).listen(0, '127.0.0.1')
await once(proxy, 'listening')
const forward = sandbox.forward({ port: 3128 }, { host: '127.0.0.1', port: proxy.address().port })

/** Runs a script in the sandbox (spawn(): the event loop serves the forward meanwhile). */
function run(script, options = {}) {
  return new Promise((resolve, reject) => {
    const child = sandbox.spawn(shell, ['-c', script], options)
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, out: out.trim().split('\n').join(' | ') }))
  })
}

const commands = [
  ['who am I', 'id -u; hostname'],
  ['write a file', 'echo "print(6 * 7)" > answer.py && ls'],
  ['the file is still there', 'cat answer.py'],
  ['processes', 'ls /proc | grep -cE "^[0-9]+$"'],
  ['network interfaces', "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"],
  ['reach the internet', 'echo > /dev/tcp/192.0.2.1/80 2>&1 || echo unreachable'],
  ['the proxy through port 3128', "exec 3<>/dev/tcp/127.0.0.1/3128 && printf 'GET /pkg HTTP/1.0\\r\\n\\r\\n' >&3 && tail -n 1 <&3"],
  ['the host home', 'ls /home 2>&1 || true'],
]
// bash for /dev/tcp where it is installed, sh elsewhere.
const shell = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh'
try {
  console.log(`A sandbox held by its init, pid ${sandbox.pid} here; each command joins it:\n`)
  for (const [label, script] of commands) {
    const r = await run(script)
    console.log(`$ ${script}\n  (${label}) status ${r.status}: ${r.out}`)
  }
  // A command with options of its own: a limit and another working directory.
  const limited = await run('ulimit -n; pwd', { rlimits: { nofile: { soft: 64 } }, cwd: '/tmp' })
  console.log(`$ ulimit -n; pwd   (with rlimits and cwd of its own)\n  status ${limited.status}: ${limited.out}`)

  console.log(`\nOn the host, ${join(workspace, 'answer.py')} holds: ${readFileSync(join(workspace, 'answer.py'), 'utf8').trim()}`)
} finally {
  await forward.close()
  proxy.close()
  const end = await sandbox.close()
  console.log(`closed: ${end.message}`)
  rmSync(workspace, { recursive: true, force: true })
}
