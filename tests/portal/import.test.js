// The import walk (issue 6): a definition made in the portal, then a 1,000-row CSV with one
// bad row (nothing is stored and the row is named), then the corrected file (all stored),
// with the progress indicator on the way.
"use strict";

const { test } = require("node:test");
const fs = require("node:fs");
const { URL_BASE, env, launch, newPage, signIn, shot, text, noPageErrors, workFile, assert } = require("./lib");

const BAD_ROW = 500;

/** 1,000 IOCs of every type; row BAD_ROW (1-based, header not counted) can be broken. */
function csv(broken) {
  const lines = ["Type,Value,DetectionFunction,ExpiresAt"];
  for (let i = 1; i <= 1000; i++) {
    if (broken && i === BAD_ROW) {
      lines.push("Sha1,not-a-sha1-value,Equals,");
      continue;
    }
    const hex = (n, len) => n.toString(16).padStart(len, "0");
    switch (i % 6) {
      case 0: lines.push(`Sha256,${hex(i, 64)},Equals,`); break;
      case 1: lines.push(`Sha1,${hex(i, 40)},,`); break;
      case 2: lines.push(`IpAddress,10.${(i >> 8) & 255}.${i & 255}.7,Equals,2030-01-01T00:00:00Z`); break;
      case 3: lines.push(`DomainName,host${i}.bad.example,EndWith,`); break;
      case 4: lines.push(`Url,"http://download${i}.bad.example/payload?a=1,b=2",StartWith,`); break;
      default: lines.push(`FileName,dropper${i}.exe,Equals,2031-06-30`); break;
    }
  }
  return lines.join("\r\n") + "\r\n";
}

test("import IOCs from a CSV file: atomic, with row errors and progress", async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const page = await newPage(browser);
  const base = URL_BASE();
  let definitionUrl;

  await t.test("create a definition in the portal", async () => {
    await signIn(page, env("PORTAL_ADMIN_EMAIL"), env("PORTAL_ADMIN_PASSWORD"));
    await page.goto(`${base}/portal/definitions`);
    await page.click("text=New definition");
    await page.fill("#f-Title", "Known ransomware staging infrastructure");
    await page.fill("#f-Name", "ransomware-staging-feed");
    await page.selectOption("#f-Severity", "Medium");
    await page.selectOption("#f-Category", "Ransomware");
    await page.fill("#f-UxDescription", "A device touched infrastructure used to stage ransomware.");
    await page.fill("#f-RecommendedAction", "Check the device for encryption tools and lateral movement.");
    await shot(page, "definition-new");
    await Promise.all([page.waitForURL(/\/portal\/definitions\/\d+\?done=created/), page.click("button:has-text(\"Create definition\")")]);
    definitionUrl = page.url().split("?")[0];
    assert.equal(await text(page, "h1"), "Known ransomware staging infrastructure");
  });

  await t.test("a file with one bad row stores nothing and names the row", async () => {
    await page.click("text=Import IOCs from CSV");
    await page.waitForSelector("#import-form");
    await shot(page, "import");
    const file = workFile("iocs-broken.csv");
    fs.writeFileSync(file, csv(true));
    await page.setInputFiles("#import-file", file);
    await page.click("#import-form button[type=submit]");
    await page.waitForSelector("#import-outcome[data-outcome=invalid]", { timeout: 30000 });
    assert.equal(await page.isVisible("#import-progress"), true, "the progress indicator is shown");
    assert.equal(await page.getAttribute("#import-bar", "value"), "100");
    assert.equal(await page.getAttribute("#import-outcome", "data-error-count"), "1");
    const errors = page.locator("#import-outcome li");
    assert.equal(await errors.count(), 1);
    assert.equal(await errors.first().getAttribute("data-row"), String(BAD_ROW));
    assert.match(await errors.first().innerText(), new RegExp(`^Row ${BAD_ROW} \\(line ${BAD_ROW + 1}\\): Value: .*SHA1`));
    assert.match(await text(page, "#import-outcome"), /Nothing was imported/);
    await shot(page, "import-errors");

    await page.goto(definitionUrl);
    assert.equal(await text(page, "section[aria-labelledby=def-iocs] tbody"), "No IOCs match.");
  });

  await t.test("the corrected file imports all 1,000 rows at once", async () => {
    await page.goto(`${definitionUrl}/import`);
    const file = workFile("iocs-good.csv");
    fs.writeFileSync(file, csv(false));
    await page.setInputFiles("#import-file", file);
    await page.click("#import-form button[type=submit]");
    await page.waitForSelector("#import-outcome[data-outcome=imported]", { timeout: 30000 });
    assert.equal(await page.getAttribute("#import-outcome", "data-count"), "1000");
    assert.equal(await text(page, "#import-stage"), "Done.");
    await shot(page, "import-done");

    await page.goto(definitionUrl);
    assert.match(await text(page, ".pager .count"), /Showing 1–50 of 1000/);
    // The IOC list's filters: by type, by value, by definition, with paging.
    const id = definitionUrl.split("/").pop();
    await page.goto(`${base}/portal/iocs?definition=${id}&type=Url`);
    assert.match(await text(page, ".pager .count"), /of 167/);
    assert.match(await text(page, "tbody tr td.value"), /^http:\/\/download\d+\.bad\.example\/payload\?a=1,b=2$/);
    await page.goto(`${base}/portal/iocs?definition=${id}&q=dropper995`);
    assert.equal(await page.locator("tbody tr[data-ioc-id]").count(), 1);
    await page.goto(`${base}/portal/iocs?definition=${id}&page=2`);
    assert.match(await text(page, ".pager .count"), /Showing 51–100 of 1000/);
    await shot(page, "iocs-imported");
    noPageErrors(page);
  });
});
