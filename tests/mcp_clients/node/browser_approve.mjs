// A person approving guarded calls on the confirmation page, in Debian's Chromium driven
// headlessly by Playwright: opens SEND_URL (a confirmation link a tool result gave), reads
// the preview, clicks the approving button, then goes back and clicks it again (the page
// must say it was already done); opens CANCEL_URL and clicks Cancel. Screenshots go to
// ARTIFACT_DIR. Run by tests/it/http/mcp/approval_page.rs.
//
// Env: SEND_URL, CANCEL_URL, ARTIFACT_DIR, CHROMIUM (default /usr/bin/chromium).
// Prints one JSON line to stdout: what the browser saw.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const artifacts = env("ARTIFACT_DIR");
mkdirSync(artifacts, { recursive: true });
const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: true });
const heading = async (page) => (await page.getByRole("heading", { level: 1 }).innerText()).trim();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const report = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(env("SEND_URL"));
  report.title = await heading(page);
  report.preview = (await page.locator("main").innerText()).trim();
  report.scripts = await page.locator("script").count();
  await shot(page, "approve-send.png");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.waitForLoadState();
  report.afterSend = await heading(page);
  report.afterSendText = (await page.locator("main").innerText()).trim();
  await shot(page, "approve-sent.png");
  await page.goBack();
  await page.waitForLoadState();
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.waitForLoadState();
  report.afterSecond = await heading(page);
  report.afterSecondText = (await page.locator("main").innerText()).trim();

  await page.goto(env("CANCEL_URL"));
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  await page.waitForLoadState();
  report.afterCancel = await heading(page);
  await shot(page, "approve-cancelled.png");
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
