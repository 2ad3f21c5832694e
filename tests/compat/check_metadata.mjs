// Checks a CSDL XML document ($metadata) with the OASIS reference tools and fails on any
// error or warning they report:
//   1. odata-csdl's XML → JSON converter (element structure, attributes, name clashes);
//   2. odata-openapi's CSDL → OpenAPI converter (unresolvable types, annotation targets,
//      unknown action bindings, authorization records…);
//   3. every entity set and every bound action of the document becomes a path, so the
//      actions' namespace and binding resolve the way clients call them;
//   4. optionally, that a CSDL JSON document (OpenTI's own rendering) has exactly the
//      content the reference converter derives from the XML.
// The converters' CLIs only print their messages and still exit 0, hence this script.
//
// Usage: node check_metadata.mjs METADATA.xml [METADATA.json]

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { xml2json } = require("odata-csdl");
const { csdl2openapi } = require("odata-openapi");

const [xmlPath, jsonPath] = process.argv.slice(2);
if (!xmlPath) {
  console.error("usage: node check_metadata.mjs METADATA.xml [METADATA.json]");
  process.exit(2);
}

const problems = [];
const report = (stage, message) => problems.push(`${stage}: ${message}`);
const text = (m) => (typeof m === "string" ? m : m.message ?? JSON.stringify(m));

let csdl;
try {
  const messages = [];
  csdl = xml2json(readFileSync(xmlPath, "utf8"), { messages });
  for (const m of messages) report("odata-csdl", text(m));
} catch (e) {
  report("odata-csdl", `cannot convert: ${e.message}`);
}

if (csdl) {
  // The converter mutates its input; keep the pristine JSON for the comparison.
  const pristine = structuredClone(csdl);
  const messages = [];
  const openapi = csdl2openapi(structuredClone(csdl), { messages, skipBatchPath: true });
  for (const m of messages) report("odata-openapi", text(m));

  const paths = Object.keys(openapi.paths ?? {});
  const [containerNs, containerName] = splitQualified(csdl.$EntityContainer ?? "");
  const container = csdl[containerNs]?.[containerName] ?? {};
  const sets = Object.entries(container).filter(([name, v]) => !name.startsWith("$") && !name.startsWith("@") && v.$Collection);
  for (const [set, { $Type }] of sets) {
    if (!paths.includes(`/${set}`)) report("paths", `no path for entity set ${set}`);
    for (const [ns, schema] of Object.entries(csdl).filter(([k]) => !k.startsWith("$"))) {
      for (const [name, overloads] of Object.entries(schema)) {
        if (!Array.isArray(overloads)) continue;
        for (const o of overloads.filter((o) => o.$Kind === "Action" && o.$IsBound)) {
          const binding = o.$Parameter?.[0] ?? {};
          if (binding.$Type !== $Type) continue;
          const [typeNs, typeName] = splitQualified($Type);
          const key = (csdl[typeNs]?.[typeName]?.$Key ?? []).join(",");
          const path = binding.$Collection ? `/${set}/${ns}.${name}` : `/${set}({${key}})/${ns}.${name}`;
          if (!paths.includes(path)) report("paths", `no path ${path} for bound action ${ns}.${name}`);
        }
      }
    }
  }

  if (jsonPath) {
    const own = JSON.parse(readFileSync(jsonPath, "utf8"));
    for (const d of differences(pristine, own, "")) report("CSDL JSON", d);
  }
}

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`${xmlPath}: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`${xmlPath}: no errors or warnings${jsonPath ? `; ${jsonPath} matches it` : ""}`);

function splitQualified(name) {
  const dot = name.lastIndexOf(".");
  return [name.slice(0, dot), name.slice(dot + 1)];
}

// Paths where the two JSON values differ (object member order is irrelevant in CSDL JSON).
function differences(expected, actual, at) {
  if (typeof expected !== typeof actual || Array.isArray(expected) !== Array.isArray(actual) || (expected === null) !== (actual === null)) {
    return [`${at || "/"}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
  }
  if (expected && typeof expected === "object") {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    return [...keys].flatMap((k) => differences(expected[k], actual[k], `${at}/${k}`));
  }
  return expected === actual ? [] : [`${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}
