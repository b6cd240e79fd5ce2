// No root needed: an ordinary user gets uid 0 in new user, pid, net, uts and ipc namespaces,
// runs a shell command there, and its output and exit code come back. Run as any user:
//   node examples/rootless.mjs
import { probe, spawn } from 'linux-clone'

const support = probe().userNamespaces
if (!support.ok) {
  console.error(`This host does not allow unprivileged user namespaces: ${support.cause}`)
  process.exit(1)
}

const script = `
  echo "uid inside: $(id -u), pid: $$, hostname: $(hostname)"
  echo "uid_map: $(cat /proc/self/uid_map | tr -s ' ')"
  echo "interfaces: $(ip -o link 2>/dev/null | cut -d: -f2 | tr -d ' ' | tr '\\n' ' ' || ls /sys/class/net)"
  exit 42
`
const child = spawn('/bin/sh', ['-c', script], {
  namespaces: ['user', 'pid', 'net', 'uts', 'ipc'],
  uidMap: 'root',
  gidMap: 'root',
  hostname: 'rootless',
  stdio: ['ignore', 'pipe', 'inherit'],
})
child.stdout.setEncoding('utf8').on('data', (text) => process.stdout.write(text))
child.on('error', (err) => {
  console.error(`spawn failed at step '${err.step}': ${err.message}`)
  process.exitCode = 1
})
child.on('close', (code) => {
  console.log(`outside: uid ${process.getuid()}, the program exited with ${code}`)
})
