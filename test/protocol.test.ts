import { afterEach, describe, expect, it } from 'vitest';
import { transport } from './helpers/transports.js';
import {
  cleanup,
  expectNothingPending,
  listenOn,
  pair,
  startRelay,
  wsConnect,
  settles,
} from './helpers/relay.js';
import { maskedFrame, rawConnect } from './helpers/raw-ws.js';

afterEach(cleanup);

describe('pairing', () => {
  it('listen → ack, connect → peer_found on both, data both ways, done', async () => {
    const { url, relay } = await startRelay();
    const target = await listenOn(url, '482916');
    await settles(() => relay.sessions, 1);

    const controller = await wsConnect(url);
    controller.send({ type: 'connect', otc: '482916' });
    expect(await controller.next()).toEqual({ type: 'peer_found' });
    expect(await target.next()).toEqual({ type: 'peer_found' });

    target.send({ type: 'data', payload: 'ephemeral-key-A' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'ephemeral-key-A' });
    controller.send({ type: 'data', payload: 'ephemeral-key-B' });
    expect(await target.next()).toEqual({ type: 'data', payload: 'ephemeral-key-B' });

    controller.send({ type: 'done' });
    expect(await target.next()).toEqual({ type: 'done' });
    await settles(() => relay.sessions, 0);
    // The sender of done gets nothing back.
    await expectNothingPending(controller);
  });

  it('forwards the payload unchanged and only the whitelisted fields', async () => {
    const { url } = await startRelay();
    const { target, controller } = await pair(url);
    const payload = 'é"\\\n\u2028 {"type":"peer_found"} ' + 'x'.repeat(1000);
    target.send({ type: 'data', payload, otc: '999999', extra: { a: 1 } });
    expect(await controller.next()).toEqual({ type: 'data', payload });
  });

  it('accepts JSON in binary frames too', async () => {
    const { url } = await startRelay();
    const target = await wsConnect(url);
    target.ws.send(Buffer.from(JSON.stringify({ type: 'listen', otc: '111111' })), {
      binary: true,
    });
    expect(await target.next()).toEqual({ type: 'ack', message: 'session_open' });
  });

  it('never sends a paired socket anything between peer_found and the peer data', async () => {
    const { url } = await startRelay();
    const { target, controller } = await pair(url);
    // The amesh CLI reads the message after peer_found as the peer key, unchecked.
    target.send({ type: 'data', payload: 'key' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'key' });
  });

  it('otc_in_use for a second listen on a live code, and for a socket that already holds a session', async () => {
    const { url } = await startRelay();
    const target = await listenOn(url, '222222');
    const other = await wsConnect(url);
    other.send({ type: 'listen', otc: '222222' });
    expect(await other.next()).toEqual({ type: 'error', code: 'otc_in_use' });
    target.send({ type: 'listen', otc: '333333' });
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_in_use' });
    target.send({ type: 'connect', otc: '222222' });
    expect(await target.next()).toEqual({ type: 'error', code: 'otc_in_use' });
  });

  it('otc_not_found for an unknown code, peer_already_connected for a second controller', async () => {
    const { url } = await startRelay();
    const lost = await wsConnect(url);
    lost.send({ type: 'connect', otc: '404404' });
    expect(await lost.next()).toEqual({ type: 'error', code: 'otc_not_found' });
    await pair(url, '555555');
    const third = await wsConnect(url);
    third.send({ type: 'connect', otc: '555555' });
    expect(await third.next()).toEqual({ type: 'error', code: 'peer_already_connected' });
  });

  it('peer_disconnected when the other side closes, and the session is forgotten', async () => {
    const { url, relay } = await startRelay();
    const { target, controller } = await pair(url);
    target.close();
    expect(await controller.next()).toEqual({ type: 'error', code: 'peer_disconnected' });
    await settles(() => relay.sessions, 0);
  });

  it('target leaving before a controller frees the code', async () => {
    const { url, relay } = await startRelay();
    const target = await listenOn(url, '777777');
    target.close();
    await target.closed;
    const again = await wsConnect(url);
    // The close is processed before the next listen on the same code.
    for (;;) {
      again.send({ type: 'listen', otc: '777777' });
      const reply = await again.next();
      if (reply['type'] === 'ack') break;
      expect(reply).toEqual({ type: 'error', code: 'otc_in_use' });
    }
    await settles(() => relay.sessions, 1);
  });

  it('a finished socket can never inject into a later session under the same code', async () => {
    const { url } = await startRelay();
    const first = await pair(url, '424242');
    first.controller.send({ type: 'done' });
    expect(await first.target.next()).toEqual({ type: 'done' });

    // The same code is listened to again by a new target and joined by a new controller.
    const second = await pair(url, '424242');
    first.target.send({ type: 'data', payload: 'injected' });
    first.controller.send({ type: 'data', payload: 'injected' });
    second.target.send({ type: 'data', payload: 'genuine' });
    expect(await second.controller.next()).toEqual({ type: 'data', payload: 'genuine' });
    await expectNothingPending(second.target);
    await expectNothingPending(second.controller);
  });

  it('frames pipelined behind a connect are handled in order', async () => {
    const { url } = await startRelay();
    const target = await listenOn(url, '343434');
    const controller = await wsConnect(url);
    controller.send({ type: 'connect', otc: '343434' });
    for (let i = 0; i < 5; i++) controller.send({ type: 'data', payload: `m${i}` });
    expect(await target.next()).toEqual({ type: 'peer_found' });
    for (let i = 0; i < 5; i++) {
      expect(await target.next()).toEqual({ type: 'data', payload: `m${i}` });
    }
  });

  it('a connect that misses may be followed at once by one that pairs, unanswered in between', async () => {
    const { url } = await startRelay();
    const target = await listenOn(url, '565600');
    const controller = await wsConnect(url);
    // Sent together: the second arrives while the first is still being answered.
    controller.send({ type: 'connect', otc: '565699' });
    controller.send({ type: 'connect', otc: '565600' });
    controller.send({ type: 'data', payload: 'right behind' });
    expect(await controller.next()).toEqual({ type: 'error', code: 'otc_not_found' });
    expect(await controller.next()).toEqual({ type: 'peer_found' });
    expect(await target.next()).toEqual({ type: 'peer_found' });
    expect(await target.next()).toEqual({ type: 'data', payload: 'right behind' });
  });

  it('a burst of frames behind a pending step is answered in full and in order', async () => {
    const { url } = await startRelay();
    const client = await rawConnect(url);
    // One TCP write holding a listen and 200 bad frames, so they all arrive
    // while the listen's rate-limit step is still pending.
    const frames = [maskedFrame('{"type":"listen","otc":"353535"}')];
    for (let i = 0; i < 200; i++) frames.push(maskedFrame(`bad ${i}`));
    client.write(Buffer.concat(frames));
    const answer = async (): Promise<unknown> => JSON.parse((await client.next()).text);
    expect(await answer()).toEqual({ type: 'ack', message: 'session_open' });
    for (let i = 0; i < 200; i++) {
      expect(await answer()).toEqual({ type: 'error', code: 'invalid_message' });
    }
    // Still open and nothing else queued: one more bad frame, one more answer.
    client.send('not json');
    expect(await answer()).toEqual({ type: 'error', code: 'invalid_message' });
  });

  it('data and done without a peer are dropped, and the socket stays usable', async () => {
    const { url } = await startRelay();
    const lone = await wsConnect(url);
    lone.send({ type: 'data', payload: 'to nobody' });
    lone.send({ type: 'done' });
    await expectNothingPending(lone);
    lone.send({ type: 'listen', otc: '616161' });
    expect(await lone.next()).toEqual({ type: 'ack', message: 'session_open' });
    lone.send({ type: 'data', payload: 'still nobody' });
    await expectNothingPending(lone);
  });

  it('done from a waiting target ends its session', async () => {
    const { url, relay } = await startRelay();
    const target = await listenOn(url, '818181');
    target.send({ type: 'done' });
    await expectNothingPending(target);
    await settles(() => relay.sessions, 0);
  });
});

