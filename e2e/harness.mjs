// The end-to-end harness: one `medledger up` process on a fresh data directory, one headless Debian
// chromium driven by playwright-core, and the few helpers the scenarios share.
//
// Every wait here is bounded: the server must say "serving on http://ADDR" within SERVER_START_MS, a
// stopped server must exit within SERVER_STOP_MS of SIGTERM (else SIGKILL), and pages use Playwright's
// own timeouts (set per context below). Nothing sleeps for a fixed time.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..');

/** The binary under test: `MEDLEDGER_BIN` (relative to the repository root if relative), else the debug build. */
export const MEDLEDGER_BIN = path.resolve(REPO, process.env.MEDLEDGER_BIN ?? 'target/debug/medledger');
/** Debian's chromium; never a browser downloaded by `playwright install`. */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
/** Where the tests save screenshots of the main pages (committed, shown in the README). */
export const SCREENSHOTS = path.join(REPO, 'docs', 'screenshots');

export const ADMIN_EMAIL = 'admin@medledger.local';
/** The first administrator's password, given through MEDLEDGER_ADMIN_PASSWORD. */
export const ADMIN_PASSWORD = 'e2e first admin password';

/** Bound on `medledger up` printing "serving on" (it needs < 2 s; this only stops a broken build hanging). */
const SERVER_START_MS = 30_000;
/** Bound on a clean stop after SIGTERM, before SIGKILL. */
const SERVER_STOP_MS = 10_000;
/** Bound on any one browser action or navigation. */
export const ACTION_MS = 15_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts `medledger up --data <fresh temp dir> --listen 127.0.0.1:0` and waits (bounded) for its
 * "serving on http://ADDR" line. Returns `{ url, dataDir, log, stop }`; `stop()` sends SIGTERM, then
 * SIGKILL after a deadline, and removes the temp directory. `log()` is the server's stderr so far.
 */
