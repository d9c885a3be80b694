import { createRequire } from 'node:module';

let require: NodeRequire | undefined;

/**
 * require() for a CommonJS package loaded where it is first needed. The
 * require function itself is made then too: under Bun, creating one at start
 * costs milliseconds of every cold start.
 */
export function lazyRequire<T>(id: string): T {
  require ??= createRequire(import.meta.url);
  return require(id) as T;
}
