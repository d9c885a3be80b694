// The smallest Node.js + ws relay that pairs and forwards: no validation, no
// limits, no logging per message. It loads the design's runtime libraries the
// ordinary way (pino, rate-limiter-flexible, proxy-addr), makes one pino
// logger and logs one line at start, and calls none of them per upgrade or
// message: the floor for any relay built on them, so the ratios measure the
// relay's own work. The control every Node figure is divided by.
import { createServer } from 'node:http';
import pino from 'pino';
import proxyAddr from 'proxy-addr';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { WebSocketServer } from 'ws';

const log = pino({ level: 'info' });
// Made as a relay would make them at start; never consulted per request.
const limiter = new RateLimiterMemory({ points: 5, duration: 60 });
const trust = proxyAddr.compile([]);

const sessions = new Map();
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: 'ok', sessions: sessions.size }));
});
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (raw) => {
      let msg;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (msg.type === 'listen') {
        sessions.set(msg.otc, { target: ws, controller: null });
        ws.otc = msg.otc;
        ws.send('{"type":"ack","message":"session_open"}');
      } else if (msg.type === 'connect') {
        const s = sessions.get(msg.otc);
        if (!s) return ws.send('{"type":"error","code":"otc_not_found"}');
        s.controller = ws;
        ws.otc = msg.otc;
        s.target.send('{"type":"peer_found"}');
        ws.send('{"type":"peer_found"}');
      } else if (msg.type === 'data' || msg.type === 'done') {
        const s = sessions.get(ws.otc);
        const peer = s && (s.target === ws ? s.controller : s.target);
        if (peer) peer.send(JSON.stringify(msg));
        if (msg.type === 'done') sessions.delete(ws.otc);
      }
    });
    ws.on('close', () => {
      const s = sessions.get(ws.otc);
      if (!s) return;
      sessions.delete(ws.otc);
      const peer = s.target === ws ? s.controller : s.target;
      if (peer) peer.send('{"type":"error","code":"peer_disconnected"}');
    });
  });
});
server.listen(Number(process.env.PORT ?? 3002), process.env.HOST ?? '127.0.0.1', () => {
  const { port } = server.address();
  log.info(
    { url: `ws://127.0.0.1:${port}/ws`, limiter: limiter.points, trust: typeof trust },
    'listening',
  );
});
process.on('SIGTERM', () => process.exit(0));
