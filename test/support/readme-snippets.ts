/**
 * Reads code out of README.md so a test runs the very text a reader copies. A file is a fenced block whose info string
 * names it, as in ```` ```ts title="src/main.ts" ````: GitHub highlights it by the first word and shows nothing of the
 * rest, so the README names each file in prose above its block as well.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const README = fileURLToPath(new URL('../../README.md', import.meta.url))

/** The text of the README section headed `## <heading>`, up to the next `## `. */
export function readmeSection(heading: string): string {
  const text = readFileSync(README, 'utf8')
  const start = text.indexOf(`\n## ${heading}\n`)
  if (start < 0) throw new Error(`README.md has no section "## ${heading}"`)
  const end = text.indexOf('\n## ', start + 1)
  return text.slice(start, end < 0 ? undefined : end)
}

/** Every ```` ```lang title="path" ```` block of `markdown`, by path; a path named twice is an error. */
export function titledBlocks(markdown: string): Map<string, string> {
  const files = new Map<string, string>()
  for (const m of markdown.matchAll(/^```\w+ title="([^"]+)"\n([\s\S]*?)^```$/gm)) {
    const [, path, body] = m as unknown as [string, string, string]
    if (files.has(path)) throw new Error(`README names ${path} twice`)
    files.set(path, body)
  }
  return files
}

/** The lines of `markdown`'s ```` ```sh ```` blocks that start with `command`, split into words. */
export function shellCommands(markdown: string, command: string): string[][] {
  const lines: string[][] = []
  for (const m of markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm))
    for (const line of (m[1] ?? '').split('\n'))
      if (line.startsWith(`${command} `)) lines.push(line.trim().split(/\s+/))
  return lines
}