export async function startServer({ adminPassword = ADMIN_PASSWORD } = {}) {
  if (!existsSync(MEDLEDGER_BIN)) {
    throw new Error(`${MEDLEDGER_BIN} does not exist: run \`cargo build\` first, or set MEDLEDGER_BIN`);
  }
  const tmp = await mkdtemp(path.join(tmpdir(), 'medledger-e2e-'));
  const dataDir = path.join(tmp, 'data');
  const child = spawn(
    MEDLEDGER_BIN,
    ['up', '--data', dataDir, '--listen', '127.0.0.1:0', '--block-timeout-ms', '20'],
    {
      env: { ...process.env, MEDLEDGER_ADMIN_PASSWORD: adminPassword, RUST_LOG: 'info', NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let url;
  try {
    url = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "serving on" line within ${SERVER_START_MS} ms; stderr:\n${stderr}`)),
        SERVER_START_MS,
      );
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        // Strip ANSI colour codes before looking for the address.
        const plain = stderr.replace(/\u001b\[[0-9;]*m/g, '');
        const match = plain.match(/serving on (http:\/\/[^\s]+)/);
        if (match) {
          clearTimeout(timer);
          resolve(match[1].replace(/\/$/, ''));
        }
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`medledger up exited (${code ?? signal}) before serving; stderr:\n${stderr}`));
      });
    });
  } catch (e) {
    await stopProcess(child, exited);
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  let stopped = false;
  return {
    url,
    dataDir,
    log: () => stderr,
    async stop() {
      if (stopped) return;
      stopped = true;
      const result = await stopProcess(child, exited);
      await rm(tmp, { recursive: true, force: true });
      return result;
    },
  };
}

/** SIGTERM, wait up to SERVER_STOP_MS, then SIGKILL and wait again (bounded). */
async function stopProcess(child, exited) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const bounded = (ms) =>
    Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(null), ms).unref())]);
  const result = await bounded(SERVER_STOP_MS);
  if (result) return result;
  child.kill('SIGKILL');
  return (await bounded(SERVER_STOP_MS)) ?? { code: null, signal: 'SIGKILL (not reaped)' };
}

/**
 * Launches Debian's chromium, headless. Playwright gives every `launch()` a fresh, empty user-data-dir of
 * its own (and deletes it on close); scenarios then isolate people with one context each.
 */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist: apt-get install chromium (never \`playwright install\`)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

/**
 * A fresh browser context (its own cookies) at 1280×800, with the browser asking for `locale` first, and
 * a page in it. Every action and navigation is bounded by ACTION_MS.
 */
export async function newPage(browser, { locale = 'en-GB' } = {}) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    locale,
    extraHTTPHeaders: { 'Accept-Language': locale === 'en-GB' ? 'en-GB,en;q=0.9' : `${locale},es;q=0.9` },
  });
  context.setDefaultTimeout(ACTION_MS);
  context.setDefaultNavigationTimeout(ACTION_MS);
  const page = await context.newPage();
  return page;
}

/**
 * Saves a screenshot of the page (1280 wide; the 800-high viewport, or the whole page with `fullPage`)
 * as docs/screenshots/NAME.png.
 */
export async function screenshot(page, name, { fullPage = false } = {}) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage, animations: 'disabled' });
}

/** Where a failing scenario leaves a screenshot of the page it failed on (not committed). */
export const FAILURES = path.join(HERE, 'test-results');

/**
 * Runs `scenario(page)` on a fresh page and closes its context; if it throws, first saves the page as
 * e2e/test-results/NAME.png and appends its URL to the error, so a CI log says where it stopped.
 */
export async function withPage(browser, options, name, scenario) {
  const page = await newPage(browser, options);
  try {
    await scenario(page);
  } catch (e) {
    try {
      await mkdir(FAILURES, { recursive: true });
      const file = path.join(FAILURES, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true, timeout: ACTION_MS });
      e.message += `\n(page: ${page.url()}; screenshot: ${file})`;
    } catch {
      e.message += `\n(page: ${page.url()})`;
    }
    throw e;
  } finally {
    await page.context().close();
  }
}

/** Fills the login form and submits it (texts are the login page's, in either language); `next` is the
 * login page's `?next=` as typed in the address bar. */
export async function logIn(page, base, { email, password, lang = 'en', next }) {
  const t = TEXT[lang];
  await page.goto(next === undefined ? `${base}/login` : `${base}/login?next=${next}`);
  await page.getByLabel(t.email, { exact: true }).fill(email);
  await page.getByLabel(t.password, { exact: true }).fill(password);
  await Promise.all([
    page.waitForLoadState('load'),
    page.getByRole('button', { name: t.loginSubmit, exact: true }).click(),
  ]);
}

/** One REST call with a bearer token (for setting up what a scenario is not about). */
export async function api(base, method, route, { token, body } = {}) {
  const response = await fetch(`${base}/api/v1${route}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(ACTION_MS),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Logs in through the REST API and returns the bearer token. */
export async function apiLogin(base, email, password) {
  return (await api(base, 'POST', '/auth/login', { body: { email, password } })).token;
}

/**
 * The texts the scenarios look for, copied from crates/gateway/src/web/i18n.rs (catalogue keys in the
 * comments) and crates/gateway/src/web/fields.rs (field labels). Keep them in step with those files.
 */
export const TEXT = {
  en: {
    email: 'Email', // login.email
    password: 'Password', // login.password
    loginTitle: 'Log in', // login.title
    loginSubmit: 'Log in', // login.submit
    wrongCredentials: 'Wrong email or password.', // login.wrong_credentials
    loggedOut: 'You have logged out.', // login.logged_out
    logout: 'Log out', // nav.logout
    changePassword: 'Change password', // nav.change_password, password.title, password.submit
    currentPassword: 'Current password', // password.current
    newPassword: 'New password', // password.new
    confirmPassword: 'New password again', // password.confirm
    passwordChanged: 'Your password has been changed.', // password.changed
    navPatients: 'Patients', // nav.patients
    navDoctors: 'Doctors', // nav.doctors
    navAdmins: 'Administrators', // nav.admins
    navExplorer: 'Ledger explorer', // nav.explorer
    mainMenu: 'Main menu', // nav.label
    forbidden: 'You are not allowed to do this.', // error.forbidden (the 403 page's heading)
    addPatient: 'Add a patient', // list.add_patient
    addDoctor: 'Add a doctor', // list.add_doctor
    search: 'Search', // list.search
    searchPeople: 'Name or email', // list.search_people
    searchPatients: 'Name, identity card number or patient ID', // list.search_patients
    save: 'Save', // form.save
    addNote: 'Add a note', // chart.add_note
    addDrugExposure: 'Add a drug exposure', // chart.add_drug_exposure
    chartNotes: 'Notes', // chart.notes
    chartDrugExposures: 'Drug exposures', // chart.drug_exposures
    history: 'History', // record.history
    version: 'Version', // record.version
    amend: 'Amend', // record.amend
    amendmentReason: 'Reason for the amendment', // record.amendment_reason
    viewInExplorer: 'See it on the ledger', // record.view_in_explorer
    transaction: 'Transaction', // record.transaction, explorer.transaction
    inclusionProof: 'Inclusion proof', // explorer.inclusion_proof
    verified: 'Verified', // explorer.verified
    notVerified: 'Not verified', // explorer.not_verified
    signatureMismatch: "the checkpoint's signature does not verify with the key in the signer's certificate.", // explorer.signature_mismatch
    chainMismatch: "the signer's certificate is not signed by an organization root certificate of this ledger.", // explorer.chain_mismatch
    proofMismatch: 'the proof does not lead to the root hash of the signed checkpoint.', // explorer.proof_mismatch
    envelopeWithheld: "Not shown: the envelope holds the call's content, and your role may not read clinical records.", // explorer.envelope_withheld
    skipToContent: 'Skip to the content', // app.skip_to_content
  },
  es: {
    email: 'Correo electrónico',
    password: 'Contraseña',
    loginTitle: 'Iniciar sesión',
    loginSubmit: 'Entrar',
    wrongCredentials: 'Correo electrónico o contraseña incorrectos.',
    loggedOut: 'Ha cerrado la sesión.',
    logout: 'Cerrar sesión',
    changePassword: 'Cambiar contraseña',
    currentPassword: 'Contraseña actual',
    newPassword: 'Contraseña nueva',
    confirmPassword: 'Repita la contraseña nueva',
    passwordChanged: 'Su contraseña ha sido cambiada.',
    navPatients: 'Pacientes',
    navDoctors: 'Médicos',
    navAdmins: 'Administradores',
    navExplorer: 'Explorador de la cadena de bloques',
    mainMenu: 'Menú principal',
    forbidden: 'No tiene permiso para hacer esto.',
    addPatient: 'Agregar paciente',
    addDoctor: 'Agregar médico',
    search: 'Buscar',
    searchPeople: 'Nombre o correo electrónico',
    searchPatients: 'Nombre, carné de identidad o ID del paciente',
    save: 'Guardar',
    addNote: 'Agregar nota',
    addDrugExposure: 'Agregar exposición a medicamento',
    chartNotes: 'Notas',
    chartDrugExposures: 'Exposiciones a medicamentos',
    history: 'Historial',
    version: 'Versión',
    amend: 'Enmendar',
    amendmentReason: 'Motivo de la enmienda',
    viewInExplorer: 'Verlo en la cadena de bloques',
    transaction: 'Transacción',
    inclusionProof: 'Prueba de inclusión',
    verified: 'Verificada',
    notVerified: 'No verificada',
    signatureMismatch: 'la firma del punto de control no se verifica con la clave del certificado del firmante.',
    chainMismatch: 'el certificado del firmante no está firmado por un certificado raíz de una organización de este registro.',
    proofMismatch: 'la prueba no conduce al hash raíz del punto de control firmado.',
    envelopeWithheld: 'No se muestra: el sobre contiene los datos de la llamada, y su rol no puede leer registros clínicos.',
    skipToContent: 'Saltar al contenido',
  },
};
