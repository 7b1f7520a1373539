import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { GENERATED_BEGIN, GENERATED_END, replaceGenerated, replaceSection } from '../../bench/lib/md-section.ts'
import { renderSection, type Results } from '../../bench/report.ts'

const committed = readFileSync(new URL('../../BENCHMARKS.md', import.meta.url), 'utf8')
const results = (
  JSON.parse(readFileSync(new URL('../../bench/results.json', import.meta.url), 'utf8')) as {
    details: Results
  }
).details

const count = (doc: string, s: string) => doc.split(s).length - 1
const headings = (doc: string) => doc.split('\n').filter((l) => l.startsWith('## '))
const block = (date: string) => renderSection({ ...results, date })

/** What `npm run bench` does to the file: its block, then the storm and store scripts' own sections. */
function benchRun(doc: string, date: string): string {
  const withBlock = replaceGenerated(doc, block(date))
  const storm = replaceSection(withBlock, 'Reconnect storm', `## Reconnect storm\n\nstorm of ${date}\n`)
  return replaceSection(storm, 'Store throughput', `## Store throughput\n\nstores of ${date}\n`)
}

describe('BENCHMARKS.md sections', () => {
  it('the committed file has both markers around one Results section', () => {
    expect(count(committed, GENERATED_BEGIN)).toBe(1)
    expect(count(committed, GENERATED_END)).toBe(1)
    expect(headings(committed).filter((h) => h === '## Results')).toHaveLength(1)
    expect(committed.indexOf(GENERATED_BEGIN)).toBeLessThan(committed.indexOf('## Results'))
  })

  it('two bench runs leave one generated block, one of each section, in the same order, with the newest figures', () => {
    const once = benchRun(committed, '2030-01-01T00:00:00.000Z')
    const twice = benchRun(once, '2030-01-02T00:00:00.000Z')
    expect(headings(twice)).toEqual(headings(committed))
    expect(count(twice, GENERATED_BEGIN)).toBe(1)
    expect(count(twice, GENERATED_END)).toBe(1)
    expect(twice).toContain('Run of 2030-01-02 00:00 UTC')
    expect(twice).not.toContain('Run of 2030-01-01')
    expect(count(twice, 'storm of 2030-01-02')).toBe(1)
    expect(twice).not.toContain('storm of 2030-01-01')
    // The hand-written parts after the block are untouched.
    const tail = (doc: string) => doc.slice(doc.indexOf('## Method'), doc.indexOf('## Store throughput'))
    expect(tail(twice)).toBe(tail(committed))
  })

  it('a section written just before the generated block stops at its begin marker', () => {
    const doc = `# B\n\n## Storm\n\nold\n\n${block('2030-01-01T00:00:00.000Z')}\n\n## Method\n\nhow\n`
    const next = replaceSection(doc, 'Storm', '## Storm\n\nnew\n')
    expect(next).toBe(doc.replace('old', 'new'))
  })

  it('replaces the block when its begin marker is missing, restoring the marker', () => {
    const old = block('2030-01-01T00:00:00.000Z')
    const doc = `# B\n\n## Storm\n\ns\n\n${old.slice(GENERATED_BEGIN.length).trimStart()}\n\n## Method\n\nhow\n`
    const fresh = block('2030-01-02T00:00:00.000Z')
    expect(replaceGenerated(doc, fresh)).toBe(`# B\n\n## Storm\n\ns\n\n${fresh}\n\n## Method\n\nhow\n`)
  })

  it('replaces the block when its end marker is missing, up to the next ## heading', () => {
    const old = block('2030-01-01T00:00:00.000Z').replace(GENERATED_END, '')
    const doc = `# B\n\n${old.trimEnd()}\n\n## Method\n\nhow\n`
    const fresh = block('2030-01-02T00:00:00.000Z')
    expect(replaceGenerated(doc, fresh)).toBe(`# B\n\n${fresh}\n\n## Method\n\nhow\n`)
  })

  it('appends the block and a section to a file that has neither', () => {
    const fresh = block('2030-01-02T00:00:00.000Z')
    expect(replaceGenerated('# B\n\nintro\n', fresh)).toBe(`# B\n\nintro\n\n${fresh}\n`)
    expect(replaceSection('# B\n', 'Storm', '## Storm\n\ns\n')).toBe('# B\n\n## Storm\n\ns\n')
  })
})
