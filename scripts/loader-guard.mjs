// Run by `napi build --pipe` on each file it generates: puts two guards at the top of the
// generated loader, so that loading where the binaries cannot work says what is wrong instead of
// listing every binary it could not find, or crashing later: another OS, and a glibc below the
// floor the README states.
import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

// The lowest glibc the package runs on. Below 2.25 glibc caches the pid and tid in the thread
// control block, and its clone() wrapper overwrites that cache in the caller when CLONE_VM is
// set: on glibc 2.17 raise(0) fails after one clone(), and abort() dies of SIGILL instead of
// SIGABRT (measured in Bun on the glibc 2.17 sysroot by scripts/runtimes.sh glibc-2.17).
export const GLIBC_FLOOR = '2.25'
const GLIBC_FLOOR_REASON =
  "before 2.25, glibc's clone() wrapper overwrites the caller's cached pid and tid when CLONE_VM is set, which breaks raise() and abort() in the process afterwards"

const marker = '// linux-clone: Linux only'
const guard = `${marker}
if (process.platform !== 'linux') {
  throw new Error(
    \`linux-clone supports Linux only: clone(2), unshare(2) and setns(2) are Linux system calls, and this is \${process.platform}\`,
  )
}
// linux-clone: glibc ${GLIBC_FLOOR} or newer (the runtime's own report; musl reports no glibc)
{
  const needed = '${GLIBC_FLOOR}'
  let found
  try {
    const { report } = process
    const exclude = report.excludeNetwork
    report.excludeNetwork = true
    found = report.getReport().header.glibcVersionRuntime
    report.excludeNetwork = exclude
  } catch {}
  if (typeof found === 'string') {
    const [major, minor] = found.split('.').map(Number)
    const [needMajor, needMinor] = needed.split('.').map(Number)
    if (major < needMajor || (major === needMajor && minor < needMinor)) {
      throw new Error(
        \`linux-clone needs glibc \${needed} or newer, and this system has glibc \${found}: ${GLIBC_FLOOR_REASON.replace(/[`$\\]/g, '\\$&')}\`,
      )
    }
  }
}
`

for (const file of process.argv.slice(2)) {
  if (basename(file) !== 'index.js') continue
  const source = readFileSync(file, 'utf8')
  if (source.includes(marker)) continue
  // After the generated header comments, before the first statement.
  const at = source.indexOf("const { readFileSync } = require('fs')")
  if (at < 0) throw new Error(`${file}: unexpected loader layout, cannot place the loader guards`)
  writeFileSync(file, source.slice(0, at) + guard + '\n' + source.slice(at))
}
