// The Bun twin of baseline.mjs: the smallest Bun.serve relay that pairs and
// forwards (no validation, limits or logging per message), loading pino,
// rate-limiter-flexible and proxy-addr and logging one line at start as
// baseline.mjs does. The control the relay under Bun is divided by. Run with bun.
import pino from 'pino';
import proxyAddr from 'proxy-addr';
import { RateLimiterMemory } from 'rate-limiter-flexible';

const log = pino({ level: 'info' });
// Made as a relay would make them at start; never consulted per request.
const limiter = new RateLimiterMemory({ points: 5, duration: 60 });
const trust = proxyAddr.compile([]);
const sessions = new Map();
const server = Bun.serve({
  port: Number(process.env.PORT ?? 3003),
  hostname: process.env.HOST ?? '127.0.0.1',
  fetch(req, srv) {
    if (srv.upgrade(req, { data: { otc: null } })) return undefined;
    return new Response(JSON.stringify({ status: 'ok', sessions: sessions.size }), {
      headers: { 'content-type': 'application/json' },
    });
  },
  websocket: {
    message(ws, raw) {
      let msg;
      try {
        msg = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
      } catch {
        return;
      }
      if (msg.type === 'listen') {
        sessions.set(msg.otc, { target: ws, controller: null });
        ws.data.otc = msg.otc;
        ws.send('{"type":"ack","message":"session_open"}');
      } else if (msg.type === 'connect') {
        const s = sessions.get(msg.otc);
        if (!s) return ws.send('{"type":"error","code":"otc_not_found"}');
        s.controller = ws;
        ws.data.otc = msg.otc;
        s.target.send('{"type":"peer_found"}');
        ws.send('{"type":"peer_found"}');
      } else if (msg.type === 'data' || msg.type === 'done') {
        const s = sessions.get(ws.data.otc);
        const peer = s && (s.target === ws ? s.controller : s.target);
        if (peer) peer.send(JSON.stringify(msg));
        if (msg.type === 'done') sessions.delete(ws.data.otc);
      }
    },
    close(ws) {
      const s = sessions.get(ws.data.otc);
      if (!s) return;
      sessions.delete(ws.data.otc);
      const peer = s.target === ws ? s.controller : s.target;
      if (peer) peer.send('{"type":"error","code":"peer_disconnected"}');
    },
  },
});
log.info(
  { url: `ws://127.0.0.1:${server.port}/ws`, limiter: limiter.points, trust: typeof trust },
  'listening',
);
process.on('SIGTERM', () => process.exit(0));
