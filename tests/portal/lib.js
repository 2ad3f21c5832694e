// Shared helpers of the portal walks: the browser, sign-in, screenshots, the CLI and plain
// HTTP calls (the way a script outside the browser would talk to OpenTI).
"use strict";

const { chromium } = require("playwright-core");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const assert = require("node:assert/strict");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the walks with tests/portal/run.sh`);
  return value;
};

const URL_BASE = () => env("PORTAL_URL");

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

async function launch() {
  return chromium.launch({
    executablePath: process.env.PORTAL_CHROMIUM || "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
}

/** A fresh browser context at desktop size (1280×800) that fails the test on page errors. */
async function newPage(browser, options = {}) {
  const context = await browser.newContext({
    viewport: options.viewport || { width: 1280, height: 800 },
    acceptDownloads: true,
    ...options.context,
  });
  const page = await context.newPage();
  page.errors = [];
  page.dialogs = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("console", (m) => {
    // Pages answered with 403/404 on purpose log "Failed to load resource"; that is no error.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.errors.push(m.text());
  });
  page.on("dialog", async (d) => {
    page.dialogs.push(d.message());
    await d.accept();
  });
  return page;
}

async function signIn(page, email, password) {
  await page.goto(`${URL_BASE()}/portal/`);
  await page.waitForSelector("#email");
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForLoadState("load"), page.waitForURL((u) => !u.pathname.endsWith("/signin")), page.click("button[type=submit]")]);
}

/** Saves a full-page screenshot as docs/screenshots/NAME.png. */
async function shot(page, name) {
  const dir = env("PORTAL_SCREENSHOTS");
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true, animations: "disabled" });
}

/** Runs `openti --data-dir … ARGS` and returns stdout. */
function cli(args, input) {
  return execFileSync(env("OPENTI_BIN"), ["--data-dir", env("OPENTI_DATA_DIR"), ...args], {
    input,
    encoding: "utf8",
  });
}

/** Runs the stdlib-only Python client (tests/portal/client.py) and parses its JSON output. */
function python(args) {
  const out = execFileSync("python3", [path.join(__dirname, "client.py"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return JSON.parse(out);
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
async function eventually(what, check, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function text(page, selector) {
  return page.locator(selector).first().innerText();
}

function noPageErrors(page) {
  assert.deepEqual(page.errors, [], `the page reported errors: ${page.errors.join("; ")}`);
}

/** A scratch file in the run's work directory. */
function workFile(name) {
  return path.join(env("PORTAL_WORK"), name);
}

module.exports = { URL_BASE, env, launch, newPage, signIn, shot, cli, python, eventually, text, noPageErrors, workFile, assert };
