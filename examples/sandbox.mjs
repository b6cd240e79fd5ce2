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

// ---- A tiny classic-BPF assembler for the seccomp filter ----
// An instruction is struct sock_filter { u16 code; u8 jt; u8 jf; u32 k }, little-endian on x64
// and arm64. A program is a list of instructions [code, k, jt?, jf?] and label names; jumps name
// labels (or nothing: the next instruction), turned here into the forward offsets BPF wants.
const LD = 0x20 // BPF_LD|BPF_W|BPF_ABS: A = the 32-bit word at offset k of struct seccomp_data
const JEQ = 0x15 // BPF_JMP|BPF_JEQ|BPF_K: if A == k go to jt, else to jf
const JGE = 0x35 // BPF_JMP|BPF_JGE|BPF_K: if A >= k go to jt, else to jf
const RET = 0x06 // BPF_RET|BPF_K: the verdict k

function assemble(program) {
  const labels = new Map()
  const insns = []
  for (const item of program) {
    if (typeof item === 'string') labels.set(item, insns.length)
    else insns.push(item)
  }
  const out = Buffer.alloc(insns.length * 8)
  insns.forEach(([code, k, jt, jf], i) => {
    const offset = (label) => {
      if (label === undefined) return 0
      const d = labels.get(label) - i - 1
      if (!(d >= 0 && d < 256)) throw new Error(`bad jump from instruction ${i} to '${label}'`)
      return d
    }
    out.writeUInt16LE(code, i * 8)
    out.writeUInt8(offset(jt), i * 8 + 2)
    out.writeUInt8(offset(jf), i * 8 + 3)
    out.writeUInt32LE(k >>> 0, i * 8 + 4)
  })
  return out
}

// struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (its low half on little-endian).
const ALLOW = 0x7fff0000
const ERRNO = 0x00050000 // | errno: the call fails with it
const KILL_PROCESS = 0x80000000
const AF_UNIX = 1
const EAFNOSUPPORT = 97
const ENOSYS = 38
const ARCHES = {
  x64: { audit: 0xc000003e, socket: 41, socketpair: 53 },
  arm64: { audit: 0xc00000b7, socket: 198, socketpair: 199 },
}

/** socket() and socketpair() with AF_UNIX fail with EAFNOSUPPORT; everything else is allowed. */
function noUnixSockets(arch) {
  return assemble([
    [LD, 4], // the calling convention
    [JEQ, arch.audit, undefined, 'kill'], // another one (32-bit x86 on x64) numbers calls differently
    [LD, 0], // the system call
    [JGE, 0x40000000, 'enosys'], // x32 calls on x64 (nr | 0x40000000)
    [JEQ, arch.socket, 'domain'],
    [JEQ, arch.socketpair, 'domain', 'allow'],
    'domain',
    [LD, 16], // its first argument, the address family
    [JEQ, AF_UNIX, 'refuse', 'allow'],
    'allow',
    [RET, ALLOW],
    'refuse',
    [RET, ERRNO | EAFNOSUPPORT],
    'enosys',
    [RET, ERRNO | ENOSYS],
    'kill',
    [RET, KILL_PROCESS],
  ])
}

const arch = ARCHES[process.arch]
const seccomp = arch && noUnixSockets(arch)

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
  ['AF_UNIX socket', seccomp ? 'EAFNOSUPPORT' : 'allowed', seen.unix, noPython],
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
if (!seccomp) console.log(`\nThis example has no seccomp filter for ${process.arch} (only x64 and arm64): AF_UNIX stays allowed.`)
if (noPython) console.log('\npython3 is not installed here: the socket checks were skipped.')
console.log(unexpected === 0 ? `\nall as expected` : `\n${unexpected} unexpected`)
process.exitCode = unexpected === 0 && r.status === 0 ? 0 : 1
