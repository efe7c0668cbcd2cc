// Sending CGM data to the EHR from inside the EHR frame (issue 5), end to end in Chromium: a clinician links a
// patient, asks CloudCGM to send the last 14 days' summary with its PDF report, follows the submission in the
// history until the EHR has accepted every entry, and the sandbox EHR's chart then lists the submission and
// the PDF report; the report page links the same report as a PDF. Asking to send nothing says what to choose.
import { test, expect } from '@playwright/test';
import { newCode, openChart } from './support';

test('a clinician sends the last 14 days to the EHR, follows it to "delivered", and the chart shows it', async ({ browser }) => {
  const portal = await browser.newPage();
  const code = await newCode(portal, 'sofia');

  const clinic = await browser.newContext();
  const page = await clinic.newPage();
  const frame = await openChart(page, 'Dr. Thomas Berg', 'Sofía Ramírez');
  await frame.getByTestId('code-input').fill(code);
  await frame.getByTestId('check-code').click();
  await frame.getByTestId('confirm-link').click();
  await expect(frame.locator('.patient-name')).toHaveText('Sofía Ramírez');

  // The PDF link carries the page's window and unit.
  await expect(frame.getByTestId('pdf-download')).toHaveAttribute('href', /\/report\.pdf\?days=14&unit=/);

  const panel = frame.getByTestId('send-panel');
  await expect(panel).toBeVisible();
  await panel.getByLabel('Last 14 days').check();
  await expect(frame.getByTestId('send-summary')).toBeChecked();
  await frame.getByTestId('send-button').click();
  // The clinician's own request (the standing order may have sent one of its own since linking).
  const mine = frame.getByTestId('job').filter({ hasText: 'by Practitioner/' }).first();
  // The history refreshes itself while the job runs: no reload needed.
  await expect(mine).toHaveAttribute('data-status', 'done', { timeout: 60_000 });
  await expect(mine.getByTestId('job-status')).toContainText('Delivered: the EHR accepted all');
  await expect(mine).toContainText('summary, PDF report');
  await expect(mine.getByTestId('job-counts')).toContainText('0 refused');

  // Asking to send nothing says what to choose, and nothing is enqueued.
  await frame.getByTestId('send-summary').uncheck();
  await frame.getByTestId('send-button').click();
  await expect(frame.getByRole('alert')).toContainText('Choose what to send');

  // The EHR's chart lists the submission and offers the PDF report.
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Submissions' })).toBeVisible();
  await expect(page.locator('section[aria-labelledby="sub-h"] tbody tr').first()).toBeVisible();
  await expect(page.getByRole('link', { name: 'Open PDF' }).first()).toBeVisible();
  await page.screenshot({ path: 'test-results/submission-chart.png', fullPage: true });
  await clinic.close();
});
