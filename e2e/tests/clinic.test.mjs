// The clinic's story, in Spanish (the product's default language, as the thesis's panel was): the
// administrator registers a doctor; the doctor registers a patient, writes a note and a drug exposure
// from the chart, amends the note, reads its history and checks the amendment's inclusion proof in the
// explorer — the browser checks the checkpoint's signature, the signer's certificate against the
// organization's root and shows that root's fingerprint; a page changed in transit is "not verified"; an
// administrator sees the proof verified from the leaf hash, without the envelope; a doctor cannot open an
// administrator's page.
//
// The tests run in order and share one server, each picking up what the one before wrote: the doctor is
// the one the administrator registers, the note in the explorer is the one the doctor amended. If an
// earlier test did not run (a --test-name-pattern run, or a skip), `ensureDoctor` and `ensureAmendedNote`
// write the same records through the REST API, so that every test also runs on its own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, TEXT, api, apiLogin, launchBrowser, logIn, withPage, screenshot, startServer,
} from '../harness.mjs';

const LANG = 'es';
const t = TEXT[LANG];
const LOCALE = 'es-CU';

const NEW_ADMIN_PASSWORD = 'la nueva contraseña del administrador';
const DOCTOR = {
  provider_id: 10,
  given_name: 'Ana',
  family_name: 'García',
  email: 'ana.garcia@hospital.cu',
  // The administrator chooses the initial password; at her first login she replaces it with her own.
  initialPassword: 'la contraseña que eligió el administrador',
  password: 'otra contraseña bastante larga',
};
const PATIENT = { person_id: 1, given_name: 'María', family_name: 'Pérez', year_of_birth: '1980' };
const NOTE = { note_id: 100, text: 'Cefalea de tres días.', amended: 'Cefalea de tres días, sin fiebre.' };
const DRUG = { drug_exposure_id: 200, drug: 'Paracetamol 500 mg tabletas', concept: '0' };

// Field labels from crates/gateway/src/web/fields.rs (Spanish). A required field's label ends with an
// aria-hidden "*", so labels are matched from their start.
const LABEL = {
  doctorId: 'ID del médico',
  givenName: 'Primer nombre',
  familyName: 'Primer apellido',
  email: 'Correo electrónico',
  initialPassword: 'Contraseña inicial', // form.initial_password
  patientId: 'ID del paciente',
  sex: 'Sexo',
  yearOfBirth: 'Año de nacimiento',
  noteId: 'ID de la nota',
  noteDate: 'Fecha',
  noteText: 'Texto',
  drugExposureId: 'ID de la exposición a medicamento',
  drugAsPrescribed: 'Medicamento indicado',
  drugConcept: 'Concepto del medicamento',
  startDate: 'Fecha de inicio',
  endDate: 'Fecha de fin',
};

/** A form control by its label's text, ignoring the required-field marker after it. */
function field(page, label) {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return page.getByLabel(new RegExp(`^${escaped}\\s*\\*?$`));
}

/** Fills `label` unless the form already offers a value (ids may be suggested). */
async function fillIfEmpty(page, label, value) {
  const input = field(page, label);
  if ((await input.inputValue()) === '') await input.fill(String(value));
}

let server;
let browser;
let adminPassword = ADMIN_PASSWORD;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Whether DOCTOR logs in with her own password (she is registered and has replaced the initial one). */
async function doctorEnrolled() {
  try {
    await apiLogin(server.url, DOCTOR.email, DOCTOR.password);
    return true;
  } catch {
    return false;
  }
}

/** Makes sure DOCTOR is registered (with the initial password), through the REST API if the browser
 * test did not register her. */
async function ensureDoctorRegistered() {
  const token = await apiLogin(server.url, ADMIN_EMAIL, adminPassword);
  const found = await api(server.url, 'GET', `/doctors/${DOCTOR.provider_id}`, { token }).catch(() => null);
  if (found) return;
  await api(server.url, 'POST', '/doctors', {
    token,
    body: {
      provider_id: DOCTOR.provider_id,
      given_name: DOCTOR.given_name,
      family_name: DOCTOR.family_name,
      email: DOCTOR.email,
      password: DOCTOR.initialPassword,
    },
  });
}

/** Makes sure DOCTOR is registered and logs in with her own password, replacing the initial one through
 * the REST API if the browser test did not. */
async function ensureDoctor() {
  if (await doctorEnrolled()) return;
  await ensureDoctorRegistered();
  const token = await apiLogin(server.url, DOCTOR.email, DOCTOR.initialPassword);
  await api(server.url, 'POST', '/auth/password', {
    token,
    body: { current_password: DOCTOR.initialPassword, new_password: DOCTOR.password },
  });
}

