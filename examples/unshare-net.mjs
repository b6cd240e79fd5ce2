// Linux::Clone's first example: unshare the network namespace and prove it with `ip link`,
// which shows only an unconfigured lo. Run as root.
import { execSync } from 'node:child_process'
import { NEWNET, unshare } from 'linux-clone'

unshare(NEWNET)
// child_process starts from the main thread, so the command runs in the new namespace.
console.log(execSync('ip link show', { encoding: 'utf8' }))
