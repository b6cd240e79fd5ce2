// Run by `napi build --pipe` on each file it generates: puts two guards at the top of the
// generated loader, so that loading where the binaries cannot work says what is wrong instead of
// listing every binary it could not find, or crashing later: another OS, and a glibc below the
// floor the README states.
import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

// The lowest glibc the package runs on: the binaries use glibc 2.17's symbols, and
// scripts/runtimes.sh glibc-2.17 runs the smoke test on a real 2.17. (glibc before 2.25 corrupts
// the caller's cached pid in its clone() wrapper; the package does not use that wrapper.)
export const GLIBC_FLOOR = '2.17'
const GLIBC_FLOOR_REASON =
  "the binaries are built against glibc 2.17's symbols, and 2.17 is the oldest glibc they are tested on"

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
