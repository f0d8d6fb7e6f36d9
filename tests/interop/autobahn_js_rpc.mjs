// Drives wampd's dealer with AutobahnJS (npm `autobahn`, a WAMP client written by others) on Node.
//
// Usage:
//   node autobahn_js_rpc.mjs URL SERIALIZER             callee and caller in this process
//   node autobahn_js_rpc.mjs --callee URL SERIALIZER    callee only: prints READY once registered,
//                                                      serves until stdin closes
//   node autobahn_js_rpc.mjs --caller URL SERIALIZER    caller only, against a callee that registered
//                                                      the same procedures (e.g. autobahn_rpc.py)
// URL: ws://host:port/path (WebSocket) or rs://host:port (RawSocket: AutobahnJS speaks JSON only
// there). SERIALIZER: json | msgpack | cbor. Prints OK and exits 0 when every check passed, else exits 1.
//
// The packages come from WAMPD_INTEROP_NODE (default: <repo>/target/interop-node), where
// tests/common/mod.rs `autobahn_node()` installs autobahn 26, ws 8 and when 3.7.8:
// - `ws` becomes globalThis.WebSocket: AutobahnJS 26 uses the global WebSocket, which Node < 22 lacks.
// - `msgpack5` (a regular dependency of autobahn) backs MsgpackSerializer; autobahn only logs a
//   warning when it is missing, so this script checks for it. `cbor` (also a dependency) backs
//   CBORSerializer.
// - `when` (an optional dependency of autobahn) must be present: AutobahnJS reports progressive
//   results through when.js deferreds (`notify`); with ES6 promises they are lost.
//
// Procedures and checks mirror autobahn_rpc.py (same URIs, so either library can be the callee).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = process.env.WAMPD_INTEROP_NODE || path.join(here, '..', '..', 'target', 'interop-node');
const require = createRequire(path.join(nodeDir, 'package.json'));
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = require('ws');
}
const autobahn = require('autobahn');
require('when'); // fail loudly: without it progressive results silently disappear

const TIMEOUT = 10000;
const P = 'com.example.rpc.';

const check = (name) => console.log(`ok: ${name}`);
const skip = (name, why) => console.log(`skip: ${name}: ${why}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function within(promise, what, ms = TIMEOUT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

function serializer(name) {
  if (name === 'json') return new autobahn.serializer.JSONSerializer();
  if (name === 'cbor') {
    assert.ok(autobahn.serializer.CBORSerializer, 'CBORSerializer unavailable: is cbor installed?');
    return new autobahn.serializer.CBORSerializer();
  }
  assert.equal(name, 'msgpack', `unknown serializer ${name}`);
  assert.ok(autobahn.serializer.MsgpackSerializer, 'MsgpackSerializer unavailable: is msgpack5 installed?');
  return new autobahn.serializer.MsgpackSerializer();
}

function open(url, serializerName) {
  const parsed = new URL(url);
  const common = { realm: 'realm1', max_retries: 0, retry_if_unreachable: false };
  const options = parsed.protocol === 'rs:'
    ? { ...common, transports: [{ type: 'rawsocket', host: parsed.hostname, port: Number(parsed.port) }] }
    : { ...common, url, serializers: [serializer(serializerName)] };
  if (parsed.protocol === 'rs:') assert.equal(serializerName, 'json', 'AutobahnJS RawSocket is JSON only');
  return within(new Promise((resolve, reject) => {
    const connection = new autobahn.Connection(options);
    let joined = false;
    connection.onopen = (session) => { joined = true; resolve({ connection, session }); };
    connection.onclose = (reason, details) => {
      if (!joined) reject(new Error(`connection closed before joining: ${reason} ${JSON.stringify(details)}`));
      return true; // no reconnect
    };
    connection.open();
  }), `joining over ${url}`);
}

const sameId = (a, b) => a !== null && a !== undefined && String(a) === String(b);

async function registerCallee(session) {
  const started = [];
  const reg = (name, fn, options) => within(session.register(P + name, fn, options), `register ${name}`);
  await reg('add', (args) => args[0] + args[1]);
  await reg('echo', (args, kwargs) => new autobahn.Result(args, kwargs));
  await reg('progress', async (args, kwargs, details) => {
    for (let i = 1; i <= args[0]; i++) {
      if (details.progress) details.progress([i]);
      await sleep(10);
    }
    return 'done';
  });
  // AutobahnJS has no INTERRUPT handler (its callee role announces no call_canceling), so this
  // procedure can only record that it started.
  await reg('slow', (args) => {
    started.push(args[0]);
    return sleep((args[1] ?? 30) * 1000).then(() => 'late');
  });
  await reg('oops', () => {
    throw new autobahn.Error('com.example.error.oops', ['something went wrong'], { code: 42 });
  });
  const whoami = (args, kwargs, details) => ({
    caller: details.caller ?? null,
    caller_authrole: details.caller_authrole ?? null,
  });
  await reg('whoami', whoami);
  await reg('whoami_disclosed', whoami, { disclose_caller: true });
  await reg('pattern.', (args, kwargs, details) => details.procedure, { match: 'prefix' });
  await reg('state', () => ({ started, interrupted: [] }));
  await reg('capabilities', () => ({ library: 'autobahn-js', interrupt: false, disclose_caller: true }));
}

async function expectError(promise, uri, what) {
  let result;
  try {
    result = await within(promise, what);
  } catch (err) {
    assert.equal(err.error, uri, `${what}: expected ${uri}, got ${err.error ?? err}`);
    return err;
  }
  assert.fail(`${what}: expected ${uri}, got the result ${JSON.stringify(result)}`);
}

async function waitForState(session, key, tag) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const state = await within(session.call(P + 'state'), 'state');
    if (state[key].includes(tag)) return;
    assert.ok(Date.now() < deadline, `${tag} never appeared in the callee's ${key}: ${JSON.stringify(state)}`);
    await sleep(20);
  }
}

