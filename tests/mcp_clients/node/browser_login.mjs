// A person signing in with a real browser: Debian's Chromium, driven headlessly by
// Playwright, opens the authorize URL, fills the login form by its labels, first with a
// wrong password (the error line must show), then the right one, and follows the redirect
// to the test's loopback callback. Then the same on a phone-sized screen (390x844, touch):
// the page must not scroll sideways and the submit button must be reachable; this person
// unticks sending, for a read-only grant. Screenshots
// go to ARTIFACT_DIR. Run by tests/it/mcp_clients/real.rs.
//
// Env: AUTHORIZE_URL (desktop run), PHONE_AUTHORIZE_URL (phone run), CALLBACK_PREFIX,
// MAIL_EMAIL, MAIL_PASSWORD, WRONG_PASSWORD, ARTIFACT_DIR, CHROMIUM (default /usr/bin/chromium).
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
const shot = (page, name, fullPage = true) =>
  page.screenshot({ path: join(artifacts, name), fullPage });
const callbackPrefix = env("CALLBACK_PREFIX");

/** Fills the form the way a person does: by the labels they read. */
async function signIn(page, password) {
  await page.getByLabel(/^Full name/).fill("Browser Person");
  await page.getByLabel(/^Email address/).fill(env("MAIL_EMAIL"));
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole("button", { name: "Sign in and allow" }).click();
}

/** What a person on a small screen can and cannot do with the page. */
async function layout(page) {
  return page.evaluate(() => {
    const button = document.querySelector("button[type=submit]");
    button.scrollIntoView({ block: "center" });
    const box = button.getBoundingClientRect();
    const input = document.querySelector("input[name=email]");
    return {
      viewportWidth: window.innerWidth,
      viewportHeight: window.innerHeight,
      scrollWidth: document.documentElement.scrollWidth,
      button: { left: box.left, right: box.right, top: box.top, bottom: box.bottom, height: box.height },
      inputFontPx: parseFloat(getComputedStyle(input).fontSize),
    };
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const report = {};
try {
  // Desktop: wrong password first, then the right one.
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await desktop.newPage();
  await page.goto(env("AUTHORIZE_URL"));
  report.title = await page.title();
  await shot(page, "login-desktop.png");
  // The policy choice starts on "Ask me first" (recommended); picked by its label.
  report.desktopAskChecked = await page.getByRole("radio", { name: /Ask me first/ }).isChecked();
  report.desktopPolicies = await page.getByRole("radio").count();
  await signIn(page, env("WRONG_PASSWORD"));
  const error = page.getByRole("alert");
  await error.waitFor({ state: "visible" });
  report.errorText = (await error.innerText()).trim();
  report.emailKept = await page.getByLabel(/^Email address/).inputValue();
  report.focusAfterError = await page.evaluate(() => document.activeElement?.name ?? null);
  await shot(page, "login-error-desktop.png");
  // A separate SMTP login appears only when the "same login" box is unticked.
  const same = page.getByRole("checkbox", { name: /same username and password/ });
  const smtpPassword = page.getByLabel(/^SMTP password/);
  report.smtpHiddenWhenSame = !(await smtpPassword.isVisible());
  await same.uncheck();
  report.smtpShownWhenSeparate = await smtpPassword.isVisible();
  await shot(page, "login-separate-smtp-desktop.png");
  await same.check();
  await signIn(page, env("MAIL_PASSWORD"));
  await page.waitForURL((url) => url.href.startsWith(callbackPrefix));
  report.desktopCallback = page.url();
  report.desktopCallbackText = (await page.locator("body").innerText()).trim();
  await desktop.close();

  // Phone: the page fits, the button is reachable, and a tap signs in.
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const mobile = await phone.newPage();
  await mobile.goto(env("PHONE_AUTHORIZE_URL"));
  await shot(mobile, "login-phone.png");
  await shot(mobile, "login-phone-first-screen.png", false);
  report.phone = await layout(mobile);
  await mobile.getByLabel(/^Email address/).fill(env("MAIL_EMAIL"));
  await mobile.getByLabel(/^Password/).fill(env("WRONG_PASSWORD"));
  await mobile.getByRole("button", { name: "Sign in and allow" }).tap();
  await mobile.getByRole("alert").waitFor({ state: "visible" });
  report.phoneAfterError = await layout(mobile);
  await shot(mobile, "login-error-phone.png");
  await mobile.getByLabel(/^Password/).fill(env("MAIL_PASSWORD"));
  // This person grants reading only.
  await mobile.getByRole("radio", { name: /Read only/ }).check();
  await mobile.getByRole("button", { name: "Sign in and allow" }).tap();
  await mobile.waitForURL((url) => url.href.startsWith(callbackPrefix));
  report.phoneCallback = mobile.url();
  await phone.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