/** Makes sure the patient, her note and its amendment exist, writing them through the REST API if not. */
async function ensureAmendedNote() {
  await ensureDoctor();
  const token = await apiLogin(server.url, DOCTOR.email, DOCTOR.password);
  const history = await api(server.url, 'GET', `/notes/${NOTE.note_id}/history`, { token }).catch(() => null);
  if (history) return;
  await api(server.url, 'POST', '/patients', {
    token,
    body: {
      person_id: PATIENT.person_id, gender_concept_id: 8532, year_of_birth: Number(PATIENT.year_of_birth),
      race_concept_id: 0, ethnicity_concept_id: 0,
      given_name: PATIENT.given_name, family_name: PATIENT.family_name,
    },
  });
  await api(server.url, 'POST', '/notes', {
    token,
    body: {
      note_id: NOTE.note_id, person_id: PATIENT.person_id, note_date: '2026-11-27', note_type_concept_id: 32817,
      note_class_concept_id: 44814637, note_text: NOTE.text, encoding_concept_id: 32678,
      language_concept_id: 4182511,
    },
  });
  await api(server.url, 'POST', `/notes/${NOTE.note_id}/amendments`, {
    token,
    body: { changes: { note_text: NOTE.amended }, reason: 'Se añade que no tiene fiebre.' },
  });
}

test(
  'the administrator logs in, changes the password, registers a doctor and logs out',
  async () => {
    await withPage(browser, { locale: LOCALE }, 'admin', async (page) => {
      await logIn(page, server.url, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, lang: LANG });
      // The administrator lands on the doctors' list.
      assert.equal(new URL(page.url()).pathname, '/doctors');
      const menu = page.getByRole('navigation', { name: t.mainMenu });
      await menu.getByRole('link', { name: t.navDoctors, exact: true }).waitFor();

      // Change the password.
      await page.getByRole('link', { name: t.changePassword, exact: true }).click();
      await page.getByLabel(t.currentPassword, { exact: true }).fill(ADMIN_PASSWORD);
      await page.getByLabel(t.newPassword, { exact: true }).fill(NEW_ADMIN_PASSWORD);
      await page.getByLabel(t.confirmPassword, { exact: true }).fill(NEW_ADMIN_PASSWORD);
      await page.getByRole('button', { name: t.changePassword, exact: true }).click();
      await page.getByRole('status').filter({ hasText: t.passwordChanged }).waitFor();
      adminPassword = NEW_ADMIN_PASSWORD;

      // Register a doctor.
      await menu.getByRole('link', { name: t.navDoctors, exact: true }).click();
      await page.getByRole('link', { name: t.addDoctor, exact: true }).click();
      await fillIfEmpty(page, LABEL.doctorId, DOCTOR.provider_id);
      await field(page, LABEL.givenName).fill(DOCTOR.given_name);
      await field(page, LABEL.familyName).fill(DOCTOR.family_name);
      await field(page, LABEL.email).fill(DOCTOR.email);
      await field(page, LABEL.initialPassword).fill(DOCTOR.initialPassword);
      await page.getByRole('button', { name: t.save, exact: true }).click();
      await page.getByText(DOCTOR.email).first().waitFor();

      // She is in the list, which can be searched by name.
      await menu.getByRole('link', { name: t.navDoctors, exact: true }).click();
      await page.getByRole('searchbox', { name: t.searchPeople, exact: true }).fill(DOCTOR.family_name);
      await page.getByRole('button', { name: t.search, exact: true }).click();
      await page.getByRole('cell', { name: DOCTOR.email }).waitFor();
      await screenshot(page, 'doctors');

      // Log out.
      await page.getByRole('button', { name: t.logout, exact: true }).click();
      await page.getByRole('status').filter({ hasText: t.loggedOut }).waitFor();
    });
  },
);

