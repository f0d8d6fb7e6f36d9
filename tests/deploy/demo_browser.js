// Drives headless Chromium (Debian's, through playwright-core) against the wampd demo page:
// waits until the page is connected and subscribed, sees the router's clock tick, publishes a
// notification over HTTP as a backend would, waits for the page to show it, then cuts the page's
// WebSocket (through playwright's WebSocket routing), publishes while the page is away and waits
// for the page to show that one too once it has reconnected and recovered, and saves a
// screenshot. Prints one JSON line with what the page showed; exits non-zero on any failure,
// including page errors and Content-Security-Policy violations.
//
// usage: node demo_browser.js PAGE_URL PUBLISH_URL SCREENSHOT_PATH CHROMIUM_PATH
'use strict';
const { chromium } = require('playwright-core');

const [pageUrl, publishUrl, screenshot, executablePath] = process.argv.slice(2);
const MESSAGE = 'Deploy finished <img src=x onerror="document.title=\'pwned\'">';
const MISSED = 'published while the page was away';

(async () => {
  const problems = [];
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // running as root in a container; the certificate is self-signed for the test
    args: ['--no-sandbox', '--ignore-certificate-errors'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    // Every WebSocket of the page goes through playwright, so the test can cut it.
    const sockets = [];
    await page.routeWebSocket(/\/ws$/, (ws) => {
      const server = ws.connectToServer();
      sockets.push({ ws, server });
    });
    page.on('pageerror', (err) => problems.push('page error: ' + err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push('console error: ' + msg.text());
    });
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 20000 });
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 20000 });
    const firstTick = await page.waitForFunction(
      () => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(document.getElementById('time').textContent),
      null,
      { timeout: 10000 },
    );
    await firstTick.dispose();
    const time1 = await page.textContent('#time');
    await page.waitForFunction((t) => document.getElementById('time').textContent !== t, time1, {
      timeout: 5000,
    });
    const time2 = await page.textContent('#time');

    const publish = (text) => fetch(publishUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ topic: 'wampd.demo.notifications', args: [text] }),
    });
    const published = await publish(MESSAGE);
    const publishStatus = published.status;
    await page.waitForSelector('#notifications li', { timeout: 10000 });
    const notification = await page.textContent('#notifications li');

    // The connection drops; a notification is published while the page is away.
    for (const { ws, server } of sockets.splice(0)) {
      await ws.close();
      await server.close();
    }
    await page.waitForSelector('#status[data-state="closed"]', { timeout: 10000 });
    const missedStatus = (await publish(MISSED)).status;
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 20000 });
    await page.waitForFunction(
      (text) => document.getElementById('notifications').textContent.includes(text),
      MISSED,
      { timeout: 10000 },
    );
    const recovered = await page.textContent('#notifications li');
    const shown = await page.$$eval('#notifications li', (els) => els.length);
    const resumedStatus = await page.textContent('#status');
    const images = await page.$$eval('#notifications img', (els) => els.length);
    const title = await page.title();
    const status = await page.textContent('#status');
    const wsUrl = await page.evaluate(() => {
      const text = document.getElementById('status').textContent;
      const m = text.match(/connected to (\S+?),/);
      return m ? m[1] : '';
    });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({
      status, wsUrl, time1, time2, publishStatus, notification, images, title, problems,
      missedStatus, recovered, shown, resumedStatus,
    }));
    await browser.close();
    process.exit(problems.length ? 1 : 0);
  } catch (err) {
    console.log(JSON.stringify({ error: String(err && err.stack || err), problems }));
    await browser.close();
    process.exit(1);
  }
})();
