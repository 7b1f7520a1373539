/**
 * The codes of the server's `error` frames come from one union (`ServerErrorCode`; the outbox accepts no other), and
 * docs/PROTOCOL.md §9 lists exactly those: a code the server can send but the document does not name fails here.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SERVER_ERROR_CODES } from '../../src/protocol/server-errors.ts'

/** The backticked codes in the first column of the table in §9 of docs/PROTOCOL.md. */
function documentedCodes(): string[] {
  const text = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8')
  const section = /^## 9\. Errors\n([\s\S]*?)^## /m.exec(text)?.[1]
  if (section === undefined) throw new Error('docs/PROTOCOL.md has no "## 9. Errors" section')
  const rows = section.split('\n').filter((line) => line.startsWith('| `'))
  return rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''))
}

describe('server error codes', () => {
  it('docs/PROTOCOL.md §9 lists every code the server sends, and no other', () => {
    const documented = documentedCodes()
    expect(new Set(documented).size).toBe(documented.length)
    expect([...documented].sort()).toEqual([...SERVER_ERROR_CODES].sort())
  })
})
