/**
 * The saga-store command's progress and Ctrl-C: a migrate of 3000 values,
 * paced by --rate so it lasts long enough to be watched, under a
 * pseudo-terminal (util-linux `script`), with stderr a pipe, and stopped
 * by SIGINT midway.
 */
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { RedisSagaStore } from "../src/index";
import { CLI_ORDER_V1 } from "./fixtures/cli-registry";
import { ROOT, cliCommandLine, cliEnv, runCli, startCli } from "./support/cli";
import { uniquePrefix } from "./support/stores";

const SAGAS = 3000;
const url = inject("redisUrl");
const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
let redis: Redis;
let store: RedisSagaStore;

beforeAll(() => {
  redis = new Redis(url);
  store = new RedisSagaStore({ redis, registry: CLI_ORDER_V1, keyPrefix: "unused:" });
});
afterAll(async () => {
  await store.close();
  await redis.quit();
});

/** SAGAS CliOrder values at schema version 1 under a fresh prefix. */
async function plant(): Promise<string> {
  const prefix = uniquePrefix();
  const v1 = new RedisSagaStore({ redis, registry: CLI_ORDER_V1, keyPrefix: prefix });
  const at = new Date();
  for (let start = 0; start < SAGAS; start += 500) {
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        v1.insert("CliOrder", `c-${start + i}`, { total: start + i, metadata: { sagaId: `s-${start + i}`, version: 0, createdAt: at, updatedAt: at, isCompleted: false } }),
      ),
    );
  }
  await v1.close();
  return prefix;
}

const migrate = (prefix: string, rate: number, ...extra: string[]) => [
  "migrate",
  "CliOrder",
  "--registry",
  "test/fixtures/cli-registry.ts",
  "--rate",
  String(rate),
  "--url",
  url,
  "--prefix",
  prefix,
  ...extra,
];

async function schemaVersions(prefix: string): Promise<Record<string, number>> {
  const run = await runCli(["stats", "CliOrder", "--url", url, "--prefix", prefix, "--json"]);
  return JSON.parse(run.stdout).sagas[0].bySchemaVersion;
}

describe("progress", () => {
  it.skipIf(!hasScript)("on a terminal: one bar redrawn in place with done/total, percent, rate and ETA", async () => {
    const prefix = await plant();
    const { stdout } = await promisify(execFile)("script", ["-qfec", cliCommandLine(migrate(prefix, 2000)), "/dev/null"], {
      cwd: ROOT,
      env: cliEnv({ COLUMNS: "200" }),
      timeout: 30_000,
    });
    const bars = [...stdout.matchAll(/\rmigrate CliOrder: working \[[#-]{20}\] (\d+)\/3000 \(counted\) (\d+)% ([\d.]+)\/s ETA ([\d.]+s|\d+m\d+s)/g)];
    // Redrawn while it runs (about 1.5 s at 2000/s, a redraw at most every 100 ms): several states, rising.
    expect(bars.length).toBeGreaterThanOrEqual(3);
    const done = bars.map((bar) => Number(bar[1]));
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(done.some((n) => n > 0 && n < SAGAS)).toBe(true);
    expect(stdout).toMatch(/\rmigrate CliOrder: working \[#{20}\] 3000\/3000 \(counted\) 100% [\d.]+\/s in [\d.]+s/);
    expect(stdout).toMatch(/\rmigrate CliOrder: counted 3000 in /);
    expect(stdout).toMatch(/^migrated\s+3000\r?$/m);
    expect(await schemaVersions(prefix)).toEqual({ "2": SAGAS });
  });

  it("with stderr not a terminal: plain lines every 5 s and at the end of each phase, never a \\r", async () => {
    const prefix = await plant();
    // 3000 at 500/s: about 6 s, so a 5-second line comes before the closing one.
    const run = await runCli(migrate(prefix, 500, "--json"));
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain("\r");
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^migrate CliOrder: counted 3000 in [\d.]+s$/);
    const working = lines.slice(1);
    const closing = working.pop();
    expect(working.length).toBeGreaterThanOrEqual(1);
    for (const line of working) {
      expect(line).toMatch(/^migrate CliOrder: working \[[#-]{20}\] \d+\/3000 \(counted\) \d+% [\d.]+\/s ETA [\d.]+s$/);
      expect(Number(line.match(/ (\d+)\/3000/)![1])).toBeLessThan(SAGAS);
    }
    expect(closing).toMatch(/^migrate CliOrder: working \[#{20}\] 3000\/3000 \(counted\) 100% [\d.]+\/s in ([\d.]+)s$/);
    // At most one line per 5 s of the phase.
    const seconds = Number(closing!.match(/ in ([\d.]+)s$/)![1]);
    expect(working.length).toBeLessThanOrEqual(Math.floor(seconds / 5));
    // --rate held: 3000 values at 500 a second take about 6 s (the first batch goes at once).
    expect(seconds).toBeGreaterThanOrEqual(5.5);
    expect(JSON.parse(run.stdout)).toMatchObject({ migrated: SAGAS, stopped: false });
  }, 40_000);
});

describe("Ctrl-C", () => {
  it("stops between batches: exit 130, the result with stopped: true, fewer than all values migrated", async () => {
    const prefix = await plant();
    // 3000 at 1000/s: about 3 s of working phase to interrupt.
    const { child, finished, output } = startCli(migrate(prefix, 1000, "--json"));
    // The counting phase's closing line: the working phase has begun.
    await until(() => output.stderr.includes("counted 3000"), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 700));
    child.kill("SIGINT");
    const run = await finished;
    expect(run.code).toBe(130);
    const result = JSON.parse(run.stdout);
    expect(result.stopped).toBe(true);
    expect(result.migrated).toBeGreaterThan(0);
    expect(result.migrated).toBeLessThan(SAGAS);
    expect(run.stderr).toContain("stopping after the current batch");
    // What it reports is what is stored.
    expect(await schemaVersions(prefix)).toEqual({ "1": SAGAS - result.migrated, "2": result.migrated });
  });
});

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
