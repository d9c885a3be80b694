// Transport-independent: a pure frame classifier; no socket.
import { describe, expect, it } from 'vitest';
import { isPlainDataFrame } from '../src/protocol/fast-data.js';

describe('isPlainDataFrame: which frames may be relayed byte for byte', () => {
  const cases: Array<[string, boolean]> = [
    ['{"type":"data","payload":"aGVsbG8="}', true],
    ['{"type":"data","payload":""}', true],
    ['{"type":"data","payload":"é ü 😀"}', true],
    ['{"type":"data","payload":"a\\"b"}', false], // escape: needs the parser
    ['{"type":"data","payload":"a\\u0000"}', false],
    ['{"type":"data","payload":"a"b"}', false], // invalid JSON must not pass
    ['{"type":"data","payload":"a"}"}', false],
    ['{"type":"data","payload":"tab\there"}', false], // raw control character
    ['{"type":"data","payload":"a","x":1}', false],
    ['{"payload":"a","type":"data"}', false],
    ['{"type":"data", "payload":"a"}', false],
    ['{"type":"data","payload":"a"} ', false],
    ['{"type":"data","payload":{"a":"b"}}', false],
    ['{"type":"data","payload":"', false],
    ['{"type":"done"}', false],
  ];
  it.each(cases)('%s → %s', (frame, expected) => {
    expect(isPlainDataFrame(Buffer.from(frame))).toBe(expected);
    // Whatever the fast path accepts, the full JSON parser accepts too.
    if (expected) expect(JSON.parse(frame)).toMatchObject({ type: 'data' });
  });
});
