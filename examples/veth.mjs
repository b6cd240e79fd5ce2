// Linux::Clone's veth example: a network namespace of our own with lo up and one end of a veth
// pair, the other end moved to the namespace of the process that started node (our shell).
// Then a shell inside the new namespace. Run as root.
import { execSync, spawnSync } from 'node:child_process'
import { configureLoopback, NEWNET, unshare } from 'linux-clone'

unshare(NEWNET)
configureLoopback()

const parent = process.ppid
execSync(`
  ip link add name veth_master type veth peer name veth_slave
  ip link set veth_master netns ${parent}
  ip link set veth_slave up
  ip addr add 192.168.99.2/32 dev veth_slave
  ip route add 192.168.99.1/32 dev veth_slave
`)

console.log(`say hi to your new network namespace, use exit to return.

try this from another shell to get networking up:

  ip link set veth_master up
  ip addr add 192.168.99.1/32 dev veth_master
  ip route add 192.168.99.2/32 dev veth_master
`)
if (process.stdin.isTTY) spawnSync('bash', { stdio: 'inherit' })
else console.log(execSync('ip -brief addr show', { encoding: 'utf8' }))
// When this process exits, its namespace goes, and with it both ends of the veth pair.
