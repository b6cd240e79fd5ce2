// Linux::Clone's mount example: a mount namespace of our own and a confusing bind mount that
// only this process (and what it starts) sees. Run as root.
import { execSync } from 'node:child_process'
import { NEWNS, unshare } from 'linux-clone'

unshare(NEWNS)
// Most distributions mount / as shared: without this, the bind mount would propagate back to
// the original namespace and every other process would see it too.
execSync('mount --make-rprivate /')

// Bind-mount /lib over /etc and list /etc: scary, and gone when this process exits.
execSync('mount -n --bind /lib /etc')
console.log(execSync('ls -l /etc | head -n 8', { encoding: 'utf8', shell: '/bin/sh' }))
