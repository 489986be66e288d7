/**
 * A real Redis Cluster for the tests: REDIS_CLUSTER_NODES when set
 * (comma-separated host:port, never flushed nor killed), else 3 masters + 3
 * replicas spawned from `redis-server` on free ports and formed with
 * `redis-cli --cluster create` (both from the Debian redis-server package, so
 * .ci/run needs nothing more).
 *
 * Each node gets its own temp dir (nodes.conf, log), no persistence (unless
 * `appendOnly`), a free
 * client port and a free cluster-bus port (`--cluster-port`, so port + 10000
 * never has to be free or even valid), a 1 s node timeout and
 * `cluster-replica-validity-factor 0`, so a replica always takes over from a
 * dead master (typically 2-3 s after a SIGKILL), diskless replication without
 * delay, and a 1 s replication ping so replicas show up in CLUSTER SLOTS at
 * once. Ready means: every node says cluster_state:ok and lists all 16384
 * slots, and every master has an online replica every node lists.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, waitForPing } from "./redis-server";

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

export interface SpawnedClusterNode {
  port: number;
  busPort: number;
  dir: string;
  process: ChildProcess;
}

export interface TestCluster {
  /** Every node given or spawned (masters and replicas), as `new Cluster(nodes)` takes them. */
  nodes: ClusterNodeAddress[];
  /** True when this process spawned the nodes (so it may kill, restart or flush them). */
  owned: boolean;
  /** The spawned processes by client port (empty when not owned). */
  processes: Map<number, SpawnedClusterNode>;
  /** SIGKILL one spawned node and wait for its exit. */
  killNode(port: number): Promise<void>;
  /** Send a signal to one spawned node (e.g. SIGSTOP / SIGCONT to freeze a replica). */
  signalNode(port: number, signal: NodeJS.Signals): void;
  /** Start a killed node again on the same ports with the same nodes.conf (it rejoins the cluster). */
  restartNode(port: number): Promise<void>;
  /** Kill every spawned node and remove the temp dirs; a no-op for REDIS_CLUSTER_NODES. */
  stop(): Promise<void>;
}

export interface SpawnClusterOptions {
  /** cluster-node-timeout in ms (default 1000). */
  nodeTimeoutMs?: number;
  /** Bound on forming the cluster and waiting for it to be healthy (default 30 s). */
  readyTimeoutMs?: number;
  /** Every node keeps an append-only file (`appendfsync always`), so a restarted node comes back with its keys. */
  appendOnly?: boolean;
}

const HOST = "127.0.0.1";
const MASTERS = 3;

export function parseClusterNodes(text: string): ClusterNodeAddress[] {
  const nodes = text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^(.+):(\d+)$/.exec(part);
      if (!match) throw new Error(`REDIS_CLUSTER_NODES: "${part}" is not host:port`);
      return { host: match[1]!, port: Number(match[2]) };
    });
  if (nodes.length === 0) throw new Error("REDIS_CLUSTER_NODES is set but names no host:port");
  return nodes;
}

/** REDIS_CLUSTER_NODES when set (checked healthy, never touched otherwise), else a spawned 6-node cluster. */
export async function startTestCluster(options: SpawnClusterOptions = {}): Promise<TestCluster> {
  const given = process.env.REDIS_CLUSTER_NODES;
  if (given) {
    const nodes = parseClusterNodes(given);
    await waitForClusterHealthy(nodes, { timeoutMs: options.readyTimeoutMs ?? 30_000, minMasters: MASTERS });
    return {
      nodes,
      owned: false,
      processes: new Map(),
      killNode: async () => {
        throw new Error("REDIS_CLUSTER_NODES: refusing to kill a node of a cluster this process did not start");
      },
      restartNode: async () => {
        throw new Error("REDIS_CLUSTER_NODES: refusing to restart a node of a cluster this process did not start");
      },
      signalNode: () => {
        throw new Error("REDIS_CLUSTER_NODES: refusing to signal a node of a cluster this process did not start");
      },
      stop: async () => {},
    };
  }
  return spawnTestCluster(options);
}