test(
  'the doctor registers a patient, adds a note and a drug exposure from the chart, amends the note ' +
    'and reads its history',
  async () => {
    await ensureDoctorRegistered();
    const enrolled = await doctorEnrolled();
    await withPage(browser, { locale: LOCALE }, 'doctor', async (page) => {
      if (!enrolled) {
        // Her first login, with the password the administrator chose, leads to the password page and
        // nowhere else until she has chosen her own.
        await logIn(page, server.url, { email: DOCTOR.email, password: DOCTOR.initialPassword, lang: LANG });
        assert.equal(new URL(page.url()).pathname, '/password');
        await page.goto(`${server.url}/patients`);
        assert.equal(new URL(page.url()).pathname, '/password');
        await page.getByLabel(t.currentPassword, { exact: true }).fill(DOCTOR.initialPassword);
        await page.getByLabel(t.newPassword, { exact: true }).fill(DOCTOR.password);
        await page.getByLabel(t.confirmPassword, { exact: true }).fill(DOCTOR.password);
        await page.getByRole('button', { name: t.changePassword, exact: true }).click();
        await page.getByRole('status').filter({ hasText: t.passwordChanged }).waitFor();
      }
      await logIn(page, server.url, { email: DOCTOR.email, password: DOCTOR.password, lang: LANG });
      // The doctor lands on the patients' list.
      assert.equal(new URL(page.url()).pathname, '/patients');

      // A new patient.
      await page.getByRole('link', { name: t.addPatient, exact: true }).click();
      await fillIfEmpty(page, LABEL.patientId, PATIENT.person_id);
      await field(page, LABEL.givenName).fill(PATIENT.given_name);
      await field(page, LABEL.familyName).fill(PATIENT.family_name);
      await field(page, LABEL.sex).selectOption({ label: 'Femenino (8532)' }); // fields.rs SEX: "label (concept id)"
      await field(page, LABEL.yearOfBirth).fill(PATIENT.year_of_birth);
      await page.getByRole('button', { name: t.save, exact: true }).click();

      // Her chart.
      await page.waitForURL(`**/patients/${PATIENT.person_id}`);
      await page.getByRole('heading', { name: t.chartNotes, exact: true }).waitFor();
      await page.getByRole('heading', { name: t.chartDrugExposures, exact: true }).waitFor();

      // A note from the chart.
      await page.getByRole('link', { name: t.addNote, exact: true }).click();
      await fillIfEmpty(page, LABEL.noteId, NOTE.note_id);
      await fillIfEmpty(page, LABEL.noteDate, '2026-11-27');
      await field(page, LABEL.noteText).fill(NOTE.text);
      await page.getByRole('button', { name: t.save, exact: true }).click();
      await page.waitForURL(`**/patients/${PATIENT.person_id}`);
      await page.getByRole('region', { name: t.chartNotes, exact: true }).getByText(NOTE.text).waitFor();

      // A drug exposure from the chart.
      await page.getByRole('link', { name: t.addDrugExposure, exact: true }).click();
      await fillIfEmpty(page, LABEL.drugExposureId, DRUG.drug_exposure_id);
      await field(page, LABEL.drugAsPrescribed).fill(DRUG.drug);
      await fillIfEmpty(page, LABEL.drugConcept, DRUG.concept);
      await field(page, LABEL.startDate).fill('2026-11-27');
      await field(page, LABEL.endDate).fill('2026-12-04');
      await page.getByRole('button', { name: t.save, exact: true }).click();
      await page.waitForURL(`**/patients/${PATIENT.person_id}`);
      await page.getByRole('region', { name: t.chartDrugExposures, exact: true }).getByText(DRUG.drug).waitFor();
      await page.getByRole('region', { name: t.chartNotes, exact: true }).getByText(NOTE.text).waitFor();
      await screenshot(page, 'chart', { fullPage: true });

      // The patients' list shows her, and finds her by surname.
      await page.getByRole('navigation', { name: t.mainMenu })
        .getByRole('link', { name: t.navPatients, exact: true }).click();
      await page.getByRole('link', { name: `${PATIENT.given_name} ${PATIENT.family_name}` }).waitFor();
      await page.getByRole('searchbox', { name: t.searchPatients, exact: true }).fill('perez');
      await page.getByRole('button', { name: t.search, exact: true }).click();
      await page.getByRole('link', { name: `${PATIENT.given_name} ${PATIENT.family_name}` }).waitFor();
      await screenshot(page, 'patients');

      // Amend the note, with a reason.
      await page.goto(`${server.url}/notes/${NOTE.note_id}`);
      await page.getByRole('link', { name: t.amend, exact: true }).click();
      await field(page, LABEL.noteText).fill(NOTE.amended);
      await field(page, t.amendmentReason).fill('Se añade que no tiene fiebre.');
      await page.getByRole('button', { name: t.amend, exact: true }).click();
      await page.getByText(NOTE.amended).first().waitFor();

      // Its history: two versions, each signed by her, with block and transaction.
      await page.getByRole('link', { name: t.history, exact: true }).click();
      await page.waitForURL(`**/notes/${NOTE.note_id}/history`);
      await page.getByText(NOTE.amended).first().waitFor();
      await page.getByText('Se añade que no tiene fiebre.').first().waitFor();
      const second = page.getByRole('region', { name: `${t.version} 2`, exact: true });
      await second.getByText('Se añade que no tiene fiebre.').waitFor();
      await second.getByText(DOCTOR.email).waitFor();
      await page.getByRole('region', { name: `${t.version} 1`, exact: true }).getByText(DOCTOR.email).waitFor();
      await screenshot(page, 'history', { fullPage: true });
    });
  },
);

