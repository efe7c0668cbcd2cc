// What the end-to-end specs share: waiting for hydration, a sharing code from the patient portal, and opening
// the sandbox EHR's chart with CloudCGM in its frame.
import { expect, Page, FrameLocator } from '@playwright/test';

export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
// The sandbox EHR's origin: .ci/e2e announces it as 127.0.0.1 and CloudCGM as localhost, so the EHR page
// and CloudCGM are different sites, as with a real EHR.
export const EHR_URL = process.env.SANDBOX_URL ?? BASE_URL;

export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/** Signs a demo patient into the portal and makes a new sharing code; returns it as shown. */
export async function newCode(page: Page, user: string): Promise<string> {
  await page.goto('/portal');
  await hydrated(page);
  await page.getByTestId('username').fill(user);
  await page.getByTestId('password').fill(`${user}-cgm-demo`);
  await page.getByTestId('sign-in').click();
  await expect(page.getByRole('heading', { name: /^Hello, / })).toBeVisible();
  await page.getByTestId('new-code').click();
  const code = page.getByTestId('sharing-code');
  await expect(code).toHaveText(/^[0-9A-Z]{3}-[0-9A-Z]{3}-[0-9A-Z]{4}$/);
  return (await code.textContent())!.trim();
}

/** Opens the sandbox chart of `patient` as `practitioner` with CloudCGM; returns CloudCGM's frame. */
export async function openChart(page: Page, practitioner: string, patient: string): Promise<FrameLocator> {
  await page.goto(`${EHR_URL}/sandbox/ehr`);
  await page.getByLabel(practitioner, { exact: true }).check();
  await page.getByLabel(patient, { exact: true }).check();
  await page.getByLabel('App to open in the chart').selectOption('cloudcgm');
  await page.getByRole('button', { name: 'Open chart' }).click();
  const frame = page.frameLocator('iframe.app-frame');
  await expect(frame.locator('body')).toHaveAttribute('data-hydrated', 'true');
  return frame;
}
