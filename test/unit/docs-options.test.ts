/**
 * The docs cannot drift from the code: each option is described once, in its interface's JSDoc with `@default`, and
 * the reference tables (docs/api.md, docs/server.md) must list exactly the same options with the same defaults as the
 * JSDoc and the code's `DEFAULTS`. TypeScript 7 has no JS API, so the interfaces are read from their source text by a
 * small parser that relies on the house style: one field per line at two spaces' indent, its JSDoc right above it.
 * Also: every relative link in the README and docs/ points at a file that exists, and at a heading that exists there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { DEFAULTS as SERVER_DEFAULTS } from '../../src/server/server.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
// The client's options module names DOM types this Node project's tsconfig has no lib for: imported by a computed
// path, tsc leaves it to vitest, which runs the plain TS as it is.
const CLIENT_OPTIONS = new URL('../../src/client/options.ts', import.meta.url).href
const { DEFAULTS: CLIENT_DEFAULTS } = (await import(CLIENT_OPTIONS)) as { DEFAULTS: object }
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8')

type Literal = string | number | boolean
interface Field {
  name: string
  type: string
  doc: string | undefined
}

/** The fields of `export interface <name>`, each with the JSDoc written right above it. */
function interfaceFields(source: string, name: string): Field[] {
  const start = source.search(new RegExp(`^export interface ${name}\\b[^{]*\\{$`, 'm'))
  if (start < 0) throw new Error(`no interface ${name}`)
  const lines = source.slice(start).split('\n').slice(1)
  const fields: Field[] = []
  let doc: string[] | undefined
  let inDoc = false
  for (const line of lines) {
    if (line.startsWith('}')) break
    const trimmed = line.trim()
    if (trimmed.startsWith('/**')) {
      doc = []
      inDoc = true
    }
    if (inDoc) {
      doc?.push(trimmed)
      if (trimmed.endsWith('*/')) inDoc = false
      continue
    }
    const field = /^ {2}(\w+)\??: (.+)$/.exec(line)
    if (field) {
      fields.push({ name: field[1] ?? '', type: field[2] ?? '', doc: doc?.join('\n') })
      doc = undefined
    }
  }
  return fields
}

/** A default as the docs write it: `'text'`, a number (with `_` or `,` separators), `Infinity`, `true`, `false`. */
function literal(text: string): Literal {
  const t = text.trim()
  const quoted = /^'(.*)'$/.exec(t)
  if (quoted) return quoted[1] ?? ''
  if (t === 'true' || t === 'false') return t === 'true'
  if (t === 'Infinity') return Infinity
  const n = Number(t.replace(/[_,]/g, ''))
  if (t === '' || Number.isNaN(n)) throw new Error(`not a literal default: ${text}`)
  return n
}

function jsdocDefault(doc: string | undefined): Literal | undefined {
  const m = /@default\s+(.+?)\s*(?:\*\/)?$/m.exec(doc ?? '')
  return m ? literal(m[1] ?? '') : undefined
}

/** Option name → its `@default`, with nested option interfaces (`reconnect`) spelled `reconnect.minDelay`. */
function codeOptions(
  fields: Field[],
  nested: Record<string, Field[]> = {},
): Map<string, { doc: string | undefined; def: Literal | undefined }> {
  const out = new Map<string, { doc: string | undefined; def: Literal | undefined }>()
  for (const f of fields) {
    const inner = Object.entries(nested).find(([type]) => f.type.includes(type))
    if (inner) for (const g of inner[1]) out.set(`${f.name}.${g.name}`, { doc: g.doc, def: jsdocDefault(g.doc) })
    else out.set(f.name, { doc: f.doc, def: jsdocDefault(f.doc) })
  }
  return out
}

