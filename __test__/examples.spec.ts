// The examples run as a newcomer runs them, and say what the README says they say.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { asRoot } from './_helpers.js'

const root = asRoot('the demo makes namespaces without a user namespace, which needs CAP_SYS_ADMIN')

root('examples/demo.mjs (npm run demo): spawn, confined spawn, clone, unshare and a TCP round trip', (t) => {
  const before = os.hostname()
  const out = execFileSync(process.execPath, ['examples/demo.mjs'], { encoding: 'utf8', timeout: 60_000 })
  t.regex(out, /uid 0, pid 1, host demo-program/)
  t.regex(out, /\/ holds: bin dev lib( lib64)? proc( sbin)? tmp usr/)
  t.regex(out, /capabilities: 0000000000000000, pid 2/)
  t.regex(out, /touch: cannot touch '\/usr\/x': Read-only file system/)
  t.regex(out, /saw itself as pid 1 on host demo-child/)
  t.regex(out, /it exited with 42; this process is still on host /)
  t.regex(out, /after unshare\(NEWNET\): a namespace of its own, with only lo, and lo is down\n {2}lo +DOWN/)
  t.regex(out, /TCP 127\.0\.0\.1:\d+ answered: hello from inside the new network namespace/)
  t.is(os.hostname(), before, 'the host keeps its name')
})
