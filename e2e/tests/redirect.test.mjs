// Open redirects, in a real browser (security review, finding 5). Browsers drop a tab or a line end in a
// URL, so `/%09/evil.example/` became `//evil.example/` — another host — after a language switch or a
// login. The failure this pins: Chromium leaving the application's origin by either door.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_EMAIL, ADMIN_PASSWORD, launchBrowser, logIn, withPage, startServer } from '../harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const OFF_SITE = ['/%09/evil.example/', '/%0A/evil.example/', '//evil.example/', '/%5Cevil.example/'];

test('the language switch never takes the browser to another host', async () => {
  await withPage(browser, {}, 'redirect-lang', async (page) => {
    const origin = new URL(server.url).origin;
    for (const back of OFF_SITE) {
      // A request for another host would fail (the machine has no such host); it must not be made.
      const elsewhere = [];
      page.on('request', (request) => {
        if (new URL(request.url()).origin !== origin) elsewhere.push(request.url());
      });
      const answer = await page.goto(`${server.url}/lang/en?back=${back}`);
      assert.equal(new URL(page.url()).origin, origin, back);
      assert.ok(answer && answer.status() < 500, `${back}: ${answer?.status()}`);
      assert.deepEqual(elsewhere, [], back);
    }
  });
});

test('a login goes on only to a page of this site', async () => {
  await withPage(browser, {}, 'redirect-login', async (page) => {
    const origin = new URL(server.url).origin;
    for (const next of OFF_SITE) {
      await logIn(page, server.url, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, next });
      assert.equal(new URL(page.url()).origin, origin, next);
      await page.context().clearCookies();
    }
  });
});
