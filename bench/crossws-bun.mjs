// The Bun baseline's routing (bench/baseline-bun.mjs) on crossws's Bun adapter,
// the peer/hooks layer h3 and Nitro use: what an adapter layer of that shape costs
// per socket, for the choice of a thin adapter of our own (docs/benchmarks.md).
// Run with bun; `node bench/run.mjs --crossws` adds it as a target.
import crossws from 'crossws/adapters/bun';
const sessions = new Map();
const ws = crossws({
  hooks: {
    message(peer, message) {
      let msg;
      try {
        msg = JSON.parse(message.text());
      } catch {
        return;
      }
      const st = peer.context;
      if (msg.type === 'listen') {
        sessions.set(msg.otc, { target: peer, controller: null });
        st.otc = msg.otc;
        peer.send('{"type":"ack","message":"session_open"}');
      } else if (msg.type === 'connect') {
        const s = sessions.get(msg.otc);
        if (!s) return peer.send('{"type":"error","code":"otc_not_found"}');
        s.controller = peer;
        st.otc = msg.otc;
        s.target.send('{"type":"peer_found"}');
        peer.send('{"type":"peer_found"}');
      } else if (msg.type === 'data' || msg.type === 'done') {
        const s = sessions.get(st.otc);
        const other = s && (s.target === peer ? s.controller : s.target);
        if (other) other.send(JSON.stringify(msg));
        if (msg.type === 'done') sessions.delete(st.otc);
      }
    },
    close(peer) {
      const s = sessions.get(peer.context.otc);
      if (!s) return;
      sessions.delete(peer.context.otc);
      const other = s.target === peer ? s.controller : s.target;
      if (other) other.send('{"type":"error","code":"peer_disconnected"}');
    },
  },
});
const server = Bun.serve({
  port: Number(process.env.PORT ?? 3004),
  hostname: '127.0.0.1',
  websocket: ws.websocket,
  async fetch(req, srv) {
    if (req.headers.get('upgrade') === 'websocket') return ws.handleUpgrade(req, srv);
    return new Response(JSON.stringify({ status: 'ok', sessions: sessions.size }), {
      headers: { 'content-type': 'application/json' },
    });
  },
});
console.log(JSON.stringify({ msg: 'listening', url: `ws://127.0.0.1:${server.port}/ws` }));
process.on('SIGTERM', () => process.exit(0));
