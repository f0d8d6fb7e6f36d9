// A socket.io-client (the package named by argv[3]: sio4 = current 4.x, sio3 = 3.0.4 as ws-emit's
// pages load it) connecting to argv[2] over the WebSocket transport: the main namespace, joining
// room "news", and namespace /ws as Burp-UI does. Prints one line per thing that happens, as JSON.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { io } = require(process.argv[3]);
const url = process.argv[2];
const say = (what) => process.stdout.write(JSON.stringify(what) + "\n");
// Binary arguments (a Buffer over WebSocket, a Buffer or ArrayBuffer from polling's base64)
// printed as {"bin": [bytes]}, so the test sees that they arrived as binary, not as strings.
const plain = (v) => {
  if (v instanceof ArrayBuffer) return { bin: [...new Uint8Array(v)] };
  if (ArrayBuffer.isView(v)) return { bin: [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)] };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

// A browser always sends Origin; without one, a local client counts as a backend program.
// SIO_TRANSPORTS: "websocket" (the default here), "polling", or "polling,websocket" (the
// client's own default: polling first, then the upgrade).
const transports = (process.env.SIO_TRANSPORTS || "websocket").split(",");
const opts = {
  transports,
  reconnection: false,
  timeout: 5000,
  extraHeaders: { origin: "http://localhost" },
};
const main = io(url, opts);
const ws = io(url + "/ws", opts);
let ready = 0;
const isReady = () => {
  ready += 1;
  if (ready === 2) say({ ready: true, sid: main.id, transport: main.io.engine.transport.name });
};
main.on("connect", () => {
  main.emit("join", { room: "news" }, (answer) => {
    say({ joined: "news", answer: answer ?? null });
    main.emit("leave", { room: "gone" });
    isReady();
  });
});
main.on("update", (...args) => say({ ns: "/", event: "update", args: plain(args) }));
ws.on("connect", isReady);
ws.on("backup_running", (...args) => say({ ns: "/ws", event: "backup_running", args }));
for (const s of [main, ws]) {
  s.on("connect_error", (err) => say({ connect_error: String(err && err.message) }));
  s.on("disconnect", (reason) => say({ disconnect: reason }));
}
// One command per line; a chunk of stdin may hold several.
const readline = await import("node:readline");
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = line.trim();
  if (cmd === "chat") {
    main.emit("chat", "hello", { from: "node" }, (answer) => say({ chat_ack: answer ?? null }));
  } else if (cmd.startsWith("join:")) {
    const [, room, secret] = cmd.split(":|:");
    main.emit("join", { room, secret }, (answer) => say({ joined: room, secret, answer: answer ?? null }));
  } else if (cmd === "transport") {
    say({ transport: main.io.engine.transport.name });
  } else if (cmd === "exit") {
    main.close();
    ws.close();
    process.exit(0);
  }
});
