const PREFIX = Buffer.from('{"type":"data","payload":"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;

/**
 * True for a text frame that is exactly `{"type":"data","payload":"..."}`
 * with nothing to unescape (what JSON.stringify makes of a base64 payload).
 * Such a frame is already the frame the peer must get, so it is forwarded
 * byte for byte: no decode, parse or re-encode on the hot path. Anything
 * else (other key order, spaces, escapes) takes the full parser.
 *
 * Measured per data frame (this check and forward, against parse and
 * re-encode; 64 B / 1 KiB / 16 KiB of payload): Node 20 0.5 / 4.1 / 59 µs
 * against 2.2 / 11.7 / 156 µs (2.7-4.2x), Bun 0.25 / 1.6 / 32 µs against
 * 0.38 / 4.1 / 51 µs (1.5-2.6x).
 */
export function isPlainDataFrame(frame: Buffer): boolean {
  const start = PREFIX.length;
  const end = frame.length - 2;
  if (end < start || frame[end] !== QUOTE || frame[end + 1] !== CLOSE_BRACE) return false;
  if (frame.compare(PREFIX, 0, start, 0, start) !== 0) return false;
  // The only quote after the prefix must be the closing one, and no escapes.
  if (frame.indexOf(QUOTE, start) !== end || frame.indexOf(BACKSLASH, start) !== -1) return false;
  // Raw control characters are not valid inside a JSON string.
  for (let i = start; i < end; i++) if ((frame[i] as number) < 0x20) return false;
  return true;
}

const PREFIX_TEXT = '{"type":"data","payload":"';

/** isPlainDataFrame() for a frame a runtime already decoded to a string (Bun). */
export function isPlainDataText(frame: string): boolean {
  const start = PREFIX_TEXT.length;
  const end = frame.length - 2;
  if (end < start || frame.charCodeAt(end) !== QUOTE || frame.charCodeAt(end + 1) !== CLOSE_BRACE)
    return false;
  if (!frame.startsWith(PREFIX_TEXT)) return false;
  if (frame.indexOf('"', start) !== end || frame.indexOf('\\', start) !== -1) return false;
  for (let i = start; i < end; i++) if (frame.charCodeAt(i) < 0x20) return false;
  return true;
}