test(
  "the doctor opens the amendment's transaction in the explorer and sees its inclusion proof verified",
  async () => {
    await ensureAmendedNote();
    await withPage(browser, { locale: LOCALE }, 'explorer', async (page) => {
      await logIn(page, server.url, { email: DOCTOR.email, password: DOCTOR.password, lang: LANG });
      await page.goto(`${server.url}/notes/${NOTE.note_id}/history`);
      const second = page.getByRole('region', { name: `${t.version} 2`, exact: true });
      // The transaction's page, and its inclusion proof checked against the checkpoint in the browser.
      await second.getByTitle(t.viewInExplorer, { exact: true }).click();
      await page.waitForURL('**/explorer/tx/*');
      // The transaction is valid, and was signed by the doctor.
      await page.getByText(DOCTOR.email).first().waitFor();
      // app.js checks the proof with WebCrypto and writes the outcome into #proof-status (role=status).
      const proof = page.getByRole('region', { name: t.inclusionProof, exact: true });
      const status = proof.getByRole('status');
      assert.equal(await status.getAttribute('id'), 'proof-status');
      await status.filter({ hasText: new RegExp(`^\\s*${t.verified}\\s*$`) }).waitFor();
      assert.equal((await status.textContent()).trim(), t.verified);
      assert.equal(await status.getAttribute('data-verified'), 'true');
      // What was checked, computed by the browser: the fingerprint of the organization root certificate
      // that signed the checkpoint signer's certificate (the one GET /ledger/roots serves, as openssl
      // prints fingerprints), the root hash inside the signed checkpoint (the one the page shows) and the
      // signer, a peer.
      const checked = page.locator('#proof-checked');
      await checked.waitFor({ state: 'visible' });
      const token = await apiLogin(server.url, DOCTOR.email, DOCTOR.password);
      const roots = await api(server.url, 'GET', '/ledger/roots', { token });
      assert.equal(roots.organizations.length, 1);
      assert.equal(
        (await page.locator('#root-fingerprint').textContent()).trim(),
        opensslFingerprint(roots.organizations[0].fingerprint),
      );
      assert.equal(
        (await page.locator('#signed-root').textContent()).trim(),
        (await page.locator('#proof-root').textContent()).trim(),
      );
      assert.match(await page.locator('#checkpoint-signer').textContent(), / · peer · /);
      await screenshot(page, 'explorer-transaction', { fullPage: true });
    });
  },
);

/** A hex SHA-256 as `openssl x509 -noout -fingerprint -sha256` prints it. */
function opensslFingerprint(hex) {
  return hex.toUpperCase().match(/../g).join(':');
}

/** The transaction that wrote the note's current version (the amendment). */
async function amendmentTxId() {
  const token = await apiLogin(server.url, DOCTOR.email, DOCTOR.password);
  return (await api(server.url, 'GET', `/notes/${NOTE.note_id}`, { token })).tx_id;
}

/** Flips the last hex digit of `hex`. */
function flipHex(hex) {
  const last = hex.slice(-1);
  return hex.slice(0, -1) + (last === '0' ? '1' : '0');
}

