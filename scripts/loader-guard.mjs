// Run by `napi build --pipe` on each file it generates: puts a Linux-only guard at the top of
// the generated loader, so that loading on another OS says what is wrong instead of listing
// every binary it could not find.
import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

const marker = '// linux-clone: Linux only'
const guard = `${marker}
if (process.platform !== 'linux') {
  throw new Error(
    \`linux-clone supports Linux only: clone(2), unshare(2) and setns(2) are Linux system calls, and this is \${process.platform}\`,
  )
}
`

for (const file of process.argv.slice(2)) {
  if (basename(file) !== 'index.js') continue
  const source = readFileSync(file, 'utf8')
  if (source.includes(marker)) continue
  // After the generated header comments, before the first statement.
  const at = source.indexOf("const { readFileSync } = require('fs')")
  if (at < 0) throw new Error(`${file}: unexpected loader layout, cannot place the Linux-only guard`)
  writeFileSync(file, source.slice(0, at) + guard + '\n' + source.slice(at))
}
