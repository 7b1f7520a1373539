import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Replaces one `## heading` section of BENCHMARKS.md (from its heading to the next `## `, or the end) with `text`,
 * or appends it; every other section stays as it is, so each benchmark script owns only its own part of the file.
 */
export function writeBenchmarksSection(heading: string, text: string): void {
  const file = fileURLToPath(new URL('../../BENCHMARKS.md', import.meta.url))
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n'
  const escaped = heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const start = current.search(new RegExp(`^## ${escaped}$`, 'm'))
  let next: string
  if (start === -1) {
    next = `${current.trimEnd()}\n\n${text}`
  } else {
    const after = current.slice(start + 1).search(/^## /m)
    const end = after === -1 ? current.length : start + 1 + after
    next = `${current.slice(0, start)}${text}${after === -1 ? '' : '\n'}${current.slice(end)}`
  }
  writeFileSync(file, next.endsWith('\n') ? next : `${next}\n`)
  console.log(`wrote the "${heading}" section of ${file}`)
}
