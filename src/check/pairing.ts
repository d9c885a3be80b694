import { randomBytes, randomInt } from 'node:crypto';
import type { Opened, Peer } from './peer.js';
import type { StepResult } from './report.js';

const ms = (t0: number): number => Math.round(performance.now() - t0);
/** A fresh random 6-digit code: one per pairing, never a guess at someone else's. */
const randomCode = (): string => String(randomInt(0, 1_000_000)).padStart(6, '0');

class Stop extends Error {}

async function expect(peer: Peer, type: string, timeoutMs: number, who: string): Promise<void> {
  let msg;
  try {
    msg = await peer.next(timeoutMs);
  } catch (err) {
    throw new Stop(`${who} waited for ${type}: ${(err as Error).message}`);
  }
  if (msg['type'] !== type) {
    throw new Stop(`${who} expected ${type}, got ${JSON.stringify(msg)}`);
  }
}

/** Sends a payload one way and waits for it on the other side; the round's time. */
async function dataOneWay(from: Peer, to: Peer, timeoutMs: number, label: string): Promise<number> {
  const payload = randomBytes(12).toString('base64url');
  const t0 = performance.now();
  from.send({ type: 'data', payload });
  let msg;
  try {
    msg = await to.next(timeoutMs);
  } catch (err) {
    throw new Stop(`data ${label}: ${(err as Error).message}`);
  }
  if (msg['type'] !== 'data' || msg['payload'] !== payload) {
    throw new Stop(`data ${label}: got ${JSON.stringify(msg)}`);
  }
  return ms(t0);
}

export interface PairingOptions {
  holdS: number;
  timeoutMs: number;
  /** Opens the controller's connection (the target's is the upgrade probe's). */
  openController(): Promise<Opened>;
}

/**
 * A whole pairing through the relay, as two devices would do it: listen,
 * connect, data both ways, then (with --hold) a quiet paired session held
 * for N seconds, and done. Only the code it chose itself is ever used; a
 * taken code (a one-in-a-million chance) is retried once with a new one.
 */
export async function checkPairing(target: Peer, opts: PairingOptions): Promise<StepResult[]> {
  const { timeoutMs } = opts;
  let controller: Peer | undefined;
  const results: StepResult[] = [];
  try {
    let code = randomCode();
    const t0 = performance.now();
    target.send({ type: 'listen', otc: code });
    let ack = await target.next(timeoutMs).catch((err: Error) => {
      throw new Stop(`listen: ${err.message}`);
    });
    if (ack['type'] === 'error' && ack['code'] === 'otc_in_use') {
      code = randomCode();
      target.send({ type: 'listen', otc: code });
      ack = await target.next(timeoutMs);
    }
    if (ack['type'] !== 'ack') throw new Stop(`listen answered ${JSON.stringify(ack)}`);
    const listenMs = ms(t0);

    const opened = await opts.openController();
    if (!('peer' in opened)) {
      throw new Stop(
        `the controller's upgrade failed (${'status' in opened ? opened.status : opened.error})`,
      );
    }
    controller = opened.peer;
    const t1 = performance.now();
    controller.send({ type: 'connect', otc: code });
    await Promise.all([
      expect(target, 'peer_found', timeoutMs, 'target'),
      expect(controller, 'peer_found', timeoutMs, 'controller'),
    ]);
    const connectMs = ms(t1);
    const there = await dataOneWay(target, controller, timeoutMs, 'target -> controller');
    const back = await dataOneWay(controller, target, timeoutMs, 'controller -> target');
    const rtts = `listen ${listenMs} ms, connect ${connectMs} ms, data ${there} / ${back} ms`;

    if (opts.holdS > 0) results.push(await hold(target, controller, opts.holdS, timeoutMs));
    // The hold may have ended the session (a cut, or the relay's own TTL): no done to send.
    if (target.closedWith !== undefined || controller.closedWith !== undefined) {
      return [
        {
          step: 'pairing',
          status: 'pass',
          summary: `listen, connect, data both ways; the session ended during the hold (${rtts})`,
        },
        ...results,
      ];
    }
    controller.send({ type: 'done' });
    await expect(target, 'done', timeoutMs, 'target');
    return [
      {
        step: 'pairing',
        status: 'pass',
        summary: `listen, connect, data both ways, done (${rtts})`,
      },
      ...results,
    ];
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    return [
      {
        step: 'pairing',
        status: 'fail',
        summary: err.message,
        hint: 'the relay (or something in front of it) does not carry a pairing through: see its logs',
      },
      ...results,
      ...(opts.holdS > 0 && results.length === 0
        ? [{ step: 'hold', status: 'skip' as const, summary: 'no paired session to hold' }]
        : []),
    ];
  } finally {
    target.close();
    controller?.close();
  }
}

/**
 * Nothing sent either way for holdS seconds (the relay's own pings aside),
 * then one more data frame each way: a proxy that cuts idle WebSockets
 * shows up as a close, or as frames that no longer arrive.
 */
async function hold(
  target: Peer,
  controller: Peer,
  holdS: number,
  timeoutMs: number,
): Promise<StepResult> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<'held'>((resolve) => {
    timer = setTimeout(() => resolve('held'), holdS * 1000);
  });
  const first = await Promise.race([
    quiet,
    target.closed.then(() => 'cut' as const),
    controller.closed.then(() => 'cut' as const),
  ]);
  clearTimeout(timer);
  const heldS = ((performance.now() - t0) / 1000).toFixed(1);
  if (first === 'cut') {
    // The relay's own paired TTL says so (otc_expired) before it closes.
    const said = await target.next(0).catch(() => undefined);
    const saidToo = await controller.next(0).catch(() => undefined);
    if (said?.['code'] === 'otc_expired' || saidToo?.['code'] === 'otc_expired') {
      return {
        step: 'hold',
        status: 'pass',
        summary: `the session stayed up ${heldS} s, until the relay's own paired TTL ended it (RELAY_PAIRED_TTL_MS); nothing in between cut it`,
      };
    }
    const who = target.closedWith !== undefined ? 'target' : 'controller';
    const code = (target.closedWith ?? controller.closedWith)?.code;
    return {
      step: 'hold',
      status: 'fail',
      summary: `a quiet paired session was cut after ${heldS} s (the ${who}'s connection closed, code ${code}${code === 1006 ? ': dropped without a close frame' : ''})`,
      hint: `something in between cuts idle WebSockets before ${holdS} s: raise its idle/read timeout above a pairing's length (nginx proxy_read_timeout 3600s; AWS ALB idle timeout; Cloud Run timeoutSeconds)`,
    };
  }
  try {
    await dataOneWay(target, controller, timeoutMs, 'after the hold, target -> controller');
    await dataOneWay(controller, target, timeoutMs, 'after the hold, controller -> target');
  } catch (err) {
    return {
      step: 'hold',
      status: 'fail',
      summary: `the session looked open after ${holdS} s quiet, but ${(err as Error).message}`,
      hint: 'something in between stopped forwarding an idle WebSocket without closing it',
    };
  }
  return {
    step: 'hold',
    status: 'pass',
    summary: `a paired session stayed up ${holdS} s with nothing sent, and still carried data`,
  };
}
