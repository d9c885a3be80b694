// Transport-independent: the Worker's link to an object, before the object has answered.
import { describe, expect, it } from 'vitest';
import { Link } from '../src/edge/link.js';
import type { DurableObjectNamespace } from '../src/edge/workers-api.js';

/** A namespace whose objects never answer the link's upgrade: every frame sent must wait. */
const SILENT: DurableObjectNamespace = {
  idFromName: (name) => name,
  get: () => ({ fetch: () => new Promise<Response>(() => undefined) }),
};

describe('a link whose object has not answered yet', () => {
  it('keeps frames under the cap, and ends 1008 once they pass it', () => {
    const ended: Array<[number, string]> = [];
    const link = new Link(
      'otc:123456',
      SILENT,
      'k',
      () => undefined,
      (...end) => ended.push(end),
      1024,
    );
    for (let i = 0; i < 3; i++) link.send('x'.repeat(300));
    expect(ended).toEqual([]);
    link.send('x'.repeat(300));
    expect(ended).toEqual([[1008, 'too many pending messages']]);
    // Closed: later frames are dropped, and it does not end twice.
    link.send('x'.repeat(300));
    expect(ended).toHaveLength(1);
  });
});
