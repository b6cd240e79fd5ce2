// A JavaScript function in fresh namespaces: its own hostname, pid 1, a network namespace with
// only lo, and a TCP server it hands back to the parent, which then serves from inside that
// namespace. The parent learns of the child's end through waitExit(). Run as root:
//   node examples/clone-sandbox.mjs
import { execSync } from 'node:child_process'
import net from 'node:net'
import os from 'node:os'
import fs from 'node:fs'
import { clone, configureLoopback, getpid, sethostname, waitExit, NEWNET, NEWPID, NEWUTS, SIGCHLD } from 'linux-clone'

if (process.getuid() !== 0) {
  console.error('This example creates namespaces, which needs root (CAP_SYS_ADMIN).')
  process.exit(1)
}

let server
let netns
const report = {}
const pid = clone(() => {
  sethostname('sandbox')
  configureLoopback()
  report.hostname = os.hostname()
  report.pid = getpid()
  report.links = execSync('ip -brief link show', { encoding: 'utf8' }).trim()
  // Fds the child opens stay open in the parent: a listening socket, and the namespace itself.
  netns = fs.openSync('/proc/thread-self/ns/net', 'r')
  server = net.createServer((s) => s.end('hello through the socket the sandbox made\n'))
  // listen() without a host binds at once, here; with a host it would bind later, in the parent.
  server.listen(8080)
  return 0
}, 0, NEWUTS | NEWPID | NEWNET | SIGCHLD)

const { exitCode } = await waitExit(pid)
console.log(`child ${pid} saw itself as pid ${report.pid}, hostname ${report.hostname}, links:\n  ${report.links}`)
console.log(`child exited with ${exitCode}; the parent's hostname is still ${os.hostname()}`)

// Port 8080 on the host's 127.0.0.1 is not this server: it listens in the child's namespace.
// A Worker enters that namespace to connect, and the parent's event loop serves the request.
const { Worker } = await import('node:worker_threads')
const reply = await new Promise((resolve, reject) => {
  const w = new Worker(
    `const { setns, NEWNET } = require('linux-clone');
     const net = require('node:net');
     const { workerData, parentPort } = require('node:worker_threads');
     setns(workerData, NEWNET);
     let data = '';
     net.connect(8080, '127.0.0.1').on('data', (d) => (data += d)).on('end', () => parentPort.postMessage(data));`,
    { eval: true, workerData: netns },
  )
  w.once('message', resolve).once('error', reject)
})
console.log(`a client in that namespace got: ${reply.trim()}`)
server.close()
fs.closeSync(netns)
