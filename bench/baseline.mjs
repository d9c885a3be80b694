// The smallest Node.js + ws relay that pairs and forwards: no validation, no
// limits, no logging. It is the practical ceiling for a Node relay, the
// control every bench figure is divided by.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

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
  console.log(JSON.stringify({ msg: 'listening', url: `ws://127.0.0.1:${port}/ws` }));
});
process.on('SIGTERM', () => process.exit(0));
