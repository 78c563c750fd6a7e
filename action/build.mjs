// Bundles the action with esbuild: one CommonJS file per phase in dist/ (committed;
// GitHub runs them as they are), or with --tests the unit tests into build/test/.
//
// The target is Node 20, the oldest Node this bundle is run with (the tests run on the
// machine's Node; GitHub's runner runs it on the Node that action.yml names, node24).
// CommonJS, so __dirname names dist/ (where heartbeat.js lies) on every runner.
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tests = process.argv.includes("--tests");

const common = {
  absWorkingDir: here,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap: false,
  // Each phase is one file GitHub runs as it is; minified, each stays well under 1 MiB
  // (the repository keeps no file that large outside docs/).
  minify: !tests,
  legalComments: "eof",
  logLevel: "warning",
  // The same bytes on every machine: no paths, no times.
  charset: "utf8",
  // Paths in the bundle stay relative to action/ even through a symlinked node_modules.
  preserveSymlinks: true,
};

if (tests) {
  rmSync(join(here, "build/test"), { recursive: true, force: true });
  const entries = readdirSync(join(here, "test"))
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => `test/${f}`);
  await build({ ...common, entryPoints: entries, outdir: "build/test", outExtension: { ".js": ".cjs" } });
} else {
  rmSync(join(here, "dist"), { recursive: true, force: true });
  await build({
    ...common,
    entryPoints: ["src/main.ts", "src/post.ts", "src/heartbeat.ts"],
    outdir: "dist",
  });
}
