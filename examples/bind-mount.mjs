// Linux::Clone's mount example: a mount namespace of our own and a confusing bind mount that
// only this process (and what it starts) sees. Run as root.
import { execSync } from 'node:child_process'
import { mount, unshare, MS_BIND, MS_PRIVATE, MS_REC, NEWNS } from 'linux-clone'

unshare(NEWNS)
// Most distributions mount / as shared: without this, the bind mount would propagate back to
// the original namespace and every other process would see it too.
mount(null, '/', null, MS_REC | MS_PRIVATE)

// Bind-mount /lib over /etc and list /etc: scary, and gone when this process exits.
mount('/lib', '/etc', null, MS_BIND)
console.log(execSync('ls -l /etc | head -n 8', { encoding: 'utf8', shell: '/bin/sh' }))
