// Logging in and out, a wrong password, the password change, and the two languages.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, TEXT, launchBrowser, logIn, withPage, screenshot, startServer,
} from '../harness.mjs';

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

test('a wrong password shows an error and keeps the typed email', async () => {
  const t = TEXT.en;
  await withPage(browser, { locale: 'en-GB' }, 'wrong-password', async (page) => {
    await logIn(page, server.url, { email: ADMIN_EMAIL, password: 'not the password at all' });
    await page.getByRole('alert').filter({ hasText: t.wrongCredentials }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await page.getByLabel(t.email, { exact: true }).inputValue(), ADMIN_EMAIL);
    assert.equal(await page.getByLabel(t.password, { exact: true }).inputValue(), '', 'a password is never echoed');
    // Still logged out: no menu, and a protected page sends us back to the login form.
    assert.equal(await page.getByRole('navigation', { name: t.mainMenu }).count(), 0);
    await page.goto(`${server.url}/password`);
    assert.equal(new URL(page.url()).pathname, '/login');
  });
});

test('the Spanish UI shows Spanish, and switching to English shows English', async () => {
  const es = TEXT.es;
  const en = TEXT.en;
  await withPage(browser, { locale: 'es-CU' }, 'languages', async (page) => {
    await page.goto(`${server.url}/`);
    assert.equal(new URL(page.url()).pathname, '/login', 'an anonymous visitor is sent to the login page');
    assert.equal(await page.locator('html').getAttribute('lang'), 'es');
    await page.getByRole('heading', { name: es.loginTitle, exact: true }).waitFor();
    await page.getByLabel(es.email, { exact: true }).waitFor();
    await page.getByLabel(es.password, { exact: true }).waitFor();
    await page.getByRole('button', { name: es.loginSubmit, exact: true }).waitFor();
    await screenshot(page, 'login');

    // A wrong password in Spanish is told in Spanish.
    await logIn(page, server.url, { email: ADMIN_EMAIL, password: 'contraseña equivocada', lang: 'es' });
    await page.getByRole('alert').filter({ hasText: es.wrongCredentials }).waitFor();

    // Switch to English: the same page, now in English, and remembered on the next visit.
    await page.getByRole('link', { name: 'English', exact: true }).click();
    await page.getByRole('heading', { name: en.loginTitle, exact: true }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.getByLabel(en.email, { exact: true }).waitFor();
    await page.goto(`${server.url}/login`);
    await page.getByRole('button', { name: en.loginSubmit, exact: true }).waitFor();

    // Logged in, the menu is English; switching back to Spanish turns it Spanish on the same page.
    await logIn(page, server.url, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, lang: 'en' });
    assert.equal(new URL(page.url()).pathname, '/doctors');
    await page.getByRole('heading', { name: en.navDoctors, exact: true }).waitFor();
    await page.getByRole('navigation', { name: en.mainMenu })
      .getByRole('link', { name: en.navExplorer, exact: true }).waitFor();
    await page.getByRole('searchbox', { name: en.searchPeople, exact: true }).waitFor();
    await page.getByRole('link', { name: 'Español', exact: true }).click();
    await page.getByRole('heading', { name: es.navDoctors, exact: true }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/doctors');
    assert.equal(await page.locator('html').getAttribute('lang'), 'es');
    const menu = page.getByRole('navigation', { name: es.mainMenu });
    for (const name of [es.navDoctors, es.navAdmins, es.navExplorer]) {
      await menu.getByRole('link', { name, exact: true }).waitFor();
    }
    await page.getByRole('searchbox', { name: es.searchPeople, exact: true }).waitFor();
    await page.getByRole('link', { name: es.addDoctor, exact: true }).waitFor();
    await page.getByRole('link', { name: es.changePassword, exact: true }).click();
    await page.getByRole('heading', { name: es.changePassword, exact: true }).waitFor();
    await page.getByLabel(es.currentPassword, { exact: true }).waitFor();
    await page.getByRole('button', { name: es.logout, exact: true }).waitFor();
  });
});

test('a person changes their password: a wrong current password is refused, then the new one works', async () => {
  const t = TEXT.en;
  const server2 = await startServer();
  try {
    await withPage(browser, { locale: 'en-GB' }, 'password-change', async (page) => {
      await logIn(page, server2.url, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
      // The administrator lands on the doctors' list; the header's link leads to the password page.
      assert.equal(new URL(page.url()).pathname, '/doctors');
      await page.getByRole('link', { name: t.changePassword, exact: true }).click();
      await page.getByRole('heading', { name: t.changePassword, exact: true }).waitFor();

      const fresh = 'a brand new e2e password';
      await page.getByLabel(t.currentPassword, { exact: true }).fill('not my password');
      await page.getByLabel(t.newPassword, { exact: true }).fill(fresh);
      await page.getByLabel(t.confirmPassword, { exact: true }).fill(fresh);
      await page.getByRole('button', { name: t.changePassword, exact: true }).click();
      await page.getByText('The current password is wrong.', { exact: true }).waitFor(); // error.wrong_password
      assert.equal(
        await page.getByLabel(t.currentPassword, { exact: true }).getAttribute('aria-invalid'),
        'true',
      );

      await page.getByLabel(t.currentPassword, { exact: true }).fill(ADMIN_PASSWORD);
      await page.getByLabel(t.newPassword, { exact: true }).fill(fresh);
      await page.getByLabel(t.confirmPassword, { exact: true }).fill(fresh);
      await page.getByRole('button', { name: t.changePassword, exact: true }).click();
      await page.getByRole('status').filter({ hasText: t.passwordChanged }).waitFor();

      // Log out: the login page says so, and the old password no longer works while the new one does.
      await page.getByRole('button', { name: t.logout, exact: true }).click();
      await page.getByRole('status').filter({ hasText: t.loggedOut }).waitFor();
      await logIn(page, server2.url, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
      await page.getByRole('alert').filter({ hasText: t.wrongCredentials }).waitFor();
      await logIn(page, server2.url, { email: ADMIN_EMAIL, password: fresh });
      assert.equal(new URL(page.url()).pathname, '/doctors');
      await page.getByRole('button', { name: t.logout, exact: true }).waitFor();
    });
  } finally {
    await server2.stop();
  }
});
