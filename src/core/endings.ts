import { errorFrame } from '../protocol/errors.js';
import { DONE_FRAME } from '../protocol/messages.js';
import type { EndReason } from './sessions.js';

/** What one member of a session hears when it ends, and whether its socket then closes. */
export interface Ending {
  readonly frame: string | null;
  readonly close: readonly [code: number, reason: string] | null;
}

const SILENT: Ending = { frame: null, close: null };
const DONE: Ending = { frame: DONE_FRAME, close: null };
const PEER_GONE: Ending = { frame: errorFrame('peer_disconnected'), close: null };
const EXPIRED: Ending = { frame: errorFrame('otc_expired'), close: [1000, 'session expired'] };
const DATA_LIMIT: Ending = {
  frame: errorFrame('session_data_limit'),
  close: [1008, 'session data limit'],
};
// Only an unpaired target: two listens must never both win a code.
const CLAIM_LOST: Ending = {
  frame: errorFrame('otc_in_use'),
  close: [1000, 'code claimed elsewhere'],
};

/**
 * The end of a session as each member sees it, for every reason: one table
 * for every runtime (core/client.ts on a server, the Durable Object at the
 * edge), so a socket hears the same whichever relay held its session.
 * `self`: this member's own act ended it.
 */
export function endingFor(reason: EndReason, self: boolean): Ending {
  switch (reason) {
    case 'done':
      return self ? SILENT : DONE;
    case 'peer_disconnected':
      return self ? SILENT : PEER_GONE;
    case 'expired':
    case 'burned':
      return EXPIRED;
    case 'data_limit':
      return DATA_LIMIT;
    case 'claim_lost':
      return CLAIM_LOST;
    case 'shutdown':
      // The caller says going_away to every socket.
      return SILENT;
  }
}