/** 3 masters + 3 replicas of fresh redis-server processes; always owned, whatever REDIS_CLUSTER_NODES says. */
export async function spawnTestCluster(options: SpawnClusterOptions = {}): Promise<TestCluster> {
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + readyTimeoutMs;
  const root = mkdtempSync(join(tmpdir(), "saga-store-cluster-"));
  const processes = new Map<number, SpawnedClusterNode>();
  const usedPorts = new Set<number>();

  const stop = async () => {
    await Promise.all([...processes.values()].map((node) => killProcess(node.process)));
    rmSync(root, { recursive: true, force: true });
  };

  const launch = (port: number, busPort: number, dir: string): ChildProcess =>
    spawn(
      "redis-server",
      [
        "--port", String(port),
        "--bind", HOST,
        "--cluster-enabled", "yes",
        "--cluster-port", String(busPort),
        "--cluster-config-file", join(dir, "nodes.conf"),
        "--cluster-node-timeout", String(nodeTimeoutMs),
        "--cluster-replica-validity-factor", "0",
        "--cluster-require-full-coverage", "yes",
        "--repl-diskless-sync", "yes",
        "--repl-diskless-sync-delay", "0",
        // A replica is listed in CLUSTER SLOTS only once it reports a non-zero replication offset;
        // on an idle master that takes the first replication PING (default every 10 s).
        "--repl-ping-replica-period", "1",
        "--save", "",
        "--appendonly", options.appendOnly ? "yes" : "no",
        "--appendfsync", "always",
        "--dir", dir,
        "--logfile", join(dir, "redis.log"),
      ],
      { stdio: "ignore" },
    );

  const startNode = async (index: number): Promise<SpawnedClusterNode> => {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      // Two distinct free ports no other node of this cluster uses (freePort may hand one out twice in a row).
      const port = await uniqueFreePort(usedPorts);
      const busPort = await uniqueFreePort(usedPorts);
      const dir = join(root, `node-${index}-${port}`);
      mkdirSync(dir);
      const child = launch(port, busPort, dir);
      const node = { port, busPort, dir, process: child };
      try {
        await waitUntilServing(child, port, dir);
        return node;
      } catch (error) {
        lastError = error;
        await killProcess(child);
      }
    }
    throw new Error(`redis-server for cluster node ${index} did not start: ${(lastError as Error)?.message}`);
  };

  try {
    const started = await Promise.all(Array.from({ length: MASTERS * 2 }, (_, i) => startNode(i)));
    for (const node of started) processes.set(node.port, node);
    const nodes = started.map((node) => ({ host: HOST, port: node.port }));

    const create = await run(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `${n.host}:${n.port}`), "--cluster-replicas", "1", "--cluster-yes"],
      Math.max(1000, deadline - Date.now()),
    );
    if (create.code !== 0 || !create.output.includes("All 16384 slots covered")) {
      throw new Error(`redis-cli --cluster create failed (exit ${create.code}):\n${create.output.slice(-3000)}`);
    }
    await waitForClusterHealthy(nodes, { timeoutMs: Math.max(1000, deadline - Date.now()), minMasters: MASTERS });

    return {
      nodes,
      owned: true,
      processes,
      async killNode(port) {
        const node = processes.get(port);
        if (!node) throw new Error(`no spawned cluster node on port ${port}`);
        await killProcess(node.process);
      },
      signalNode(port, signal) {
        const node = processes.get(port);
        if (!node) throw new Error(`no spawned cluster node on port ${port}`);
        node.process.kill(signal);
      },
      async restartNode(port) {
        const node = processes.get(port);
        if (!node) throw new Error(`no spawned cluster node on port ${port}`);
        await killProcess(node.process);
        node.process = launch(node.port, node.busPort, node.dir);
        await waitUntilServing(node.process, node.port, node.dir);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface NodeView {
  address: ClusterNodeAddress;
  clusterState: string;
  role: string;
  connectedReplicas: number;
  onlineReplicas: number;
  /** Slots this node's CLUSTER SLOTS assigns (16384 when it sees full coverage). */
  slotsCovered: number;
  /** Slot ranges its CLUSTER SLOTS lists without a replica (what a client would see). */
  rangesWithoutReplica: number;
}

/** CLUSTER INFO and INFO replication of one node; undefined when it does not answer. */
export async function inspectNode(address: ClusterNodeAddress, timeoutMs = 1000): Promise<NodeView | undefined> {
  const client = new Redis({
    host: address.host,
    port: address.port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    const info = fields(await client.cluster("INFO"));
    const replication = fields(await client.info("replication"));
    const replicaLines = Object.entries(replication).filter(([name]) => /^slave\d+$/.test(name));
    const ranges = (await client.cluster("SLOTS")) as Array<[number, number, ...unknown[]]>;
    return {
      address,
      clusterState: info.cluster_state ?? "?",
      role: replication.role ?? "?",
      connectedReplicas: Number(replication.connected_slaves ?? 0),
      onlineReplicas: replicaLines.filter(([, value]) => value.includes("state=online")).length,
      slotsCovered: ranges.reduce((sum, [start, end]) => sum + end - start + 1, 0),
      rangesWithoutReplica: ranges.filter((range) => range.length < 4).length,
    };
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

/**
 * Wait until every answering node reports cluster_state:ok and lists all
 * 16384 slots in CLUSTER SLOTS, at least `minMasters` masters answer, and
 * (unless `requireReplicas` is false) each master has an online replica that
 * every node's CLUSTER SLOTS lists. Nodes listed but down are skipped, so this
 * also tells when a failover is over.
 */
export async function waitForClusterHealthy(
  nodes: ClusterNodeAddress[],
  { timeoutMs, minMasters = MASTERS, requireReplicas = true, skip = [] }: { timeoutMs: number; minMasters?: number; requireReplicas?: boolean; skip?: number[] },
): Promise<NodeView[]> {
  const deadline = Date.now() + timeoutMs;
  let last = "no node answered";
  for (;;) {
    const views = (await Promise.all(nodes.filter((n) => !skip.includes(n.port)).map((n) => inspectNode(n)))).filter(
      (view): view is NodeView => view !== undefined,
    );
    const masters = views.filter((view) => view.role === "master");
    const notOk = views.filter((view) => view.clusterState !== "ok");
    const lonely = masters.filter((view) => view.onlineReplicas < 1);
    const partialView = views.filter((view) => view.slotsCovered !== 16384 || (requireReplicas && view.rangesWithoutReplica > 0));
    if (views.length > 0 && notOk.length === 0 && partialView.length === 0 && masters.length >= minMasters && (!requireReplicas || lonely.length === 0)) {
      return views;
    }
    last = views
      .map(
        (v) =>
          `${v.address.host}:${v.address.port} ${v.role} cluster_state:${v.clusterState} replicas online:${v.onlineReplicas}/${v.connectedReplicas}` +
          ` CLUSTER SLOTS: ${v.slotsCovered} slots, ${v.rangesWithoutReplica} ranges without replica`,
      )
      .join("; ");
    if (Date.now() > deadline) {
      throw new Error(
        `Redis Cluster not healthy within ${timeoutMs} ms (need cluster_state:ok on every node, ${minMasters} masters` +
          `${requireReplicas ? ", each with an online replica" : ""}); last seen: ${last || "no node answered"}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function fields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0 && !line.startsWith("#")) out[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return out;
}

async function uniqueFreePort(used: Set<number>): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    if (!used.has(port)) {
      used.add(port);
      return port;
    }
  }
  throw new Error("could not find a free port");
}

/** PING answered; rejects at once (with its log tail) when the process exits first, e.g. because it could not bind. */
async function waitUntilServing(child: ChildProcess, port: number, dir: string): Promise<void> {
  let onExit: (code: number | null, signal: string | null) => void = () => {};
  let onError: (error: Error) => void = () => {};
  const early = new Promise<never>((_, reject) => {
    onExit = (code, signal) => {
      const log = join(dir, "redis.log");
      const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-8).join("\n") : "";
      reject(new Error(`redis-server on port ${port} exited early (code ${code}, signal ${signal}): ${tail}`));
    };
    onError = reject;
    child.once("exit", onExit);
    child.once("error", onError);
  });
  try {
    await Promise.race([waitForPing(`redis://${HOST}:${port}`, 10_000), early]);
  } finally {
    child.off("exit", onExit);
    child.off("error", onError);
  }
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

function run(command: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      output += `\n(killed after ${timeoutMs} ms)`;
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export interface SlotRange {
  start: number;
  end: number;
  /** "host:port" of the master serving the range. */
  master: string;
  /** "host:port" of each replica CLUSTER SLOTS lists for it. */
  replicas: string[];
}

/** CLUSTER SLOTS as plain ranges (asked of any node or a Cluster client). */
export async function clusterSlots(client: Redis | { cluster(subcommand: "SLOTS"): Promise<unknown> }): Promise<SlotRange[]> {
  const ranges = (await (client as Redis).cluster("SLOTS")) as unknown as Array<[number, number, ...Array<[string, number, ...unknown[]]>]>;
  return ranges.map(([start, end, ...nodes]) => ({
    start,
    end,
    master: `${nodes[0]![0]}:${nodes[0]![1]}`,
    replicas: nodes.slice(1).map((node) => `${node[0]}:${node[1]}`),
  }));
}
