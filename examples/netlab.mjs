// A two-host network lab: two named network namespaces (visible to `ip netns` as well) joined
// by a veth pair, each configured from inside with inNamespaces(), an echo server made in one,
// and a TCP client in the other. Everything is removed at the end. Run as root:
//   node examples/netlab.mjs
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { configureLoopback, inNamespaces, netns } from 'linux-clone'

const left = `lab-left-${process.pid}`
const right = `lab-right-${process.pid}`
const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8' })

netns.add(left)
netns.add(right)
const l = netns.open(left)
const r = netns.open(right)
let server
try {
  // Inside `left`: make the pair, send one end to `right`, configure this end.
  inNamespaces({ net: l }, () => {
    configureLoopback()
    ip('link', 'add', 'veth-l', 'type', 'veth', 'peer', 'name', 'veth-r', 'netns', right)
    ip('addr', 'add', '10.99.0.1/24', 'dev', 'veth-l')
    ip('link', 'set', 'veth-l', 'up')
  })
  // Inside `right`: configure the other end and open the echo server. listen() without a host
  // binds at once, inside; the server then runs on this process's event loop.
  server = inNamespaces({ net: r }, () => {
    configureLoopback()
    ip('addr', 'add', '10.99.0.2/24', 'dev', 'veth-r')
    ip('link', 'set', 'veth-r', 'up')
    return net.createServer((socket) => socket.pipe(socket)).listen(7007)
  })
  for (const [name, ns] of [[left, l], [right, r]]) {
    const addrs = inNamespaces({ net: ns }, () => ip('-o', '-4', 'addr', 'show', 'scope', 'global'))
    console.log(`${name}: ${addrs.trim().replace(/\s+/g, ' ')}`)
  }

  // The client runs in `left` through iproute2, which sees the namespaces netns.add() made.
  const client = spawn(
    'ip',
    ['netns', 'exec', left, process.execPath, '-e', `
      const s = require('node:net').connect(7007, '10.99.0.2', () => s.end('hello across the veth pair'))
      s.on('data', (d) => process.stdout.write(d))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let echoed = ''
  client.stdout.on('data', (d) => (echoed += d))
  const [code] = await once(client, 'exit')
  console.log(`client in ${left} got back: ${JSON.stringify(echoed)} (exit ${code})`)
  if (echoed !== 'hello across the veth pair') process.exitCode = 1
} finally {
  server?.close()
  l.close()
  r.close()
  // Removing the names ends both namespaces (nothing else holds them), and the veth pair with them.
  netns.delete(left)
  netns.delete(right)
}
console.log(`left over in ip netns list: ${JSON.stringify(ip('netns', 'list').split('\n').filter((n) => n.startsWith('lab-')))}`)