describe('bad input', () => {
  const invalid: Array<[string, string]> = [
    ['not JSON', 'hello'],
    ['null', 'null'],
    ['an array', '[]'],
    ['a number', '42'],
    ['a string', '"listen"'],
    ['no type', '{"otc":"123456"}'],
    ['a numeric type', '{"type":7}'],
    ['an object payload', '{"type":"data","payload":{"a":1}}'],
    ['a missing payload', '{"type":"data"}'],
    ['init without token', '{"type":"bootstrap_init","jti":"j1","targetPubKey":"k"}'],
    ['ack with object publicKey', '{"type":"bootstrap_ack","jti":"j1","publicKey":{}}'],
  ];
  it.each(invalid)('%s → invalid_message, socket stays usable', async (_name, frame) => {
    const { url } = await startRelay();
    const client = await wsConnect(url);
    client.send(frame);
    expect(await client.next()).toEqual({ type: 'error', code: 'invalid_message' });
    client.send({ type: 'listen', otc: '123456' });
    expect(await client.next()).toEqual({ type: 'ack', message: 'session_open' });
  });

  it('an object payload inside a paired session is refused, not forwarded, not counted', async () => {
    const { url } = await startRelay({ maxSessionBytes: 64 });
    const { target, controller } = await pair(url);
    target.send({ type: 'data', payload: { big: 'x'.repeat(500) } });
    expect(await target.next()).toEqual({ type: 'error', code: 'invalid_message' });
    target.send({ type: 'data', payload: 'ok' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'ok' });
  });

  it('text that is no JSON inside a session is invalid_message, whatever it looks like', async () => {
    const { url } = await startRelay();
    const { target, controller } = await pair(url);
    // The edge's link control frames start with "~": a client's never pass for one.
    for (const frame of ['~released', '~release', '~error:going_away', '~bounce:{"type":"done"}']) {
      target.send(frame);
      expect(await target.next()).toEqual({ type: 'error', code: 'invalid_message' });
    }
    target.send({ type: 'data', payload: 'still paired' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'still paired' });
  });

  it('unknown_type', async () => {
    const { url } = await startRelay();
    const client = await wsConnect(url);
    client.send({ type: 'shell' });
    expect(await client.next()).toEqual({ type: 'error', code: 'unknown_type' });
  });

  const badCodes: unknown[] = [
    undefined,
    123456,
    '12345',
    '1234567',
    'abcdef',
    '12345a',
    '',
    ' 123456',
    null,
  ];
  it.each(badCodes.map((c) => [JSON.stringify(c) ?? 'missing', c]))(
    'otc %s → invalid_otc',
    async (_name, otc) => {
      const { url } = await startRelay();
      const client = await wsConnect(url);
      client.send({ type: 'listen', otc });
      expect(await client.next()).toEqual({ type: 'error', code: 'invalid_otc' });
      client.send({ type: 'connect', otc });
      expect(await client.next()).toEqual({ type: 'error', code: 'invalid_otc' });
    },
  );

  it('longer codes only when allowed', async () => {
    const { url } = await startRelay({ allowLongCodes: true });
    const { target, controller } = await pair(url, 'Long_Code-with-more-entropy-0123456789');
    target.send({ type: 'data', payload: 'p' });
    expect(await controller.next()).toEqual({ type: 'data', payload: 'p' });
    const client = await wsConnect(url);
    client.send({ type: 'listen', otc: 'x'.repeat(65) });
    expect(await client.next()).toEqual({ type: 'error', code: 'invalid_otc' });
    client.send({ type: 'listen', otc: 'has space' });
    expect(await client.next()).toEqual({ type: 'error', code: 'invalid_otc' });
  });
});

