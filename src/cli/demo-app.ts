/**
 * The demo's built-in local web app: a page, a JSON API and a WebSocket
 * echo, on a free loopback port. It stands in for the edge device's web UI.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** A running demo app. */
export interface DemoApp {
  /** `127.0.0.1:PORT` */
  address: string;
  close(): Promise<void>;
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>visionA device (via visiona-tunnel)</title>
<style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{background:#eee;padding:0 .3em}#log{white-space:pre;background:#f6f6f6;padding:.5rem;min-height:3rem}</style>
</head><body>
<h1>Hello from the edge device</h1>
<p>This page is served on the device's <code>127.0.0.1</code> and reached through the relay.</p>
<p>API: <a href="api/info">api/info</a></p>
<p><button id="ping">WebSocket echo</button></p>
<div id="log"></div>
<script>
const log = (t) => (document.getElementById('log').textContent += t + '\\n');
document.getElementById('ping').onclick = () => {
  const url = new URL('ws', location.href); url.protocol = url.protocol.replace('http', 'ws');
  const ws = new WebSocket(url);
  ws.onopen = () => ws.send('ping ' + new Date().toISOString());
  ws.onmessage = (e) => { log('echo: ' + e.data); ws.close(); };
  ws.onerror = () => log('websocket error');
};
</script>
</body></html>`;

/** Starts the demo app on 127.0.0.1 (port 0 picks a free one). */
export async function startDemoApp(port = 0): Promise<DemoApp> {
  const startedAt = Date.now();
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else if (path === '/api/info') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ device: 'demo', uptimeMs: Date.now() - startedAt, requests, host: req.headers.host }));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if ((req.url ?? '').split('?')[0] !== '/ws') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    address: `127.0.0.1:${bound}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
