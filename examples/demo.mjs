// The main example: a program started in namespaces of its own (spawn), the same confined in a
// root of its own, a JavaScript callback run in a child with namespaces of its own (clone), then
// a network namespace for this thread (unshare), its loopback brought up, and a TCP round trip
// inside it. Run as root: `npm run demo`.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { clone, configureLoopback, getpid, sethostname, spawn, spawnSync, waitpid, NEWNET, NEWPID, NEWUTS, SIGCHLD, unshare } from 'linux-clone'

if (process.getuid() !== 0) {
  console.error('The demo makes a network namespace, which needs root (CAP_SYS_ADMIN). Run it as root.')
  process.exit(1)
}

const links = () => execFileSync('ip', ['-brief', 'link', 'show'], { encoding: 'utf8' }).trim()

// spawn(): a program in new user, pid, network and UTS namespaces, uid 0 inside (this works
// unprivileged too: see examples/rootless.mjs), its output streamed back.
const program = spawn('/bin/sh', ['-c', 'echo "  uid $(id -u), pid $$, host $(hostname)"; ip -brief link | sed "s/^/  /"; exit 3'], {
  namespaces: ['user', 'pid', 'net', 'uts'],
  uidMap: 'root',
  gidMap: 'root',
  hostname: 'demo-program',
})
console.log('spawn(): a shell in namespaces of its own says:')
program.stdout.pipe(process.stdout)
const [code] = await new Promise((resolve) => program.on('close', (...args) => resolve(args)))
console.log(`it exited with ${code}\n`)

// spawn() confined: an empty root holding the host's /usr read-only, its own /proc, /dev and
// /tmp, no capabilities, no_new_privs, and a reaper as pid 1 (see examples/sandbox.mjs).
const confined = spawnSync('/bin/sh', ['-c', 'echo "  / holds: $(ls / | tr "\\n" " ")"; echo "  capabilities: $(grep CapEff /proc/self/status | cut -f2), pid $$"; touch /usr/x 2>&1 | sed "s/^/  /"'], {
  namespaces: ['user', 'pid', 'net', 'ipc', 'uts'],
  uidMap: 'root',
  gidMap: 'root',
  rootfs: 'tmpfs',
  mounts: [
    { type: 'bind', source: '/usr', target: '/usr', readonly: true },
    ...['bin', 'lib', 'lib64', 'sbin'].filter((d) => existsSync(`/usr/${d}`)).map((d) => ({ type: 'symlink', target: `/${d}`, linkTo: `usr/${d}` })),
    { type: 'proc' },
    { type: 'dev' },
    { type: 'tmpfs', target: '/tmp' },
  ],
  capabilities: {},
  noNewPrivs: true,
  pidns: { init: 'reaper' },
  encoding: 'utf8',
})
console.log('spawnSync(), confined: a shell in a root of its own says:')
process.stdout.write(confined.stdout)
console.log(`it exited with ${confined.status}\n`)

// clone(): the callback runs in a new child process, in new UTS, pid and network namespaces; it
// shares this process's heap, so `seen` is filled in when clone() returns.
let seen
const pid = clone(() => {
  sethostname('demo-child')
  seen = { pid: getpid(), hostname: os.hostname(), links: links() }
  return 42
}, 0, NEWUTS | NEWPID | NEWNET | SIGCHLD)
const { exitCode } = waitpid(pid)
console.log(`clone(): child ${pid} saw itself as pid ${seen.pid} on host ${seen.hostname}, with:`)
console.log(seen.links.replace(/^/gm, '  '))
console.log(`it exited with ${exitCode}; this process is still on host ${os.hostname()}\n`)

console.log('before unshare(NEWNET):')
console.log(links().replace(/^/gm, '  '))

unshare(NEWNET)
console.log('\nafter unshare(NEWNET): a namespace of its own, with only lo, and lo is down')
console.log(links().replace(/^/gm, '  '))

configureLoopback()
console.log('\nafter configureLoopback():')
console.log(links().replace(/^/gm, '  '))

const server = net.createServer((socket) => socket.end('hello from inside the new network namespace\n'))
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address()
  const client = net.connect(port, '127.0.0.1')
  let reply = ''
  client.on('data', (chunk) => (reply += chunk))
  client.on('end', () => {
    console.log(`\nTCP 127.0.0.1:${port} answered: ${reply.trim()}`)
    server.close()
  })
})