async function runCaller(session, vanisher) {
  const call = (name, args, kwargs, options) => within(session.call(P + name, args, kwargs, options), name);
  const caps = await call('capabilities');
  console.log(`callee: ${JSON.stringify(caps)}`);

  assert.equal(await call('add', [2, 3]), 5);
  check('result');

  const args = ['x', 1.5, -7, [1, { a: null }], true];
  const kwargs = { name: 'wampd', nested: { list: [1, 2], unicode: '\u00fcn\u00ef \u2713' } };
  const echoed = await call('echo', args, kwargs);
  assert.ok(echoed instanceof autobahn.Result, `expected a Result, got ${JSON.stringify(echoed)}`);
  assert.deepEqual([echoed.args, echoed.kwargs], [args, kwargs]);
  check('args/kwargs round trip');

  // AutobahnJS's own serialization tests (test_serialization_{json,msgpack,cbor}): these values
  // come back as they went, and (binary serializers) a 16,350-byte binary payload inside a list
  // of dicts, the size of autobahn-js issue 565.
  const single = (result) => (result instanceof autobahn.Result ? result.args[0] : result);
  for (const value of [1.7, 'hello', [1, 2, -3], { a: 5, b: 'hello2' },
    [-9007199254740991, 9007199254740991], null]) {
    assert.deepEqual(single(await call('echo', [value])), value);
  }
  const wire = session._socket.serializer.SERIALIZER_ID;
  if (wire !== 'json') {
    const data = new Uint8Array(16350).map((_, i) => (i * 7919) % 256);
    const back = single(await call('echo', [[{ data1: data, city: 'x' }]]));
    assert.equal(back.length, 1);
    assert.equal(back[0].city, 'x');
    assert.ok(Buffer.from(back[0].data1).equals(Buffer.from(data)), 'binary payload changed');
  }
  check(`serialization round trip (${wire})`);

  const oops = await expectError(session.call(P + 'oops'), 'com.example.error.oops', 'oops');
  assert.deepEqual([oops.args, oops.kwargs], [['something went wrong'], { code: 42 }]);
  check('ApplicationError propagated');

  const progress = [];
  const final = await within(
    session.call(P + 'progress', [3], {}, { receive_progress: true }).then(
      (result) => result, undefined, (update) => progress.push(update)),
    'progress');
  assert.deepEqual([progress, final], [[1, 2, 3], 'done']);
  check('progressive call results (receive_progress)');

  assert.equal(await call('pattern.x.y'), P + 'pattern.x.y');
  check('pattern-based registration');

  await expectError(session.call(P + 'nope'), 'wamp.error.no_such_procedure', 'nope');
  check('no_such_procedure');

  let who = await call('whoami');
  assert.deepEqual(who, { caller: null, caller_authrole: null });
  check('caller not disclosed by default');
  who = await call('whoami', [], {}, { disclose_me: true });
  assert.ok(sameId(who.caller, session.id), `disclose_me: ${JSON.stringify(who)} vs ${session.id}`);
  // Node sends no Origin: a loopback program gets the backend role, not a browser's.
  assert.equal(who.caller_authrole, 'backend');
  check('caller disclosed by CALL.Options.disclose_me');
  if (caps.disclose_caller) {
    who = await call('whoami_disclosed');
    assert.ok(sameId(who.caller, session.id), `disclose_caller: ${JSON.stringify(who)}`);
    check('caller disclosed by REGISTER.Options.disclose_caller');
  } else {
    skip('REGISTER.Options.disclose_caller', "the callee's library cannot register with it");
  }

  if (caps.interrupt) {
    const t0 = Date.now();
    await expectError(session.call(P + 'slow', ['timeout-1'], {}, { timeout: 200 }),
      'wamp.error.timeout', 'timeout');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed > 150 && elapsed < 3000, `the timeout fired after ${elapsed} ms`);
    await waitForState(session, 'interrupted', 'timeout-1');
    check('call timeout (caller gets wamp.error.timeout, callee is interrupted)');

    // Only mode "kill" works with AutobahnJS: for any other mode (and for cancel() without
    // options) it rejects the call locally and forgets the request, then treats the dealer's
    // ERROR for it as a protocol violation and closes its transport.
    const pending = session.call(P + 'slow', ['cancel-1']);
    await waitForState(session, 'started', 'cancel-1');
    pending.cancel({ mode: 'kill' });
    await expectError(pending, 'wamp.error.canceled', 'cancel');
    await waitForState(session, 'interrupted', 'cancel-1');
    check('call canceling, mode kill (caller gets wamp.error.canceled, callee is interrupted)');
  } else {
    // AutobahnJS as callee has no INTERRUPT handler (it announces no callee call_canceling) and
    // fails its transport when one arrives; see docs/protocol.md for wampd's behaviour here.
    skip('call timeout and canceling', "the callee's library does not handle INTERRUPT");
  }

  if (vanisher) {
    let release;
    const hung = new Promise((resolve) => { release = resolve; });
    let startedVanish;
    const vanishStarted = new Promise((resolve) => { startedVanish = resolve; });
    await within(vanisher.session.register(P + 'vanish', () => { startedVanish(); return hung; }), 'register vanish');
    const pending = session.call(P + 'vanish');
    await within(vanishStarted, 'vanish invoked');
    vanisher.connection._transport.close(1000); // drop the transport without GOODBYE
    await expectError(pending, 'wamp.error.canceled', 'vanish');
    release('late');
    check('a callee that disconnects fails its pending call with wamp.error.canceled');
  }

  assert.equal(await call('add', [40, 2]), 42);
  check('still serving');
}

async function main() {
  const argv = process.argv.slice(2);
  const mode = argv[0].startsWith('--') ? argv.shift() : '--both';
  const [url, ser] = argv;
  if (mode === '--callee') {
    const callee = await open(url, ser);
    await registerCallee(callee.session);
    console.log('READY');
    await new Promise((resolve) => { process.stdin.on('end', resolve); process.stdin.resume(); });
    callee.connection.close();
    return;
  }
  let callee = null;
  let vanisher = null;
  if (mode === '--both') {
    callee = await open(url, ser);
    await registerCallee(callee.session);
    vanisher = await open(url, ser);
  }
  const caller = await open(url, ser);
  await runCaller(caller.session, vanisher);
  caller.connection.close();
  if (callee) callee.connection.close();
  await sleep(100);
  console.log('OK');
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
