// The AGP report in a real browser: server-rendered, hydrated, window and units switched on the client,
// charts drawn, and the numbers equal to what the command-line interface computes from the same readings.
import { test, expect, Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.CLOUDCGM_BIN ?? '';
const DB = process.env.CLOUDCGM_DATABASE_URL ?? '';

async function openPatient(page: Page, name: string): Promise<string> {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Demo patients' })).toBeVisible();
  const link = page.getByRole('link', { name });
  const href = await link.getAttribute('href');
  expect(href).toMatch(/^\/patients\/\d+\/report$/);
  await link.click();
  await expect(page.locator('.patient-name')).toHaveText(name);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  return href!;
}

async function metric(page: Page, key: string): Promise<string> {
  return (await page.locator(`tr[data-metric="${key}"] td.value`).innerText()).trim();
}

async function range(page: Page, key: string): Promise<string> {
  return (await page.locator(`tr[data-range="${key}"] td.value`).innerText()).trim();
}

test('the demo list leads to a report with every section and its charts', async ({ page }) => {
  await openPatient(page, 'James Carter');
  await expect(page.getByTestId('window-label')).toContainText('(14 days)');
  for (const heading of ['Glucose statistics and targets', 'Time in ranges', 'Ambulatory glucose profile', 'Events', 'Daily glucose profiles']) {
    await expect(page.getByRole('heading', { name: heading, exact: true })).toBeVisible();
  }
  const agp = page.locator('.agp-chart svg');
  await expect(agp).toBeVisible();
  await expect(agp).toHaveAttribute('role', 'img');
  expect(await agp.locator('path, polyline, polygon').count()).toBeGreaterThan(3);
  const box = await agp.boundingBox();
  expect(box!.width).toBeGreaterThan(400);
  await expect(page.locator('.tir-chart svg')).toBeVisible();
  await expect(page.locator('.daily-panel svg')).toHaveCount(14);
  await expect(page.locator('tr[data-metric="cv"] td.goal')).toHaveText('≤ 36 %');
  await page.screenshot({ path: 'test-results/report-james.png', fullPage: true });
});

test('window presets and the units switch update the report without reloading the page', async ({ page }) => {
  await openPatient(page, 'Sofía Ramírez');
  await page.evaluate(() => ((window as any).__sameDocument = true));
  const mean14 = await metric(page, 'mean');
  const readings14 = Number(await metric(page, 'readings'));
  expect(mean14).toMatch(/^\d+ mg\/dL$/);

  await page.locator('a[data-preset="30"]').click();
  await expect(page).toHaveURL(/days=30/);
  await expect(page.getByTestId('window-label')).toContainText('(30 days)');
  await expect.poll(async () => Number(await metric(page, 'readings'))).toBeGreaterThan(readings14 * 1.8);
  await expect(page.locator('.daily-panel svg')).toHaveCount(14);

  await page.locator('a[data-unit="mmol"]').click();
  await expect(page).toHaveURL(/unit=mmol/);
  await expect.poll(() => metric(page, 'mean')).toMatch(/^\d+\.\d mmol\/L$/);
  await expect(page.getByTestId('window-label')).toContainText('(30 days)');
  await expect(page.locator('tr[data-range="target"] td').first()).toContainText('3.9–10.0 mmol/L');

  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
});

test('custom dates show exactly that window', async ({ page }) => {
  await openPatient(page, 'Elena Fischer');
  const label = await page.getByTestId('window-label').innerText();
  const last = label.match(/– (\d{4}-\d{2}-\d{2})/)![1];
  const from = new Date(Date.parse(last) - 6 * 86400_000).toISOString().slice(0, 10);
  await page.locator('input[name="from"]').fill(from);
  await page.locator('input[name="to"]').fill(last);
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page.getByTestId('window-label')).toHaveText(`${from} – ${last} (7 days)`);
  await expect(page.locator('.daily-panel svg')).toHaveCount(7);
  await expect(page.getByTestId('sufficiency-warning')).toContainText('14 days');
});

test('the page shows the numbers the CLI computes from an export of the same readings', async ({ page }) => {
  expect(BIN, 'CLOUDCGM_BIN must name the cloudcgm binary (.ci/e2e sets it)').not.toBe('');
  expect(DB, 'CLOUDCGM_DATABASE_URL must name the e2e database (.ci/e2e sets it)').not.toBe('');
  const href = await openPatient(page, 'James Carter');
  const id = href.split('/')[2];
  const label = await page.getByTestId('window-label').innerText();
  const [, from, to] = label.match(/(\d{4}-\d{2}-\d{2}) – (\d{4}-\d{2}-\d{2})/)!;
  const dir = mkdtempSync(join(tmpdir(), 'cloudcgm-e2e-'));
  const csv = join(dir, 'james.csv');
  writeFileSync(csv, execFileSync(BIN, ['export', '--patient', id, '--database-url', DB], { maxBuffer: 256 * 1024 * 1024 }));
  const json = JSON.parse(
    execFileSync(BIN, ['report', '--input', csv, '--tz', 'America/New_York', '--unit', 'mg', '--from', from, '--to', to], {
      maxBuffer: 256 * 1024 * 1024,
    }).toString(),
  );
  const pct = (v: number) => `${(Math.round(v * 10) / 10).toFixed(1)} %`;
  const m = json.metrics;
  expect(await range(page, 'target')).toBe(pct(m.ranges.target));
  expect(await range(page, 'low')).toBe(pct(m.ranges.low));
  expect(await range(page, 'very_low')).toBe(pct(m.ranges.very_low));
  expect(await range(page, 'high')).toBe(pct(m.ranges.high));
  expect(await range(page, 'very_high')).toBe(pct(m.ranges.very_high));
  expect(await metric(page, 'mean')).toBe(`${Math.round(m.mean)} mg/dL`);
  expect(await metric(page, 'cv')).toBe(pct(m.cv_percent));
  expect(await metric(page, 'readings')).toBe(String(m.readings));
  expect(await metric(page, 'gmi')).toContain(`${m.gmi_percent.toFixed(1)} %`);
});

test('without the wasm the page still renders but navigation is a full page load (negative control)', async ({ page }) => {
  await page.route('**/*.wasm', (route) => route.abort());
  await page.goto('/');
  await page.getByRole('link', { name: 'James Carter' }).click();
  await expect(page.locator('.patient-name')).toHaveText('James Carter');
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await page.locator('a[data-preset="30"]').click();
  await expect(page.getByTestId('window-label')).toContainText('(30 days)');
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBeUndefined();
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(0);
});

test('the printout is one A4 page without the controls', async ({ page }) => {
  await openPatient(page, 'Elena Fischer');
  await page.emulateMedia({ media: 'print' });
  await expect(page.locator('nav.controls')).toBeHidden();
  await expect(page.locator('.agp-chart svg')).toBeVisible();
  const pdf = await page.pdf({ format: 'A4', printBackground: true });
  const pages = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? []).length;
  expect(pages).toBe(1);
});
