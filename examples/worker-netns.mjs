// A Worker is a thread of its own, and namespaces belong to threads: a Worker can serve inside a
// fresh network namespace while the main thread stays in the host's (Node's answer to Go's
// runtime.LockOSThread). Run as root.
import { readlinkSync } from 'node:fs'
import { Worker } from 'node:worker_threads'

const worker = new Worker(
  `
  const { parentPort } = require('node:worker_threads')
  const { readlinkSync } = require('node:fs')
  const net = require('node:net')
  const { unshare, configureLoopback, NEWNET } = require('linux-clone')
  unshare(NEWNET)
  configureLoopback()
  const server = net.createServer((s) => s.end('served from the worker netns'))
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1')
    client.on('data', (reply) => {
      parentPort.postMessage({ ns: readlinkSync('/proc/thread-self/ns/net'), reply: String(reply) })
      server.close()
    })
  })
  `,
  { eval: true },
)
worker.on('message', ({ ns, reply }) => {
  console.log(`worker thread: ${ns}: ${reply}`)
  console.log(`main thread:   ${readlinkSync('/proc/thread-self/ns/net')} (unchanged)`)
})