describe('bootstrap', () => {
  it('watch → init forwarded (whitelisted) → ack forwarded with controllerPubKey', async () => {
    const { url } = await startRelay();
    const watcher = await wsConnect(url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_1' });
    expect(await watcher.next()).toEqual({ type: 'bootstrap_watching', jti: 'bt_1' });

    const target = await wsConnect(url);
    target.send({
      type: 'bootstrap_init',
      jti: 'bt_1',
      token: 'tok',
      targetPubKey: 'tpk',
      evil: 'x',
    });
    expect(await watcher.next()).toEqual({
      type: 'bootstrap_init',
      jti: 'bt_1',
      token: 'tok',
      targetPubKey: 'tpk',
    });
    watcher.send({ type: 'bootstrap_ack', jti: 'bt_1', publicKey: 'cpk', evil: 'y' });
    expect(await target.next()).toEqual({
      type: 'bootstrap_ack',
      jti: 'bt_1',
      controllerPubKey: 'cpk',
    });
  });

  it('a watcher may reject; the target hears bootstrap_reject', async () => {
    const { url } = await startRelay();
    const watcher = await wsConnect(url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_r' });
    await watcher.next();
    const target = await wsConnect(url);
    target.send({ type: 'bootstrap_init', jti: 'bt_r', token: 't', targetPubKey: 'k' });
    await watcher.next();
    watcher.send({ type: 'bootstrap_reject', jti: 'bt_r' });
    expect(await target.next()).toEqual({ type: 'bootstrap_reject', jti: 'bt_r' });
  });

  it('a used jti is burned: replay gets token_already_used', async () => {
    const { url } = await startRelay();
    const watcher = await wsConnect(url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_2' });
    await watcher.next();
    const first = await wsConnect(url);
    first.send({ type: 'bootstrap_init', jti: 'bt_2', token: 't', targetPubKey: 'k1' });
    await watcher.next();
    const replay = await wsConnect(url);
    replay.send({ type: 'bootstrap_init', jti: 'bt_2', token: 't', targetPubKey: 'k2' });
    expect(await replay.next()).toEqual({ type: 'bootstrap_reject', error: 'token_already_used' });
    await expectNothingPending(watcher);
  });

  it('no_watcher when nobody watches', async () => {
    const { url } = await startRelay();
    const target = await wsConnect(url);
    target.send({ type: 'bootstrap_init', jti: 'bt_none', token: 't', targetPubKey: 'k' });
    expect(await target.next()).toEqual({ type: 'bootstrap_reject', error: 'no_watcher' });
  });

  it.skipIf(!transport.has('globalCaps'))(
    'relay_overloaded when the consumed-jti store is full (needs one jti store with a cap)',
    async () => {
      const { url } = await startRelay({ maxConsumedJtis: 1 });
      const watcher = await wsConnect(url);
      for (const jti of ['a1', 'a2']) {
        watcher.send({ type: 'bootstrap_watch', jti });
        await watcher.next();
      }
      const t1 = await wsConnect(url);
      t1.send({ type: 'bootstrap_init', jti: 'a1', token: 't', targetPubKey: 'k' });
      await watcher.next();
      const t2 = await wsConnect(url);
      t2.send({ type: 'bootstrap_init', jti: 'a2', token: 't', targetPubKey: 'k' });
      expect(await t2.next()).toEqual({ type: 'bootstrap_reject', error: 'relay_overloaded' });
    },
  );

  it('consumed jtis expire after their TTL', async () => {
    const { url } = await startRelay({ consumedJtiTtlMs: 50 });
    const watcher = await wsConnect(url);
    watcher.send({ type: 'bootstrap_watch', jti: 'exp' });
    await watcher.next();
    const t1 = await wsConnect(url);
    t1.send({ type: 'bootstrap_init', jti: 'exp', token: 't', targetPubKey: 'k' });
    await watcher.next();
    // Gone, so its init no longer waits: one still waiting would keep the jti's place.
    t1.close();
    await t1.closed;
    await new Promise((r) => setTimeout(r, 80));
    const t2 = await wsConnect(url);
    t2.send({ type: 'bootstrap_init', jti: 'exp', token: 't', targetPubKey: 'k' });
    expect(await watcher.next()).toMatchObject({ type: 'bootstrap_init', jti: 'exp' });
  });

  it('watcher claim protection: a second socket gets jti_already_watched; the owner may re-watch', async () => {
    const { url } = await startRelay();
    const owner = await wsConnect(url);
    owner.send({ type: 'bootstrap_watch', jti: 'bt_3' });
    await owner.next();
    const thief = await wsConnect(url);
    thief.send({ type: 'bootstrap_watch', jti: 'bt_3' });
    expect(await thief.next()).toEqual({ type: 'error', code: 'jti_already_watched' });
    owner.send({ type: 'bootstrap_watch', jti: 'bt_3' });
    expect(await owner.next()).toEqual({ type: 'bootstrap_watching', jti: 'bt_3' });
    // Only the owner may answer.
    thief.send({ type: 'bootstrap_ack', jti: 'bt_3', publicKey: 'evil' });
    expect(await thief.next()).toEqual({ type: 'error', code: 'invalid_jti' });
    owner.close();
    await owner.closed;
    for (;;) {
      thief.send({ type: 'bootstrap_watch', jti: 'bt_3' });
      const reply = await thief.next();
      if (reply['type'] === 'bootstrap_watching') break;
      expect(reply).toEqual({ type: 'error', code: 'jti_already_watched' });
    }
  });

  it('a target waiting on a watcher that leaves hears no_watcher', async () => {
    const { url } = await startRelay();
    const watcher = await wsConnect(url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_4' });
    await watcher.next();
    const target = await wsConnect(url);
    target.send({ type: 'bootstrap_init', jti: 'bt_4', token: 't', targetPubKey: 'k' });
    await watcher.next();
    watcher.close();
    expect(await target.next()).toEqual({ type: 'bootstrap_reject', error: 'no_watcher' });
  });

  it('missing_jti and invalid_jti', async () => {
    const { url } = await startRelay({ maxJtiLength: 16 });
    const client = await wsConnect(url);
    for (const type of ['bootstrap_watch', 'bootstrap_init', 'bootstrap_ack', 'bootstrap_reject']) {
      client.send({ type, token: 't', targetPubKey: 'k' });
      expect(await client.next()).toEqual({ type: 'error', code: 'missing_jti' });
      for (const jti of ['x'.repeat(17), 42, '', { a: 1 }]) {
        client.send({ type, jti, token: 't', targetPubKey: 'k' });
        expect(await client.next()).toEqual({ type: 'error', code: 'invalid_jti' });
      }
    }
    client.send({ type: 'bootstrap_ack', jti: 'not-mine' });
    expect(await client.next()).toEqual({ type: 'error', code: 'invalid_jti' });
  });

  it('a watch ends after its TTL and a waiting target is told', async () => {
    const { url } = await startRelay({ watchTtlMs: 100 });
    const watcher = await wsConnect(url);
    watcher.send({ type: 'bootstrap_watch', jti: 'bt_ttl' });
    await watcher.next();
    const target = await wsConnect(url);
    target.send({ type: 'bootstrap_init', jti: 'bt_ttl', token: 't', targetPubKey: 'k' });
    await watcher.next();
    expect(await target.next()).toEqual({ type: 'bootstrap_reject', error: 'no_watcher' });
    watcher.send({ type: 'bootstrap_ack', jti: 'bt_ttl', publicKey: 'late' });
    expect(await watcher.next()).toEqual({ type: 'error', code: 'invalid_jti' });
  });
});
