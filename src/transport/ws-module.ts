/**
 * The `ws` package, loaded with `require()`. Importing its CommonJS files
 * from an ES module makes Node scan them for export names at start; that
 * scan is optimised by V8 and leaves about 3-4 MiB of memory behind in every
 * process (and makes the idle RSS vary by as much between runs).
 */
import { createRequire } from 'node:module';
import type * as WsNamespace from 'ws';
import type { WebSocket as WsWebSocket, WebSocketServer as WsWebSocketServer } from 'ws';

type WsModule = typeof WsNamespace;

const ws = createRequire(import.meta.url)('ws') as WsModule;

/** `ws`'s `WebSocket` class (the package's main export). */
export const WebSocket: WsModule['WebSocket'] = ws.WebSocket;
/** An instance of `ws`'s `WebSocket`. */
export type WebSocket = WsWebSocket;

/** `ws`'s `WebSocketServer` class. */
export const WebSocketServer: WsModule['WebSocketServer'] = ws.WebSocketServer;
/** An instance of `ws`'s `WebSocketServer`. */
export type WebSocketServer = WsWebSocketServer;
