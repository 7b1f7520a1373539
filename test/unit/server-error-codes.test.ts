/**
 * The codes of the server's `error` frames come from one union (`ServerErrorCode`; the outbox accepts no other), and
 * docs/PROTOCOL.md §9 lists exactly those: a code the server can send but the document does not name fails here.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { REFUSAL_CODES, SERVER_ERROR_CODES } from '../../src/protocol/server-errors.ts'

/**
 * The backticked codes in the first column of a table in §9 of docs/PROTOCOL.md: the error codes before its
 * "### Refusal codes" subsection, the refusal codes (of `nack`) in it.
 */
function documentedCodes(table: 'errors' | 'refusals'): string[] {
  const text = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8')
  const section = /^## 9\. Errors\n([\s\S]*?)^## /m.exec(text)?.[1]
  if (section === undefined) throw new Error('docs/PROTOCOL.md has no "## 9. Errors" section')
  const [errors, refusals] = section.split(/^### Refusal codes.*$/m)
  if (refusals === undefined) throw new Error('docs/PROTOCOL.md §9 has no "### Refusal codes" subsection')
  const rows = (table === 'errors' ? (errors ?? '') : refusals).split('\n').filter((line) => line.startsWith('| `'))
  return rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''))
}

describe('server error codes', () => {
  it('docs/PROTOCOL.md §9 lists every code the server sends, and no other', () => {
    const documented = documentedCodes('errors')
    expect(new Set(documented).size).toBe(documented.length)
    expect([...documented].sort()).toEqual([...SERVER_ERROR_CODES].sort())
  })

  it('docs/PROTOCOL.md §9 lists every refusal code of `nack` the server sends, and no other', () => {
    const documented = documentedCodes('refusals')
    expect(new Set(documented).size).toBe(documented.length)
    expect([...documented].sort()).toEqual([...REFUSAL_CODES].sort())
  })
})
