/** This release; a worker reports it in `stats()`, so two versions side by side after a deploy can be told apart. */
export const VERSION = '0.1.0'
