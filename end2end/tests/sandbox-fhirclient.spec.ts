// The sandbox EHR's SMART authorization server with an independent SMART client (issue 3): npm `fhirclient`
// (client-js, its browser bundle) as the registered public client `fhirclient-demo`, served from
// http://127.0.0.1:9090 (its registered launch and redirect URIs). Both an EHR launch from the sandbox's
// chart (inside the chart's iframe and in a new tab) and a standalone launch (sign-in and patient picker on
// the sandbox's authorize pages), each ending with the patient read through the FHIR API with the token.
// The sandbox runs mounted in CloudCGM at BASE_URL/sandbox (.ci/e2e starts `serve --seed-demo`).
import { test, expect, Page } from '@playwright/test';
import { createServer, Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const APP_PORT = 9090;
const APP_ORIGIN = `http://127.0.0.1:${APP_PORT}`;
// The sandbox's own origin (.ci/e2e announces it as 127.0.0.1, the fhirclient app's site, and CloudCGM as
// localhost).
const SANDBOX_URL = process.env.SANDBOX_URL ?? process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const FHIR_BASE = `${SANDBOX_URL}/sandbox/fhir`;

const FILES: Record<string, [string, string]> = {
  '/launch.html': [join(__dirname, '..', 'smart-app', 'launch.html'), 'text/html; charset=utf-8'],
  '/index.html': [join(__dirname, '..', 'smart-app', 'index.html'), 'text/html; charset=utf-8'],
  '/fhir-client.js': [
    join(__dirname, '..', 'node_modules', 'fhirclient', 'build', 'fhir-client.js'),
    'text/javascript; charset=utf-8',
  ],
};

let server: Server;

test.beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', APP_ORIGIN).pathname;
    const file = FILES[path];
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' });
    res.end(readFileSync(file[0]));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(APP_PORT, '127.0.0.1', () => resolve());
  });
});

test.afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** Picks a patient and the fhirclient app on the sandbox launcher and opens the chart; returns the chart URL. */
async function openChart(page: Page, patient: string): Promise<string> {
  await page.goto(`${SANDBOX_URL}/sandbox/`);
  await expect(page).toHaveURL(/\/sandbox\/ehr$/);
  await expect(page.getByRole('heading', { name: 'Open a patient chart' })).toBeVisible();
  await page.getByLabel(patient, { exact: true }).check();
  await page.getByLabel('App to open in the chart').selectOption('fhirclient-demo');
  await page.getByRole('button', { name: 'Open chart' }).click();
  await expect(page.locator('.banner .name')).toHaveText(patient);
  return page.url();
}

test('EHR launch: fhirclient in the chart iframe gets iss and launch, a token, and reads the chart patient', async ({ page }) => {
  const chart = await openChart(page, 'Elena Fischer');
  // /sandbox/ehr/{practitioner}/patients/{patient}
  const [, , , practitionerId, , patientId] = new URL(chart).pathname.split('/');
  const frame = page.frameLocator('iframe.app-frame');
  await expect(frame.locator('#status')).toHaveText('ready');
  await expect(frame.locator('#patient-name')).toHaveText('Elena Fischer');
  await expect(frame.locator('#birth-date')).toHaveText('1968-05-14');
  await expect(frame.locator('#patient-id')).toHaveText(patientId);
  await expect(frame.locator('#server')).toHaveText(FHIR_BASE);
  await expect(frame.locator('#user')).toHaveText(`Practitioner/${practitionerId}`);
  await expect(frame.locator('#scope')).toContainText('patient/Patient.rs');
  await page.screenshot({ path: 'test-results/sandbox-chart-fhirclient.png', fullPage: true });
});

test('EHR launch in a new tab: a fresh launch id, and fhirclient reads the same patient', async ({ page, context }) => {
  await openChart(page, 'James Carter');
  const [tab] = await Promise.all([
    context.waitForEvent('page'),
    page.getByRole('link', { name: /in a new tab/ }).click(),
  ]);
  await expect(tab).toHaveURL(new RegExp(`^${APP_ORIGIN}/index\\.html`));
  await expect(tab.locator('#status')).toHaveText('ready');
  await expect(tab.locator('#patient-name')).toHaveText('James Carter');
  await expect(tab.locator('#server')).toHaveText(FHIR_BASE);
  await tab.close();
});

test('standalone launch: fhirclient with iss only, sign-in and patient picker on the sandbox, then the patient', async ({ page }) => {
  await page.goto(`${APP_ORIGIN}/launch.html?iss=${encodeURIComponent(FHIR_BASE)}`);
  await expect(page).toHaveURL(new RegExp(`^${SANDBOX_URL}/sandbox/auth/authorize`));
  await expect(page.getByRole('heading', { name: 'Sandbox EHR: sign in' })).toBeVisible();
  await expect(page.getByText('Independent SMART client (fhirclient)')).toBeVisible();
  const practitioner = await optionLabel(page, 'practitioner', 'Maya Patel');
  await page.getByLabel('Sign in as').selectOption({ label: practitioner });
  await page.getByLabel('Patient').selectOption({ label: await optionLabel(page, 'patient', 'Sofía Ramírez') });
  await page.getByRole('button', { name: 'Sign in and allow' }).click();
  await expect(page).toHaveURL(new RegExp(`^${APP_ORIGIN}/index\\.html`));
  await expect(page.locator('#status')).toHaveText('ready');
  await expect(page.locator('#patient-name')).toHaveText('Sofía Ramírez');
  await expect(page.locator('#birth-date')).toHaveText('2004-02-29');
  await expect(page.locator('#server')).toHaveText(FHIR_BASE);
  // The option reads "Maya Patel (id)"; fhirclient gives fhirUser as Practitioner/{id}.
  const practitionerId = /\(([^)]+)\)$/.exec(practitioner)![1];
  await expect(page.locator('#user')).toHaveText(`Practitioner/${practitionerId}`);
  await expect(page.locator('#scope')).toContainText('launch/patient');
});

/** The full label ("name (id)") of the `<option>` of select `select` that shows `shows`. */
async function optionLabel(page: Page, select: string, shows: string): Promise<string> {
  const labels = await page.locator(`select[name="${select}"] option`).allInnerTexts();
  const label = labels.find((l) => l.includes(shows));
  expect(label, `${shows} is offered in ${labels.join(', ')}`).toBeTruthy();
  return label!;
}
