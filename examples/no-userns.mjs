// The agent-style sandbox of examples/sandbox.mjs, for hosts that refuse user namespaces (Ubuntu
// 24.04's AppArmor restriction, Docker's default seccomp profile, user.max_user_namespaces=0):
// no namespace at all, only Landlock (files, TCP ports, abstract unix sockets, signals), seccomp
// policies by name (no unix sockets, no ptrace), no_new_privs and resource limits. Needs no
// privilege and Linux 5.13+; what this kernel's Landlock cannot enforce is said, not hidden.
// The command tries things; the table says what it could and could not do. Runs as any user:
//   node examples/no-userns.mjs
import { spawn as childProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { probe, seccompPresets, spawnSync } from 'linux-clone'

const support = probe()
console.log(`user namespaces here: ${support.userNamespaces.ok ? 'allowed' : `refused (${support.userNamespaces.cause})`}`)
if (support.landlock.abi === 0) {
  console.error(`This kernel has no Landlock: ${support.landlock.cause}`)
  process.exit(1)
}

// The workspace the command may change, and a "home" with a secret it must not read.
const base = mkdtempSync(join(tmpdir(), 'no-userns-'))
const workspace = join(base, 'workspace')
const home = join(base, 'home')
for (const dir of [workspace, home]) mkdirSync(dir)
writeFileSync(join(workspace, 'task.txt'), 'fix the bug\n')
writeFileSync(join(home, '.ssh-key'), 'PRIVATE KEY\n')

// Two local servers: the command may reach the first (say, a proxy) and not the second.
const servers = []
for (let i = 0; i < 2; i++) {
  const server = createServer((c) => c.end('hello\n')).listen(0, '127.0.0.1')
  await once(server, 'listening')
  servers.push(server)
}
const [proxy, other] = servers.map((s) => s.address().port)
// A process of ours outside the sandbox, that the command must not signal.
const outside = childProcess('sleep', ['30'], { stdio: 'ignore' })
await once(outside, 'spawn')

const options = {
  landlock: {
    fs: {
      execute: ['/usr'], // programs and libraries (/bin, /lib are links into /usr on most systems)
      read: ['/proc/self'],
      write: [workspace, '/dev/null'],
    },
    net: { connect: [proxy] },
    scope: ['abstract-unix-socket', 'signal'],
  },
  seccomp: { defaultAction: 'allow', rules: [...seccompPresets.noUnixSockets.rules, ...seccompPresets.noPtrace.rules] },
  rlimits: { nofile: { soft: 64 }, nproc: { soft: 512 } },
  cwd: workspace,
  env: { PATH: '/usr/bin:/bin', LANG: 'C' },
  encoding: 'utf8',
  timeout: 10_000,
}

// The command: one `name|what it saw` line per check.
const script = `
  row() { printf '%s|%s\\n' "$1" "$2"; }
  row task "$(cat task.txt 2>&1)"
  row key "$(cat ${home}/.ssh-key 2>&1 | sed 's/.*: //')"
  row passwd "$(cat /etc/passwd 2>&1 | sed 's/.*: //')"
  echo done > result.txt && row write allowed
  row tmp "$( (echo x > ${tmpdir()}/no-userns-escape) 2>&1 | sed 's/.*: //')"
  row kill "$(kill -0 ${outside.pid} 2>&1 | sed 's/.*: //')"
  row nofile "$(ulimit -n)"
  while IFS= read -r line; do case $line in NoNewPrivs*) row nnp "$(echo $line | cut -d' ' -f2)";; esac; done < /proc/self/status
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c '
import errno, socket, ctypes
def attempt(f):
    try:
        f()
        return "allowed"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print("proxy|" + attempt(lambda: socket.create_connection(("127.0.0.1", ${proxy}), timeout=2).close()))
print("other|" + attempt(lambda: socket.create_connection(("127.0.0.1", ${other}), timeout=2).close()))
print("unix|" + attempt(lambda: socket.socket(socket.AF_UNIX)))
libc = ctypes.CDLL(None, use_errno=True)
print("ptrace|" + ("allowed" if libc.ptrace(0, 0, 0, 0) == 0 else errno.errorcode[ctypes.get_errno()]))
'
  else
    for c in proxy other unix ptrace; do row $c 'no python3 here'; done
  fi
`

const r = spawnSync('/bin/sh', ['-c', script], options)
outside.kill()
for (const s of servers) s.close()
if (r.error) {
  console.error(`the sandbox could not start (step '${r.error.step}'): ${r.error.message}`)
  rmSync(base, { recursive: true, force: true })
  process.exit(1)
}
const seen = Object.fromEntries(
  r.stdout
    .split('\n')
    .filter((l) => l.includes('|'))
    .map((l) => [l.slice(0, l.indexOf('|')), l.slice(l.indexOf('|') + 1).trim()]),
)
const noPython = seen.unix === 'no python3 here'
const abi = support.landlock.abi
const rows = [
  ['read task.txt in the workspace', 'fix the bug', seen.task],
  ['read ~/.ssh-key', 'Permission denied', seen.key],
  ['read /etc/passwd', 'Permission denied', seen.passwd],
  ['write result.txt in the workspace', 'allowed', seen.write ?? 'refused'],
  ['write a file in /tmp', 'Permission denied', seen.tmp],
  ['signal a process outside', 'Operation not permitted', seen.kill, abi < 6],
  ['open files allowed (ulimit -n)', '64', seen.nofile],
  ['no_new_privs', '1', seen.nnp],
  [`connect to the proxy (port ${proxy})`, 'allowed', seen.proxy, noPython],
  [`connect to port ${other}`, 'EACCES', seen.other, noPython || abi < 4],
  ['AF_UNIX socket', 'EPERM', seen.unix, noPython],
  ['ptrace', 'EPERM', seen.ptrace, noPython],
]
let escaped = false
try {
  escaped = readFileSync(join(tmpdir(), 'no-userns-escape'), 'utf8') !== ''
} catch {}
rows.push(['the host reads result.txt', 'done', readFileSync(join(workspace, 'result.txt'), 'utf8').trim()])
rows.push(['/tmp/no-userns-escape on the host', 'absent', escaped ? 'present' : 'absent'])
rmSync(base, { recursive: true, force: true })

const width = (i) => Math.max(...rows.map((row) => String(row[i] ?? '').length), ['check', 'expected', 'seen'][i].length)
const line = (cells) => `| ${cells.map((c, i) => String(c ?? '').padEnd(i < 3 ? width(i) : 0)).join(' | ')} |`
const ll = r.confinement.landlock
console.log(`Landlock ABI ${ll.abi}; enforced: ${ll.fs.length} file rights, net ${ll.net.join(', ') || 'none'}, scopes ${ll.scope.join(', ') || 'none'}`)
if (ll.dropped.length > 0) console.log(`this kernel cannot enforce: ${ll.dropped.join('; ')}`)
console.log(`\nThe command as uid ${process.getuid()}, no namespaces, exit status ${r.status}:\n`)
console.log(line(['check', 'expected', 'seen', 'result']))
console.log(line(['-'.repeat(width(0)), '-'.repeat(width(1)), '-'.repeat(width(2)), '------']))
let unexpected = 0
for (const [check, expected, got, skipped] of rows) {
  const mark = skipped ? 'skipped' : got === expected ? 'ok' : 'UNEXPECTED'
  if (mark === 'UNEXPECTED') unexpected++
  console.log(line([check, expected, got ?? '(nothing)', mark]))
}
if (noPython) console.log('\npython3 is not installed here: the socket checks were skipped.')
console.log(unexpected === 0 ? `\nall as expected` : `\n${unexpected} unexpected`)
process.exitCode = unexpected === 0 && r.status === 0 ? 0 : 1
