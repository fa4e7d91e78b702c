// Anti-framing and the content-security policy, in a real browser. The failures this pins: a page on
// another port of the same host (the same *site*, so the SameSite=Strict session cookie goes along)
// frames a logged-in person's pages, and a policy that blocks the application's own pages or script.
// (The explorer's in-browser proof check under the policy is clinic.test.mjs's last scenario.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ACTION_MS, ADMIN_EMAIL, ADMIN_PASSWORD, launchBrowser, logIn, withPage, startServer } from '../harness.mjs';

let server;
let browser;
let framer;
let framerUrl;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // The hostile page: another port of 127.0.0.1, framing the app's administrators page.
  framer = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>framer</title><iframe id="victim" src="${server.url}/admins" width="900" height="600"></iframe>`);
  });
  await new Promise((resolve) => framer.listen(0, '127.0.0.1', resolve));
  framerUrl = `http://127.0.0.1:${framer.address().port}/`;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((resolve) => (framer ? framer.close(resolve) : resolve()));
});

/** Collects the page's console messages about the content-security policy. */
function policyMessages(page) {
  const messages = [];
  page.on('console', (message) => {
    if (/Content Security Policy|frame-ancestors|Refused to/i.test(message.text())) messages.push(message.text());
  });
  return messages;
}

test('a page of another origin cannot frame the application, even for a logged-in person', async () => {
  await withPage(browser, {}, 'framing', async (page) => {
    await logIn(page, server.url, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    const refused = page.waitForEvent('console', {
      predicate: (message) => /frame-ancestors/.test(message.text()),
      timeout: ACTION_MS,
    });
    await page.goto(framerUrl);
    const message = await refused;
    assert.match(message.text(), /frame-ancestors 'none'/);
    // The frame holds no page of ours: not the administrators list, not even the login form.
    const frame = await (await page.waitForSelector('#victim')).contentFrame();
    const framed = await frame.evaluate(() => document.body?.innerText ?? '').catch(() => '');
    assert.doesNotMatch(framed, /medledger|admin@medledger\.local/i);
  });
});

test('the policy blocks nothing on the application\'s own pages', async () => {
  await withPage(browser, {}, 'policy', async (page) => {
    const messages = policyMessages(page);
    await page.goto(`${server.url}/login`);
    await logIn(page, server.url, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    for (const path of ['/admins', '/doctors', '/explorer', '/password']) {
      const response = await page.goto(`${server.url}${path}`);
      assert.equal(response.status(), 200, path);
      assert.match(response.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/, path);
      assert.equal(response.headers()['x-frame-options'], 'DENY', path);
    }
    assert.deepEqual(messages, []);
  });
});
