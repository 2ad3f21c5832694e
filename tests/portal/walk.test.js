// The main walk (issue 6): sign in → enable the custom TI application → save the details
// file → a script uses it to create a definition and an IOC through the API → the
// definition appears in the portal → a sensor sends a matching event → the alert appears in
// the queue without a reload → open it, check every field, resolve it. On the way: generate
// a token, add and revoke a secret, applications, the dashboard and a phone-sized viewport.
"use strict";

const { test } = require("node:test");
const fs = require("node:fs");
const { URL_BASE, env, launch, newPage, signIn, shot, cli, python, eventually, text, noPageErrors, workFile, assert } = require("./lib");

const TITLE = "Beacon to a known command-and-control address";
const C2 = "198.51.100.23";
const DEVICE = "ws-17.acme.example";

test("the portal walk: custom TI → API → telemetry → live alert → triage", async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const page = await newPage(browser);
  const base = URL_BASE();
  const state = {};

  await t.test("sign in with the keyboard alone", async () => {
    await page.goto(`${base}/portal/`);
    assert.match(page.url(), /\/portal\/signin/);
    await page.waitForSelector("#email:focus");
    await shot(page, "signin");
    await page.keyboard.type(env("PORTAL_ADMIN_EMAIL"));
    await page.keyboard.press("Tab");
    await page.keyboard.type(env("PORTAL_ADMIN_PASSWORD"));
    await Promise.all([page.waitForURL(`${base}/portal/`), page.keyboard.press("Enter")]);
    assert.equal(await text(page, "h1"), "Dashboard");
    // The first Tab stop is the skip link, and it leads to the content.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "main");
  });

  await t.test("enable the custom TI application and save the details file", async () => {
    await page.click("nav[aria-label=Main] >> text=Settings");
    await page.waitForURL(`${base}/portal/settings/custom-ti`);
    await shot(page, "settings-custom-ti-enable");
    await page.click("button:has-text(\"Enable custom TI application\")");
    await page.waitForSelector("#client-secret");
    await shot(page, "settings-custom-ti-secret");
    const shown = {};
    for (const [id, key] of [["app-name", "ApplicationName"], ["tenant-id", "TenantId"], ["client-id", "ClientId"], ["client-secret", "ClientSecret"], ["auth-url", "AuthorizationUrl"], ["resource", "Resource"], ["api-url", "ApiUrl"]]) {
      shown[key] = await page.inputValue(`#${id}`);
    }
    assert.equal(shown.ApplicationName, "Custom TI application");
    assert.equal(shown.AuthorizationUrl, `${base}/${shown.TenantId}/oauth2/token`);
    assert.equal(shown.ApiUrl, `${base}/V1.0/`);
    assert.equal(shown.Resource, "https://graph.windows.net");
    assert.match(shown.ClientSecret, /^[A-Za-z0-9_-]{43}$/);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save-details")]);
    assert.equal(download.suggestedFilename(), "custom-ti-app.json");
    state.detailsPath = workFile("custom-ti-app.json");
    await download.saveAs(state.detailsPath);
    const details = JSON.parse(fs.readFileSync(state.detailsPath, "utf8"));
    assert.deepEqual(Object.keys(details).sort(), ["ApiUrl", "ApplicationName", "AuthorizationUrl", "ClientId", "ClientSecret", "Resource", "TenantId"]);
    assert.deepEqual(details, shown);
    state.details = details;

    // The secret is shown exactly once.
    await page.goto(`${base}/portal/settings/custom-ti`);
    assert.equal(await page.locator("#client-secret").count(), 0);
    assert.equal(await page.inputValue("#client-id"), details.ClientId);
    assert.equal(await page.content().then((html) => html.includes(details.ClientSecret)), false);
  });

  await t.test("a script creates a definition and an IOC through the API with the saved details", async () => {
    const out = python(["setup", state.detailsPath, TITLE, "IpAddress", C2]);
    state.token = out.token;
    assert.ok(out.definition.Id > 0 && out.ioc.Id > 0);
    state.definitionId = out.definition.Id;
    state.iocId = out.ioc.Id;
  });

  await t.test("the definition appears in the portal, with its IOC", async () => {
    await page.click("nav[aria-label=Main] >> text=Definitions");
    await page.waitForSelector(`tr[data-definition-id="${state.definitionId}"]`);
    assert.equal(await text(page, `tr[data-definition-id="${state.definitionId}"] td:nth-child(2)`), TITLE);
    await shot(page, "definitions");
    // Search and filters go through the OData layer.
    await page.fill("#f-q", "COMMAND-AND");
    await page.selectOption("#f-severity", "High");
    await page.selectOption("#f-enabled", "true");
    await Promise.all([page.waitForURL(/q=COMMAND-AND/), page.click("form[role=search] button[type=submit]")]);
    assert.equal(await page.locator(`tr[data-definition-id="${state.definitionId}"]`).count(), 1);
    await page.selectOption("#f-severity", "Low");
    await Promise.all([page.waitForURL(/severity=Low/), page.click("form[role=search] button[type=submit]")]);
    assert.equal(await page.locator(`tr[data-definition-id="${state.definitionId}"]`).count(), 0);

    await page.goto(`${base}/portal/definitions/${state.definitionId}`);
    assert.equal(await text(page, "h1"), TITLE);
    const row = page.locator(`tr[data-ioc-id="${state.iocId}"]`);
    assert.equal(await row.locator("td.value").innerText(), C2);
    assert.equal(await row.locator("[data-field=HitCount]").innerText(), "0");
    await shot(page, "definition");
    // Edit and delete pages, left without changing anything.
    await page.click(".toolbar >> text=Edit");
    assert.equal(await page.inputValue("#f-Title"), TITLE);
    await shot(page, "definition-edit");
    await page.goto(`${base}/portal/definitions/${state.definitionId}`);
    await page.click(".toolbar >> text=Delete");
    assert.equal(await text(page, "[data-ioc-count]"), "1");
    await shot(page, "definition-delete");
    await Promise.all([page.waitForURL(`${base}/portal/definitions/${state.definitionId}`), page.click("text=Keep it")]);
  });

  await t.test("generate a token in the portal and use it", async () => {
    await page.goto(`${base}/portal/settings/custom-ti`);
    await page.click("button:has-text(\"Generate token\")");
    const token = await page.inputValue("#access-token");
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    await shot(page, "settings-custom-ti-token");
    const out = python(["get", `${state.details.ApiUrl}AlertDefinitions(${state.definitionId})`, token]);
    assert.equal(out.status, 200);
    assert.equal(out.body.Title, TITLE);
  });

  await t.test("add a secret with a description and a validity, then revoke it", async () => {
    await page.fill("#secret-description", "Walk rotation <b>2027</b>");
    await page.selectOption("#secret-validity", "2y");
    await page.click("button:has-text(\"Add secret\")");
    const secret = await page.inputValue("#client-secret");
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    const href = await page.getAttribute("#save-details", "href");
    const saved = JSON.parse(Buffer.from(href.split(",")[1], "base64").toString("utf8"));
    assert.equal(saved.ClientSecret, secret);
    assert.equal(saved.ClientId, state.details.ClientId);
    const row = page.locator("tr", { hasText: "Walk rotation <b>2027</b>" });
    assert.equal(await row.count(), 1);
    const expires = await row.locator("td:nth-child(4)").innerText();
    assert.equal(expires.slice(0, 4), String(new Date().getUTCFullYear() + 2));
    await shot(page, "settings-custom-ti-new-secret");
    await Promise.all([page.waitForURL(/done=revoked/), row.locator("button", { hasText: "Revoke" }).click()]);
    assert.equal(page.dialogs.length, 1, "revoking asks for confirmation");
    assert.equal(await page.locator("tr", { hasText: "Walk rotation <b>2027</b>" }).locator("td:nth-child(5)").innerText(), "Revoked");
    // The original secret still works; the revoked one does not.
    const ok = python(["ingest", base, state.details.TenantId, state.details.ClientId, state.details.ClientSecret, "/dev/null"]);
    assert.notEqual(ok.status, 401);
    assert.throws(() => python(["ingest", base, state.details.TenantId, state.details.ClientId, secret, "/dev/null"]));
  });

  await t.test("a matching event raises an alert that appears in the queue without a reload", async () => {
    const sensor = JSON.parse(cli(["app", "create", "--tenant", env("PORTAL_TENANT"), "--name", "sensor-hq", "--roles", "Telemetry.Ingest", "--json"]));
    await page.click("nav[aria-label=Main] >> text=Alerts");
    await page.waitForSelector("#alert-rows[data-live=open]");
    await page.evaluate(() => { window.__sameDocument = "yes"; });
    const now = Date.now();
    state.first = new Date(now - 60000).toISOString();
    state.last = new Date(now - 30000).toISOString();
    const events = [
      { Timestamp: state.first, DeviceId: "dev-0017", DeviceName: DEVICE, ActionType: "ConnectionSuccess", RemoteIP: C2, RemotePort: 443, InitiatingProcessFileName: "rundll32.exe" },
      { Timestamp: state.last, DeviceId: "dev-0017", DeviceName: DEVICE, ActionType: "ConnectionSuccess", RemoteIP: C2, RemotePort: 443, InitiatingProcessFileName: "rundll32.exe" },
    ];
    const file = workFile("events.ndjson");
    fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    const out = python(["ingest", base, env("PORTAL_TENANT"), sensor.ClientId, sensor.ClientSecret, file]);
    assert.equal(out.status, 200, JSON.stringify(out));
    assert.equal(out.result.accepted, 2);
    assert.equal(out.result.alerts, 1);
    const row = page.locator("#alert-rows tr[data-alert-id]", { hasText: TITLE });
    await row.waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(() => window.__sameDocument), "yes", "the page was not reloaded");
    state.alertId = Number(await row.getAttribute("data-alert-id"));
    assert.match(await page.locator("#live-status").innerText(), /New High alert/);
    await shot(page, "alerts-live");
    noPageErrors(page);
  });

  await t.test("the alert page shows every field, and the alert can be resolved", async () => {
    await Promise.all([page.waitForURL(`${base}/portal/alerts/${state.alertId}`), page.click(`#alert-rows tr[data-alert-id="${state.alertId}"] a`)]);
    const field = (name) => text(page, `[data-field=${name}]`);
    const utc = (iso) => iso.slice(0, 19).replace("T", " ") + " UTC";
    assert.equal(await field("Title"), TITLE);
    assert.equal(await field("Severity"), "High");
    assert.equal(await field("Status"), "New");
    assert.equal(await field("Category"), "CommandAndControl");
    assert.equal(await field("Description"), "A workstation contacted a known command-and-control address.");
    assert.equal(await field("RecommendedAction"), "Isolate the machine and collect a memory image.");
    assert.match(await field("Device"), new RegExp(DEVICE.replace(/\./g, "\\.")));
    assert.equal(await field("DeviceId"), "dev-0017");
    assert.equal(await field("EventCount"), "2");
    assert.equal(await field("FirstEventTime"), utc(state.first));
    assert.equal(await field("LastEventTime"), utc(state.last));
    assert.equal(await field("DetectionSource"), "CustomerTI");
    assert.equal(await field("IocName"), "IpAddress");
    assert.equal(await field("IocValue"), C2);
    assert.equal(await field("IocUniqueId"), `#${state.iocId}`);
    assert.equal(await field("AlertDefinitionId"), `#${state.definitionId}`);
    const evidence = page.locator("[data-evidence]");
    assert.ok((await evidence.count()) >= 1);
    assert.equal(await evidence.first().locator("[data-evidence-value]").innerText(), C2);
    assert.match(await evidence.first().locator("pre").innerText(), /rundll32\.exe/);
    await shot(page, "alert");

    await page.selectOption("#status", "Resolved");
    await page.selectOption("#classification", "TruePositive");
    await page.fill("#assigned_to", env("PORTAL_ADMIN_EMAIL"));
    await Promise.all([page.waitForURL(/done=saved/), page.click("form >> text=Save")]);
    assert.equal(await field("Status"), "Resolved");
    assert.equal(await field("Classification"), "TruePositive");
    assert.equal(await field("AssignedTo"), env("PORTAL_ADMIN_EMAIL"));
    assert.match(await field("LastModifiedAt"), new RegExp(`by portal:${env("PORTAL_ADMIN_EMAIL")}`));
    await shot(page, "alert-resolved");

    // The queue filters by status, severity and device.
    const listed = async (query) => {
      await page.goto(`${base}/portal/alerts?${query}`);
      return page.locator(`#alert-rows tr[data-alert-id="${state.alertId}"]`).count();
    };
    assert.equal(await listed("status=Resolved&severity=High&device=WS-17"), 1);
    assert.equal(await listed("status=New"), 0);
    assert.equal(await listed("severity=Low"), 0);
    assert.equal(await listed("device=ws-99"), 0);
  });

  await t.test("the definition's IOC shows its hit count and last sighting", async () => {
    await eventually("the hit count", async () => {
      await page.goto(`${base}/portal/definitions/${state.definitionId}`);
      return (await text(page, `tr[data-ioc-id="${state.iocId}"] [data-field=HitCount]`)) === "2";
    });
    assert.match(await text(page, `tr[data-ioc-id="${state.iocId}"] [data-field=LastSeenAt]`), / UTC$/);
    await page.goto(`${base}/portal/iocs?type=IpAddress`);
    assert.equal(await page.locator(`tr[data-ioc-id="${state.iocId}"]`).count(), 1);
    await shot(page, "iocs");
    await page.goto(`${base}/portal/iocs/${state.iocId}`);
    assert.equal(await text(page, "[data-field=HitCount]"), "2");
    await shot(page, "ioc");
  });

  await t.test("the dashboard charts alerts by severity and counts IOCs against the quotas", async () => {
    await page.click("nav[aria-label=Main] >> text=Dashboard");
    assert.ok((await page.locator("figure.chart rect.bar-high").count()) >= 1, "a High bar is drawn");
    assert.match(await text(page, "#top-defs + ol"), new RegExp(TITLE));
    assert.match(await text(page, "#top-devices + ol"), new RegExp(DEVICE.replace(/\./g, "\\.")));
    // Other walks may have added IOCs to this tenant: compare with what the API counts.
    const count = python(["get", `${state.details.ApiUrl}IndicatorsOfCompromise/$count`, state.token]);
    const ipCount = python(["get", `${state.details.ApiUrl}IndicatorsOfCompromise/$count?$filter=Type%20eq%20'IpAddress'`, state.token]);
    assert.equal(await text(page, "tr[data-ioc-type=IpAddress] td"), Number(ipCount.body).toLocaleString("en-US"));
    assert.match(await page.locator(".usage").nth(1).innerText(), new RegExp(`^IOCs\\s+${Number(count.body).toLocaleString("en-US")} of 1,000,000`));
    await shot(page, "dashboard");
  });

  await t.test("other applications are listed with their roles, and one can be created", async () => {
    await page.goto(`${base}/portal/settings/apps`);
    const sensorRow = page.locator("tr", { hasText: "sensor-hq" });
    assert.match(await sensorRow.innerText(), /Telemetry\.Ingest/);
    await page.fill("#app-name-new", "edge-forwarder");
    await page.click("button:has-text(\"Create application\")");
    assert.match(await page.inputValue("#client-secret"), /^[A-Za-z0-9_-]{43}$/);
    assert.match(await page.locator("tr", { hasText: "edge-forwarder" }).innerText(), /Telemetry\.Ingest/);
    await shot(page, "settings-apps");
    await page.click("a:has-text(\"sensor-hq\")");
    assert.match(await text(page, "h2#app-title"), /sensor-hq/);
    assert.equal(await page.locator("tr[data-secret-id]").count(), 1);
    await shot(page, "settings-app");
    await page.click("nav.tabs >> text=Users");
    assert.match(await text(page, "main table"), new RegExp(env("PORTAL_ANALYST_EMAIL")));
    await shot(page, "settings-users");
    noPageErrors(page);
  });

  await t.test("the queue and an alert read well at phone width", async () => {
    const phone = await newPage(browser, { viewport: { width: 390, height: 844 } });
    await signIn(phone, env("PORTAL_ADMIN_EMAIL"), env("PORTAL_ADMIN_PASSWORD"));
    for (const [path, name] of [["/portal/alerts", "phone-alerts"], [`/portal/alerts/${state.alertId}`, "phone-alert"], ["/portal/", "phone-dashboard"]]) {
      await phone.goto(`${base}${path}`);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px at phone width`);
      await shot(phone, name);
    }
    noPageErrors(phone);
    await phone.context().close();
  });
});