/** The `| \`option\` | default | meaning |` rows of the first table under `heading`: a default is a leading `literal`. */
function tableOptions(markdown: string, heading: string): Map<string, Literal | undefined> {
  const start = markdown.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`no heading ${heading}`)
  const rest = markdown.slice(start + heading.length + 2)
  const end = rest.search(/^#{1,6} /m)
  const rows = new Map<string, Literal | undefined>()
  for (const m of (end < 0 ? rest : rest.slice(0, end)).matchAll(/^\| `([\w.]+)` \| ([^|]*) \|/gm)) {
    const def = /^`([^`]+)`/.exec((m[2] ?? '').trim())
    rows.set(m[1] ?? '', def ? literal(def[1] ?? '') : undefined)
  }
  return rows
}

function flatten(obj: object, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'object' && v !== null) for (const [kk, vv] of flatten(v, `${prefix}${k}.`)) out.set(kk, vv)
    else out.set(`${prefix}${k}`, v)
  }
  return out
}

/** Every disagreement between the code's options, their `DEFAULTS` and a docs table; empty when they agree. */
function problems(
  code: Map<string, { doc: string | undefined; def: Literal | undefined }>,
  defaults: object,
  table: Map<string, Literal | undefined>,
): string[] {
  const found: string[] = []
  for (const name of code.keys()) if (!table.has(name)) found.push(`${name}: in the code, not in the docs table`)
  for (const name of table.keys()) if (!code.has(name)) found.push(`${name}: in the docs table, not in the code`)
  for (const [name, { doc, def }] of code) {
    if (!doc) found.push(`${name}: no JSDoc`)
    if (table.has(name) && !Object.is(table.get(name), def))
      found.push(`${name}: docs say ${String(table.get(name))}, @default says ${String(def)}`)
  }
  for (const [name, value] of flatten(defaults)) {
    const def = code.get(name)?.def
    if (!Object.is(def, value)) found.push(`${name}: DEFAULTS has ${String(value)}, @default says ${String(def)}`)
  }
  return found
}

const OPTIONS_TS = read('src/client/options.ts')
const PORT_TS = read('src/protocol/port.ts')
const SERVER_TYPES_TS = read('src/server/types.ts')
const API_MD = read('docs/api.md')
const SERVER_MD = read('docs/server.md')
const CLIENT_HEADING = '### `connect()` options'
const SERVER_HEADING = '## `createServer(options)` → `TabwireServer`'

const clientOptions = (optionsTs: string) =>
  codeOptions(interfaceFields(optionsTs, 'ConnectOptions'), {
    ReconnectOptions: interfaceFields(PORT_TS, 'ReconnectOptions'),
  })

describe('option reference', () => {
  it('docs/api.md lists every ConnectOptions and reconnect option, with the JSDoc @default and DEFAULTS value', () => {
    const code = clientOptions(OPTIONS_TS)
    expect(problems(code, CLIENT_DEFAULTS, tableOptions(API_MD, CLIENT_HEADING))).toEqual([])
  })

  it('docs/server.md lists every ServerOptions option, with the JSDoc @default and DEFAULTS value', () => {
    const code = codeOptions(interfaceFields(SERVER_TYPES_TS, 'ServerOptions'))
    expect(problems(code, SERVER_DEFAULTS, tableOptions(SERVER_MD, SERVER_HEADING))).toEqual([])
  })

  it('reports an option the docs lack and a default that changed in the code', () => {
    const added = OPTIONS_TS.replace(
      '  debug?: boolean\n',
      '  debug?: boolean\n  /**\n   * New.\n   * @default 7\n   */\n  retries?: number\n',
    )
    const table = tableOptions(API_MD, CLIENT_HEADING)
    expect(problems(clientOptions(added), CLIENT_DEFAULTS, table)).toEqual([
      'retries: in the code, not in the docs table',
    ])
    const changed = { ...CLIENT_DEFAULTS, callTimeout: 5_000 }
    expect(problems(clientOptions(OPTIONS_TS), changed, table)).toEqual([
      'callTimeout: DEFAULTS has 5000, @default says 10000',
    ])
    const retabled = new Map(table).set('hiddenGrace', 60_000)
    expect(problems(clientOptions(OPTIONS_TS), CLIENT_DEFAULTS, retabled)).toEqual([
      'hiddenGrace: docs say 60000, @default says 30000',
    ])
  })
})

/** GitHub's heading anchors: lowercase, punctuation dropped (`-` and `_` kept), spaces to `-`, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const line of withoutFences(markdown)) {
    const h = /^#{1,6} (.+)$/.exec(line)
    if (!h) continue
    const text = (h[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    out.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return out
}

function withoutFences(markdown: string): string[] {
  let fence = false
  return markdown.split('\n').filter((line) => {
    if (line.startsWith('```')) fence = !fence
    return !fence && !line.startsWith('```')
  })
}

const MARKDOWN = [
  'README.md',
  'RELIABILITY.md',
  'BENCHMARKS.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

describe('markdown links', () => {
  it.each(MARKDOWN)('every relative link in %s reaches an existing file and heading', (file) => {
    const broken: string[] = []
    let checked = 0
    const text = withoutFences(read(file))
      .join('\n')
      .replace(/`[^`\n]*`/g, '')
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1] ?? ''
      if (/^[a-z]+:/i.test(link)) continue
      const [target = '', anchor] = link.split('#')
      const resolved = target ? path.join(path.dirname(file), target) : file
      checked++
      if (!existsSync(path.join(ROOT, resolved))) broken.push(`${link}: no file ${resolved}`)
      else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(read(resolved)).has(anchor))
        broken.push(`${link}: no heading #${anchor} in ${resolved}`)
    }
    expect(broken).toEqual([])
    if (file === 'README.md') expect(checked).toBeGreaterThan(10)
  })

  it('the anchor rule matches GitHub on the headings the docs link to', () => {
    const md =
      '# A\n## `createServer(options)` → `TabwireServer`\n### Worker modes (`mode`, `dedicatedWorker`)\n## 2. Framing\n## A\n```\n# not a heading\n```'
    expect([...anchors(md)]).toEqual([
      'a',
      'createserveroptions--tabwireserver',
      'worker-modes-mode-dedicatedworker',
      '2-framing',
      'a-1',
    ])
  })
})
