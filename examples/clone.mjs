// Linux::Clone's clone() example, ported: a child that warns and exits with 77, reaped by the
// parent. Unlike Perl's fork-like clone, the callback shares the parent's heap (vfork
// semantics), so what it writes is visible afterwards. Runs as any user:
//   node examples/clone.mjs
import { clone, getpid, SIGCHLD, waitpid } from 'linux-clone'

let message = ''
const pid = clone(() => {
  console.warn(`in child (pid ${getpid()}; process.pid is still the parent's, ${process.pid})`)
  message = 'written by the child'
  return 77
}, 0, SIGCHLD)

const { exitCode } = waitpid(pid)
console.log(`child ${pid} exited with ${exitCode}; the parent reads: ${message}`)
