// The main example: a network namespace of our own, its loopback brought up, and a TCP round
// trip inside it. Run as root: `npm run demo`.
import { execFileSync } from 'node:child_process'
import net from 'node:net'
import { configureLoopback, NEWNET, unshare } from 'linux-clone'

if (process.getuid() !== 0) {
  console.error('The demo makes a network namespace, which needs root (CAP_SYS_ADMIN). Run it as root.')
  process.exit(1)
}

const links = () => execFileSync('ip', ['-brief', 'link', 'show'], { encoding: 'utf8' }).trim()

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
