// Transport-independent: messages between instances, encoded and parsed here; no socket.
import { describe, expect, it } from 'vitest';
import { encodeWire, parseWire } from '../src/scale-out/wire.js';

// What arrives from Redis is checked before anything acts on it.
describe('messages between instances', () => {
  it('round-trips every message kind', () => {
    const bodies = [
      { t: 'join', l: 'L1', h: 'pr:rv:abc' },
      { t: 'found', l: 'L1' },
      { t: 'fail', l: 'L1', e: 'peer_already_connected' },
      { t: 'data', l: 'L1', f: '{"type":"data","payload":"x"}' },
      { t: 'end', l: 'L1', r: 'expired' },
      { t: 'binit', l: 'L2', h: 'pr:watch:x', k: 'tok', p: 'key' },
      { t: 'banswer', l: 'L2', f: '{"type":"bootstrap_ack"}' },
      { t: 'bgone', l: 'L2' },
      { t: 'ping', n: 7 },
    ] as const;
    for (const body of bodies) {
      expect(parseWire(encodeWire('me', body))).toEqual({ i: 'me', ...body });
    }
  });

  it.each([
    ['not JSON', '{'],
    ['an array', '[]'],
    ['null', 'null'],
    ['no sender', '{"t":"found","l":"L"}'],
    ['no link', '{"t":"found","i":"me"}'],
    ['an unknown kind', '{"t":"evil","i":"me","l":"L"}'],
    ['an unknown end reason', '{"t":"end","i":"me","l":"L","r":"whatever"}'],
    ['an unknown join failure', '{"t":"fail","i":"me","l":"L","e":"relay_capacity"}'],
    ['a data frame that is not text', '{"t":"data","i":"me","l":"L","f":42}'],
    ['a join without its key', '{"t":"join","i":"me","l":"L"}'],
    ['a ping without a number', '{"t":"ping","i":"me","n":"1"}'],
    ['an over-long link id', JSON.stringify({ t: 'found', i: 'me', l: 'x'.repeat(65) })],
  ])('drops %s', (_name, raw) => {
    expect(parseWire(raw)).toBeUndefined();
  });
});