/** The value of data-NAME in `html`, HTML-unescaped as askama escapes attributes. */
function dataAttribute(html, name) {
  const match = html.match(new RegExp(` data-${name}="([^"]*)"`));
  assert.ok(match, `data-${name} is on the page`);
  return match[1].replace(/&#43;/g, '+').replace(/&#47;/g, '/').replace(/&#61;/g, '=').replace(/&#38;/g, '&');
}

function replaceDataAttribute(html, name, value) {
  return html.replace(new RegExp(` data-${name}="[^"]*"`), ` data-${name}="${value}"`);
}

/** The checkpoint's canonical bytes with the root hash inside them changed (borsh: the root is 32 bytes
 * before the final 8-byte timestamp), and the root hex as it now reads. */
function tamperedCheckpoint(base64) {
  const bytes = Buffer.from(base64, 'base64');
  bytes[bytes.length - 9] ^= 0x01;
  return { checkpoint: bytes.toString('base64'), root: bytes.subarray(bytes.length - 40, bytes.length - 8).toString('hex') };
}

test(
  'a transaction page changed on its way to the browser is not verified',
  async () => {
    await ensureAmendedNote();
    const txId = await amendmentTxId();
    // Each change is what a compromised node or a hostile network could do to the page; the browser's
    // check must catch every one, with the reason.
    const tampers = [
      {
        name: 'the checkpoint signature',
        change: (html) => replaceDataAttribute(html, 'signature', flipHex(dataAttribute(html, 'signature'))),
        reason: t.signatureMismatch,
      },
      {
        name: 'the root inside the signed checkpoint, and the root the page shows',
        change: (html) => {
          const forged = tamperedCheckpoint(dataAttribute(html, 'checkpoint'));
          return replaceDataAttribute(
            replaceDataAttribute(html, 'checkpoint', forged.checkpoint), 'root', forged.root,
          ).replace(/id="proof-root">[0-9a-f]{64}</, `id="proof-root">${forged.root}<`);
        },
        reason: t.signatureMismatch,
      },
      {
        name: 'the audit path',
        change: (html) => {
          const path = dataAttribute(html, 'audit-path').split(',');
          path[0] = flipHex(path[0]);
          return replaceDataAttribute(html, 'audit-path', path.join(','));
        },
        reason: t.proofMismatch,
      },
      {
        name: 'the organization root certificate (the signer certificate put in its place)',
        change: (html) => replaceDataAttribute(html, 'root-certificates', dataAttribute(html, 'signer-certificate')),
        reason: t.chainMismatch,
      },
    ];
    for (const tamper of tampers) {
      await withPage(browser, { locale: LOCALE }, 'explorer-tampered', async (page) => {
        await logIn(page, server.url, { email: DOCTOR.email, password: DOCTOR.password, lang: LANG });
        await page.route('**/explorer/tx/*', async (route) => {
          const response = await route.fetch();
          const html = await response.text();
          const changed = tamper.change(html);
          assert.notEqual(changed, html, `${tamper.name} was changed`);
          await route.fulfill({ response, body: changed });
        });
        await page.goto(`${server.url}/explorer/tx/${txId}`);
        const status = page.locator('#proof-status');
        await page.locator('#proof-status[data-verified]').waitFor();
        assert.equal(await status.getAttribute('data-verified'), 'false', tamper.name);
        assert.equal((await status.textContent()).trim(), `${t.notVerified}: ${tamper.reason}`, tamper.name);
        // Nothing unverified is shown as checked.
        assert.equal(await page.locator('#proof-checked').isVisible(), false, tamper.name);
      });
    }
  },
);

test(
  'an administrator sees the proof verified from the leaf hash, without the envelope',
  async () => {
    await ensureAmendedNote();
    const txId = await amendmentTxId();
    await withPage(browser, { locale: LOCALE }, 'explorer-admin', async (page) => {
      await logIn(page, server.url, { email: ADMIN_EMAIL, password: adminPassword, lang: LANG });
      await page.goto(`${server.url}/explorer/tx/${txId}`);
      const status = page.locator('#proof-status');
      await page.locator('#proof-status[data-verified]').waitFor();
      assert.equal((await status.textContent()).trim(), t.verified);
      assert.equal(await page.locator('#proof').getAttribute('data-envelope'), null);
      assert.equal(await page.locator('#proof-envelope').count(), 0);
      await page.getByText(t.envelopeWithheld).waitFor();
      const html = await page.content();
      for (const secret of [NOTE.text, NOTE.amended, PATIENT.given_name, PATIENT.family_name]) {
        assert.ok(!html.includes(secret), secret);
      }
      await page.locator('#proof-checked').waitFor({ state: 'visible' });
    });
  },
);

test(
  "a doctor trying an administrator's page is refused",
  async () => {
    await ensureDoctor();
    await withPage(browser, { locale: LOCALE }, 'forbidden', async (page) => {
      await logIn(page, server.url, { email: DOCTOR.email, password: DOCTOR.password, lang: LANG });
      // The menu does not offer the administrators' pages ...
      const menu = page.getByRole('navigation', { name: t.mainMenu });
      await menu.getByRole('link', { name: t.navPatients, exact: true }).waitFor();
      assert.equal(await menu.getByRole('link', { name: t.navDoctors, exact: true }).count(), 0);
      assert.equal(await menu.getByRole('link', { name: t.navAdmins, exact: true }).count(), 0);
      // ... and typing their addresses gets the 403 page.
      for (const path of ['/doctors', '/doctors/new', '/admins']) {
        const response = await page.goto(`${server.url}${path}`);
        assert.equal(response.status(), 403, path);
        await page.getByRole('heading', { name: t.forbidden, exact: true }).waitFor();
      }
      await screenshot(page, 'forbidden');
    });
  },
);
