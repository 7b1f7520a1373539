/**
 * Names a value in an error message so that it reads right for every type: `undefined`, `null`, `a function`,
 * `the string "app.ts"`, `an instance of Map`. (An article picked from a class name's first letter would misread
 * names such as `Uint8Array` or `HTMLElement`, hence "an instance of".)
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined'
    case 'string':
      return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 59)}…` : value)}`
    case 'number':
      return Number.isFinite(value) ? `the number ${value}` : String(value)
    case 'bigint':
      return `the BigInt ${value}n`
    case 'boolean':
      return String(value)
    case 'symbol':
      return 'a symbol'
    case 'function':
      return 'a function'
  }
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto === Object.prototype || proto === null) return 'an object'
  const name = (value as object).constructor?.name
  return name && name !== 'Object' ? `an instance of ${name}` : 'an object with a custom prototype'
}
