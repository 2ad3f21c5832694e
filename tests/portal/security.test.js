// Security in a real browser (issue 6): user text renders as text, cookies carry HttpOnly and
// SameSite=Strict, a form post without the CSRF token is refused, an analyst gets 403 on
// settings, a user of another tenant gets 404 on this tenant's URLs, sign-in failures are
// rate-limited, and a one-time password must be changed at the first sign-in.
// crates/openti/tests/portal.rs checks the same at the HTTP level.
"use strict";

const { test } = require("node:test");
const fs = require("node:fs");
const { URL_BASE, env, launch, newPage, signIn, shot, cli, python, text, noPageErrors, workFile, assert } = require("./lib");

const XSS = "<script>alert(1)</script>";

test("portal security in the browser", async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const base = URL_BASE();
  const admin = await newPage(browser);
  await signIn(admin, env("PORTAL_ADMIN_EMAIL"), env("PORTAL_ADMIN_PASSWORD"));
  const ids = {};

  await t.test("a definition titled <script>alert(1)</script> renders as text", async () => {
    await admin.goto(`${base}/portal/definitions/new`);
    await admin.fill("#f-Title", XSS);
    await admin.fill("#f-Name", `<img src=x onerror=alert(2)>`);
    await admin.fill("#f-UxDescription", `"><svg onload=alert(3)>`);
    await Promise.all([admin.waitForURL(/done=created/), admin.click("button:has-text(\"Create definition\")")]);
    ids.definition = Number(admin.url().match(/definitions\/(\d+)/)[1]);
    assert.equal(await text(admin, "h1"), XSS);
    assert.equal(await text(admin, "[data-field=Name]"), "<img src=x onerror=alert(2)>");
    assert.equal(await text(admin, "[data-field=UxDescription]"), `"><svg onload=alert(3)>`);
    await admin.goto(`${base}/portal/definitions?q=script`);
    assert.equal(await text(admin, `tr[data-definition-id="${ids.definition}"] td.title-cell`), XSS);
    assert.equal(await admin.locator("main img, main svg[onload]").count(), 0);
    assert.deepEqual(admin.dialogs, [], "no script ran");
    noPageErrors(admin);
  });

  await t.test("an IOC and an alert of this tenant exist", async () => {
    await admin.goto(`${base}/portal/iocs/new?definition=${ids.definition}`);
    await admin.selectOption("#f-type", "DomainName");
    await admin.selectOption("#f-function", "EndWith");
    await admin.fill("#f-value", "Evil-Staging.Example.");
    await shot(admin, "ioc-new");
    await Promise.all([admin.waitForURL(/done=created/), admin.click("button:has-text(\"Create IOC\")")]);
    const row = admin.locator("tr[data-ioc-id]").first();
    ids.ioc = Number(await row.getAttribute("data-ioc-id"));
    assert.equal(await row.locator("td.value").innerText(), "evil-staging.example", "the value was normalised like the API does");
    const sensor = JSON.parse(cli(["app", "create", "--tenant", env("PORTAL_TENANT"), "--name", "sensor-security", "--roles", "Telemetry.Ingest", "--json"]));
    const file = workFile("dns.ndjson");
    fs.writeFileSync(file, JSON.stringify({ Timestamp: new Date().toISOString(), DeviceName: "laptop-9", DnsQuery: "cdn.evil-staging.example" }) + "\n");
    const out = python(["ingest", base, env("PORTAL_TENANT"), sensor.ClientId, sensor.ClientSecret, file]);
    assert.equal(out.result.alerts, 1, JSON.stringify(out));
    await admin.goto(`${base}/portal/alerts?device=laptop-9`);
    ids.alert = Number(await admin.locator("#alert-rows tr[data-alert-id]").first().getAttribute("data-alert-id"));
    assert.equal(await text(admin, `tr[data-alert-id="${ids.alert}"] .title-cell a`), XSS);
    await admin.goto(`${base}/portal/alerts/${ids.alert}`);
    assert.equal(await text(admin, "[data-field=Title]"), XSS);
    assert.deepEqual(admin.dialogs, []);
  });

  await t.test("session cookies are HttpOnly and SameSite=Strict", async () => {
    const cookies = await admin.context().cookies();
    const session = cookies.find((c) => c.name === "openti_session");
    assert.ok(session, "a session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.equal(session.path, "/portal");
    assert.equal(session.secure, false, "not Secure over plain http");
    assert.equal(await admin.evaluate(() => document.cookie), "", "scripts cannot read it");
  });

  await t.test("a form post without the CSRF token is refused", async () => {
    const form = { title: "forged", name: "forged", severity: "High", category: "Malware", ux_description: "x" };
    const without = await admin.request.post(`${base}/portal/definitions`, { form, maxRedirects: 0 });
    assert.equal(without.status(), 403);
    const wrong = await admin.request.post(`${base}/portal/definitions`, { form: { ...form, csrf: "not-the-token" }, maxRedirects: 0 });
    assert.equal(wrong.status(), 403);
    const token = await admin.getAttribute("body", "data-csrf");
    const right = await admin.request.post(`${base}/portal/definitions`, { form: { ...form, csrf: token }, maxRedirects: 0 });
    assert.equal(right.status(), 303);
    const signout = await admin.request.post(`${base}/portal/signout`, { maxRedirects: 0 });
    assert.equal(signout.status(), 403, "even sign-out needs the token");
  });

  await t.test("an analyst triages alerts but gets 403 on settings", async () => {
    const analyst = await newPage(browser);
    await signIn(analyst, env("PORTAL_ANALYST_EMAIL"), env("PORTAL_ANALYST_PASSWORD"));
    assert.equal(await analyst.locator("nav[aria-label=Main] >> text=Settings").count(), 0);
    for (const path of ["/portal/settings/custom-ti", "/portal/settings/apps", "/portal/settings/users"]) {
      const response = await analyst.goto(`${base}${path}`);
      assert.equal(response.status(), 403, path);
    }
    await shot(analyst, "analyst-forbidden");
    const token = await analyst.getAttribute("body", "data-csrf");
    const enable = await analyst.request.post(`${base}/portal/settings/custom-ti/token`, { form: { csrf: token }, maxRedirects: 0 });
    assert.equal(enable.status(), 403);
    // Content is read-only for analysts…
    await analyst.goto(`${base}/portal/definitions/${ids.definition}`);
    assert.equal(await analyst.locator(".toolbar").count(), 0, "no edit, disable, import or delete buttons");
    assert.equal((await analyst.goto(`${base}/portal/definitions/${ids.definition}/edit`)).status(), 403);
    // …and alerts are theirs to triage.
    await analyst.goto(`${base}/portal/alerts/${ids.alert}`);
    await analyst.selectOption("#status", "InProgress");
    await analyst.fill("#assigned_to", env("PORTAL_ANALYST_EMAIL"));
    await Promise.all([analyst.waitForURL(/done=saved/), analyst.click("form >> text=Save")]);
    assert.equal(await text(analyst, "[data-field=Status]"), "In progress");
    noPageErrors(analyst);
    await analyst.context().close();
  });

  await t.test("a user of another tenant gets 404 on this tenant's URLs", async () => {
    const other = await newPage(browser);
    await signIn(other, env("PORTAL_OTHER_EMAIL"), env("PORTAL_OTHER_PASSWORD"));
    for (const path of [
      `/portal/definitions/${ids.definition}`,
      `/portal/definitions/${ids.definition}/edit`,
      `/portal/definitions/${ids.definition}/import`,
      `/portal/iocs/${ids.ioc}`,
      `/portal/alerts/${ids.alert}`,
    ]) {
      const response = await other.goto(`${base}${path}`);
      assert.equal(response.status(), 404, path);
      assert.equal(await other.content().then((h) => h.includes("alert(1)")), false, `${path} leaks nothing`);
    }
    await shot(other, "other-tenant-404");
    await other.goto(`${base}/portal/alerts`);
    const token = await other.getAttribute("body", "data-csrf");
    for (const path of [`/portal/alerts/${ids.alert}`, `/portal/definitions/${ids.definition}/delete`, `/portal/iocs/${ids.ioc}/enabled`]) {
      const response = await other.request.post(`${base}${path}`, { form: { csrf: token, status: "Resolved", enabled: "false" }, maxRedirects: 0 });
      assert.equal(response.status(), 404, `POST ${path}`);
    }
    await other.goto(`${base}/portal/alerts`);
    assert.equal(await other.locator(`tr[data-alert-id="${ids.alert}"]`).count(), 0);
    await other.context().close();
    // Still there for its own tenant.
    assert.equal((await admin.goto(`${base}/portal/definitions/${ids.definition}`)).status(), 200);
  });

  await t.test("a one-time password must be changed at the first sign-in", async () => {
    const newcomer = await newPage(browser);
    await signIn(newcomer, env("PORTAL_NEWCOMER_EMAIL"), env("PORTAL_NEWCOMER_PASSWORD"));
    assert.match(newcomer.url(), /\/portal\/password$/);
    await newcomer.goto(`${base}/portal/alerts`);
    assert.match(newcomer.url(), /\/portal\/password$/, "nothing else opens before the change");
    await shot(newcomer, "password-change");
    await newcomer.fill("#current", env("PORTAL_NEWCOMER_PASSWORD"));
    await newcomer.fill("#new", "a passphrase of my own");
    await newcomer.fill("#confirm", "a passphrase of my own");
    await Promise.all([newcomer.waitForURL(`${base}/portal/`), newcomer.click("button:has-text(\"Change password\")")]);
    await newcomer.click("text=Sign out");
    await newcomer.waitForURL(/\/portal\/signin$/);
    assert.equal((await newcomer.goto(`${base}/portal/alerts`)).url().includes("/signin"), true, "signed out");
    await signIn(newcomer, env("PORTAL_NEWCOMER_EMAIL"), "a passphrase of my own");
    assert.equal(await text(newcomer, "h1"), "Dashboard");
    await newcomer.context().close();
  });

  await t.test("repeated sign-in failures are rate-limited", async () => {
    const guesser = await newPage(browser);
    let status = 0;
    for (let i = 0; i < 6; i++) {
      await guesser.goto(`${base}/portal/signin`);
      await guesser.fill("#email", "ghost@acme.example");
      await guesser.fill("#password", `wrong guess ${i}`);
      const [response] = await Promise.all([guesser.waitForResponse((r) => r.request().method() === "POST"), guesser.click("button[type=submit]")]);
      status = response.status();
      if (i < 5) assert.equal(status, 401, `attempt ${i + 1}`);
    }
    assert.equal(status, 429);
    assert.match(await text(guesser, "main"), /Too many failed sign-ins/);
    await guesser.context().close();
  });
});
