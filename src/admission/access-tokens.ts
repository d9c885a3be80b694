import { readFileSync } from 'node:fs';
import {
  OptionTypeError,
  tokenProblem,
  type AccessCheck,
  type AccessTokens,
} from '../config/options.js';
import type { Logger } from '../observe/logger.js';
import { functionGate, tokenListGate, type AccessGate } from './access-gate.js';

// The server's access settings: a list, a tokens file (re-read on SIGHUP) or
// a function. The file is why this module is apart from access-gate.ts: the
// Worker, which has no file system, uses that one alone.

/** File lines → tokens; blank lines and # comments skipped. Problems name the line, never the token. */
function parseTokensFile(text: string): string[] {
  const tokens: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const problem = tokenProblem(line);
    if (problem !== undefined) throw new Error(`line ${i + 1} ${problem}`);
    tokens.push(line);
  });
  return tokens;
}

/** The access settings, checked and with the tokens file read (a {@link loadAccessTokens} result). */
export type AccessTokenSource =
  | { kind: 'open' }
  | { kind: 'check'; check: AccessCheck }
  | { kind: 'tokens'; tokens: readonly string[]; file: string; fromFile: readonly string[] };

/**
 * Reads and checks the access settings at construction: a file that cannot
 * be read or holds a bad line stops the start, naming the option.
 */
export function loadAccessTokens(tokens: AccessTokens, file: string): AccessTokenSource {
  if (typeof tokens === 'function') {
    if (file !== '') {
      throw new TypeError(
        'pairing-relay: options "accessTokens" (a function) and "accessTokensFile" exclude each other',
      );
    }
    return { kind: 'check', check: tokens };
  }
  if (tokens.length === 0 && file === '') return { kind: 'open' };
  let fromFile: string[] = [];
  if (file !== '') {
    try {
      fromFile = parseTokensFile(readFileSync(file, 'utf8'));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new OptionTypeError('accessTokensFile', `cannot be used: ${e.code ?? e.message}`);
    }
  }
  return { kind: 'tokens', tokens, file, fromFile };
}

/** The gate, or undefined when no token (list, function or file) is configured: an open relay. */
export function createAccessGate(source: AccessTokenSource, log: Logger): AccessGate | undefined {
  if (source.kind === 'open') return undefined;
  if (source.kind === 'check') return functionGate(source.check, log);
  const { tokens, file, fromFile } = source;
  if (file !== '' && fromFile.length === 0) {
    log.warn({ file }, 'access-token file holds no token: every upgrade is refused');
  }
  const gate = tokenListGate([...tokens, ...fromFile]);
  return {
    allows: gate.allows,
    async reload() {
      if (file === '') return undefined;
      let next: string[];
      try {
        // A small file, read on SIGHUP only.
        next = parseTokensFile(readFileSync(file, 'utf8'));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        log.error(
          { file, err: e.code ?? e.message },
          'access tokens not reloaded: keeping the old ones',
        );
        return undefined;
      }
      const all = [...tokens, ...next];
      gate.replace(all);
      log.info({ file, tokens: all.length }, 'access tokens reloaded');
      return { tokens: all.length };
    },
  };
}
