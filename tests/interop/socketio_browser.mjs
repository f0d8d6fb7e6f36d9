// Headless Chromium (Debian's, through playwright-core) as ws-emit's users run it: a page served
// from its own origin (as ws-emit's pages on :7788 talk to :8899) loads socket.io-client's browser
// build, connects with the client's default transports (polling, then the upgrade), joins a
// public room and a roomspace room with its secret, and shows the events it gets. The same page
// from an origin that is not allowed must fail to connect.
//
// usage: node socketio_browser.mjs WAMPD_URL PAGE_PORT OTHER_PORT CHROMIUM MODULES_DIR
// env: SECRET_ROOM, ROOM_SECRET. Prints JSON lines: {"page": version, ...} once a page is ready,
// {"events": [...]} when told "collect" on stdin, {"refused": version, "error": ...}; exits 1 on
// any failure.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { createRequire } from "node:module";

const [wampd, pagePort, otherPort, executablePath, modules] = process.argv.slice(2);
const require = createRequire(path.join(modules, "index.js"));
const { chromium } = require("playwright-core");
const say = (what) => process.stdout.write(JSON.stringify(what) + "\n");
const fail = (why) => {
  say({ failure: String(why) });
  process.exit(1);
};

const page = (version) => `<!doctype html><meta charset="utf-8"><title>${version}</title>
<script src="/${version}.js"></script>
<script>
  window.events = [];
  window.state = "connecting";
  const socket = io(${JSON.stringify(wampd)}, { reconnection: false });
  socket.on("connect_error", (err) => { window.state = "error: " + err.message; });
  // 3.0.4 reports a failed first poll only on the manager when reconnection is off.
  socket.io.on("error", (err) => { window.state = "error: " + err.message; });
  // Binary values (ArrayBuffers from attachments) as {"bin": [bytes]}.
  const plain = (v) =>
    v instanceof ArrayBuffer ? { bin: [...new Uint8Array(v)] }
    : Array.isArray(v) ? v.map(plain)
    : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
    : v;
  socket.on("update", (data) => window.events.push(plain(data)));
  socket.on("connect", () => {
    window.state = "joining";
    socket.emit("join", { room: "public" }, () => {
      socket.emit("join", { room: ${JSON.stringify(process.env.SECRET_ROOM)},
                            secret: ${JSON.stringify(process.env.ROOM_SECRET)} }, (answer) => {
        window.state = answer && answer.error ? "join refused" : "joined";
      });
    });
  });
  window.transport = () => socket.io.engine.transport.name;
</script>`;

const serve = (port) =>
  new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      const file = { "/sio4.js": "sio4", "/sio3.js": "sio3" }[req.url];
      if (file) {
        res.setHeader("Content-Type", "application/javascript");
        res.end(fs.readFileSync(path.join(modules, file, "dist", "socket.io.min.js")));
      } else {
        const version = new URL(req.url, "http://x").searchParams.get("v") || "sio4";
        res.setHeader("Content-Type", "text/html; charset=utf-8");
        res.end(page(version));
      }
    });
    server.listen(Number(port), "127.0.0.1", () => resolve(server));
  });

// Waits for `test` on page `p`; a timeout names what the page was doing.
const until = async (p, test, what) => {
  try {
    await p.waitForFunction(test, null, { timeout: 15000 });
  } catch (err) {
    fail(`${what}: ${err.message}; page state ${await p.evaluate(() => window.state)}`);
  }
};

const servers = [await serve(pagePort), await serve(otherPort)];
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const pages = [];
try {
  for (const version of ["sio4", "sio3"]) {
    const p = await browser.newPage();
    p.on("pageerror", (err) => fail(`${version}: page error: ${err.message}`));
    await p.goto(`http://127.0.0.1:${pagePort}/?v=${version}`);
    await until(p, () => !["connecting", "joining"].includes(window.state), `${version} joins`);
    const state = await p.evaluate(() => window.state);
    if (state !== "joined") fail(`${version}: ${state}`);
    // The client upgrades to WebSocket after its first polls.
    await until(p, () => window.transport() === "websocket", `${version} upgrades`);
    pages.push([version, p]);
    say({ page: version, transport: "websocket" });
  }
  for (const version of ["sio4", "sio3"]) {
    const p = await browser.newPage();
    await p.goto(`http://127.0.0.1:${otherPort}/?v=${version}`);
    await until(p, () => window.state !== "connecting", `${version} from another origin`);
    say({ refused: version, state: await p.evaluate(() => window.state) });
  }
} catch (err) {
  fail(err);
}

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  if (line.trim() === "collect") {
    const events = {};
    for (const [version, p] of pages) events[version] = await p.evaluate(() => window.events);
    say({ events });
  } else if (line.trim() === "exit") {
    await browser.close();
    for (const s of servers) s.close();
    process.exit(0);
  }
});
