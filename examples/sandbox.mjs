// A sandbox for a command you do not trust, without root: new user, pid, net, ipc and uts
// namespaces (uid 0 inside is you outside), an empty root holding the host's /usr read-only, a
// writable workspace whose secret.txt is masked by an empty read-only file, its own /proc, /dev
// and /tmp, no capabilities, no_new_privs, and a seccomp filter that refuses AF_UNIX sockets.
// The command tries things; the table says what it could and could not do. Runs as any user:
//   node examples/sandbox.mjs
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { probe, spawnSync } from 'linux-clone'

const support = probe().userNamespaces
if (!support.ok) {
  console.error(`This host does not allow unprivileged user namespaces: ${support.cause}`)
  process.exit(1)
}

// A seccomp policy by name, compiled for this machine's architecture when the sandbox starts:
// socket() and socketpair() with AF_UNIX (1) fail with EAFNOSUPPORT; everything else runs.
const seccomp = {
  defaultAction: 'allow',
  rules: [{ syscalls: ['socket', 'socketpair'], action: { errno: 'EAFNOSUPPORT' }, args: [{ index: 0, op: '==', value: 1 }] }],
}

// ---- The sandbox ----
// The workspace: a directory of ours, with a secret the command must not read.
const workspace = mkdtempSync(join(tmpdir(), 'sandbox-'))
const secret = 'API_KEY=do-not-leak\n'
writeFileSync(join(workspace, 'secret.txt'), secret)

// The host's /usr, and the top-level links into it (/bin -> usr/bin ...) on a merged-/usr
// system, or the real directories on others.
const usr = [{ type: 'bind', source: '/usr', target: '/usr', readonly: true }]
for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
  const at = `/${name}`
  let st
  try {
    st = lstatSync(at)
  } catch {
    continue
  }
  if (st.isSymbolicLink()) usr.push({ type: 'symlink', target: at, linkTo: readlinkSync(at) })
  else if (st.isDirectory()) usr.push({ type: 'bind', source: at, target: at, readonly: true })
}

const options = {
  namespaces: ['user', 'pid', 'net', 'ipc', 'uts'],
  uidMap: 'root',
  gidMap: 'root',
  hostname: 'sandbox',
  rootfs: 'tmpfs',
  mounts: [
    ...usr,
    { type: 'bind', source: workspace, target: '/workspace' },
    { type: 'file', target: '/workspace/secret.txt', data: '', readonly: true },
    { type: 'proc' },
    { type: 'dev' },
    { type: 'tmpfs', target: '/tmp' },
    { type: 'remount', target: '/', readonly: true },
  ],
  capabilities: {},
  noNewPrivs: true,
  seccomp,
  cwd: '/workspace',
  env: { PATH: '/usr/bin:/bin', LANG: 'C' },
  encoding: 'utf8',
  timeout: 10_000,
}

// The command: one `name|what it saw` line per check.
const script = `
  row() { printf '%s|%s\\n' "$1" "$2"; }
  row id "$(id)"
  row root "$(ls / | tr '\\n' ' ')"
  echo 'written inside' > /workspace/result.txt && row write allowed
  row secret "$(wc -c < /workspace/secret.txt) bytes"
  row usr "$(touch /usr/x 2>&1 | sed 's/.*: //' || true)"
  row links "$(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\\n' ' ')"
  row caps "$(grep CapEff /proc/self/status | cut -f2)"
  row nnp "$(grep NoNewPrivs /proc/self/status | cut -f2)"
  if command -v python3 >/dev/null; then
    python3 -c '
import errno, socket
def attempt(f):
    try:
        f()
        return "allowed"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print("unix|" + attempt(lambda: socket.socket(socket.AF_UNIX)))
print("inet|" + attempt(lambda: socket.create_connection(("192.0.2.1", 80), timeout=2)))
'
  else
    row unix 'no python3 here'
    row inet 'no python3 here'
  fi
`

const r = spawnSync('/bin/sh', ['-c', script], options)
if (r.error) {
  console.error(`the sandbox could not start (step '${r.error.step}'): ${r.error.message}`)
  rmSync(workspace, { recursive: true, force: true })
  process.exit(1)
}
const seen = Object.fromEntries(
  r.stdout
    .split('\n')
    .filter((l) => l.includes('|'))
    .map((l) => [l.slice(0, l.indexOf('|')), l.slice(l.indexOf('|') + 1).trim()]),
)
const noPython = seen.unix === 'no python3 here'

const rootList = ['dev', 'proc', 'tmp', 'usr', 'workspace', ...usr.slice(1).map((m) => m.target.slice(1))].sort().join(' ')
const rows = [
  ['who am I', 'uid=0 gid=0 groups=0', seen.id],
  ['ls /', rootList, seen.root],
  ['write /workspace/result.txt', 'allowed', seen.write ?? 'refused'],
  ['read /workspace/secret.txt', '0 bytes', seen.secret],
  ['write /usr', 'Read-only file system', seen.usr],
  ['network interfaces', 'lo', seen.links],
  ['connect to 192.0.2.1:80', 'ENETUNREACH', seen.inet, noPython],
  ['effective capabilities', '0000000000000000', seen.caps],
  ['no_new_privs', '1', seen.nnp],
  ['AF_UNIX socket', 'EAFNOSUPPORT', seen.unix, noPython],
]

// What the host sees afterwards.
const result = readFileSync(join(workspace, 'result.txt'), 'utf8').trim()
const kept = readFileSync(join(workspace, 'secret.txt'), 'utf8')
rows.push(['the host reads result.txt', 'written inside', result])
rows.push(['secret.txt on the host', `${secret.length} bytes, untouched`, `${kept.length} bytes, ${kept === secret ? 'untouched' : 'changed'}`])
rmSync(workspace, { recursive: true, force: true })

const width = (i) => Math.max(...rows.map((row) => String(row[i] ?? '').length), ['check', 'expected', 'seen'][i].length)
const line = (cells) => `| ${cells.map((c, i) => String(c ?? '').padEnd(i < 3 ? width(i) : 0)).join(' | ')} |`
console.log(`The sandbox as uid ${process.getuid()} (uid 0 inside), exit status ${r.status}:\n`)
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
