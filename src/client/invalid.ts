import { TabwireError } from '../protocol/errors.ts'

/** The error a bad argument or option gets: `invalid-argument`, with a message that names it. */
export const invalid = (message: string): TabwireError => new TabwireError('invalid-argument', message)
