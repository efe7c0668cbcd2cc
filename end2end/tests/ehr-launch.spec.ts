// CloudCGM inside the sandbox EHR (issue 4), end to end in Chromium: the patient makes a sharing code in the
// portal; a clinician opens the sandbox chart, CloudCGM launches inside the chart's iframe (a cross-site
// frame under .ci/e2e: the EHR page is on `127.0.0.1`, CloudCGM on `localhost`, so only the partitioned
// session cookie works), the clinician enters the code, compares both identities, confirms, and the report shows that
// patient's numbers, the same as CloudCGM's own report; a relaunch goes straight to the report; the admin
// sees the link and the audit log.
import { test, expect, Page, FrameLocator } from '@playwright/test';
import { newCode, openChart } from './support';

/** The metrics table as label → value. */
async function metrics(scope: Page | FrameLocator): Promise<Record<string, string>> {
  const rows = scope.locator('.metrics-card tbody tr');
  await expect(rows.first()).toBeVisible();
  const out: Record<string, string> = {};
  for (const row of await rows.all()) {
    const cells = await row.locator('th, td').allInnerTexts();
    out[cells[0].trim()] = cells[1].trim();
  }
  return out;
}

test('a clinician links the patient with her code inside the EHR frame and sees her report; a relaunch shows it at once', async ({ browser }) => {
  const patient = await browser.newPage();
  const code = await newCode(patient, 'elena');

  const clinic = await browser.newContext();
  const page = await clinic.newPage();
  const frame = await openChart(page, 'Dr. Thomas Berg', 'Elena Fischer');
  await expect(frame.getByRole('heading', { name: 'Link Elena Fischer to CloudCGM' })).toBeVisible();
  await frame.getByTestId('code-input').fill(code.toLowerCase().replace(/-/g, ' '));
  await frame.getByTestId('check-code').click();
  await expect(frame.getByTestId('cloudcgm-name')).toHaveText('Elena Fischer');
  await expect(frame.getByTestId('ehr-name')).toHaveText('Elena Fischer');
  await expect(frame.getByTestId('mismatch')).toHaveCount(0);
  await frame.getByTestId('confirm-link').click();
  await expect(frame.locator('.patient-name')).toHaveText('Elena Fischer');
  const inEhr = await metrics(frame);

  // The same numbers as CloudCGM's own (demo) report of that patient for the same default window.
  const own = await browser.newPage();
  await own.goto('/');
  await own.getByRole('link', { name: 'Elena Fischer' }).click();
  await expect(own.locator('.patient-name')).toHaveText('Elena Fischer');
  expect(await metrics(own)).toEqual(inEhr);
  expect(Object.keys(inEhr).length).toBeGreaterThan(5);

  // The session cookie exists only as a partitioned, secure, HttpOnly, SameSite=None cookie.
  const cookies = (await clinic.cookies()).filter((c) => c.name === 'cloudcgm_session');
  expect(cookies.length).toBeGreaterThan(0);
  for (const c of cookies) {
    expect(c.httpOnly).toBe(true);
    expect(c.secure).toBe(true);
    expect(c.sameSite).toBe('None');
  }
  // The code is used up: the portal says so.
  await patient.reload();
  await expect(patient.getByTestId('no-code')).toBeVisible();

  // A new launch of the same chart goes straight to the report.
  await page.reload();
  const again = page.frameLocator('iframe.app-frame');
  await expect(again.locator('.patient-name')).toHaveText('Elena Fischer');
  await expect(again.getByTestId('code-input')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/ehr-launch-report.png', fullPage: true });
  await clinic.close();
});

test('a wrong code says what to do, and the admin sees links and the audit log', async ({ browser }) => {
  const clinic = await browser.newContext();
  const page = await clinic.newPage();
  const frame = await openChart(page, 'Dr. Thomas Berg', 'Liam O\'Brien');
  await frame.getByTestId('code-input').fill('AAA-AAA-AAAA');
  await frame.getByTestId('check-code').click();
  await expect(frame.getByRole('alert')).toContainText('not valid');
  await frame.getByTestId('code-input').fill('OOO-OOO-OOOO');
  await frame.getByTestId('check-code').click();
  await expect(frame.getByRole('alert')).toContainText('never contain');

  const admin = await openChart(page, 'Dr. Maya Patel', 'James Carter');
  await admin.getByTestId('admin-link').click();
  await expect(admin.getByRole('heading', { name: /linked patients/ })).toBeVisible();
  await expect(admin.getByTestId('link-row').filter({ hasText: 'Elena Fischer' })).toBeVisible();
  await expect(admin.getByTestId('audit-action').filter({ hasText: 'code_failed' }).first()).toBeVisible();
  await expect(admin.getByTestId('audit-csv')).toHaveAttribute('href', /\/admin\/audit\.csv$/);
  await clinic.close();
});

test('opened without a launch, CloudCGM says to start from the EHR; an unknown EHR is refused', async ({ page }) => {
  await page.goto('/launch');
  await expect(page.getByRole('heading', { name: 'Open CloudCGM from your EHR' })).toBeVisible();
  await page.goto('/launch?iss=https%3A%2F%2Fehr.evil.example%2Ffhir&launch=abc');
  await expect(page.getByRole('heading', { name: 'This EHR is not registered with CloudCGM' })).toBeVisible();
});
