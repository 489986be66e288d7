import type { Redis } from "ioredis";
import { MissingPermissionsError } from "../errors";
import type { LuaScript } from "../lua-script";
import { aclRefusal, refusedCommand } from "./redis-errors";

/** A command as ACL rules name it ("script|load"), and arguments to ask about it with. */
type Needed = readonly [name: string, args: readonly string[]];

export interface NeededFor {
  /** One of the store's keys as the server sees it (the client's own keyPrefix included). */
  key: string;
  /** The SHA the store runs its scripts by. */
  sha: string;
  durability: boolean;
  cluster: boolean;
  /** A Cluster client's ready check (ioredis's enableReadyCheck, on by default) sends CLUSTER INFO on every connect. */
  clusterReadyCheck: boolean;
}

/**
 * Every command the store sends, on its keys: the scripts' commands, the
 * scripts themselves (EVAL only after NOSCRIPT), GETDEL, SCAN, and what
 * ioredis needs of a Cluster; WAIT with durability. CONFIG GET is not
 * among them: the eviction check goes on without it. README
 * "Least-privilege Redis user" gives the same list as ACL rules.
 */
export function neededCommands({ key, sha, durability, cluster, clusterReadyCheck }: NeededFor): Needed[] {
  const needed: Needed[] = [
    ["get", [key]],
    ["set", [key, "v"]],
    ["getdel", [key]],
    ["del", [key]],
    ["getrange", [key, "0", "0"]],
    ["exists", [key]],
    ["pttl", [key]],
    ["pexpire", [key, "1"]],
    ["persist", [key]],
    ["eval", ["return 1", "1", key]],
    ["evalsha", [sha, "1", key]],
    ["script|load", ["return 1"]],
    ["scan", ["0"]],
  ];
  if (durability) needed.push(["wait", ["1", "0"]]);
  if (cluster) needed.push(["cluster|slots", []]);
  if (cluster && clusterReadyCheck) needed.push(["cluster|info", []]);
  return needed;
}

/**
 * Refuse to start when the user's ACL lacks any needed command on any of
 * `nodes`: MissingPermissionsError naming them all. Asked of the ACL by
 * `check` (src/lua/check-permissions.lua), which runs nothing it asks
 * about; a server that cannot be asked (before Redis 7.0) lets the start go on.
 */
export async function refuseMissingPermissions(nodes: Redis[], check: LuaScript, needed: Needed[], key: string, nameOf: (node: Redis) => string): Promise<void> {
  const args = needed.flatMap(([name, rest]) => {
    const words = [...name.split("|"), ...rest];
    return [String(words.length), ...words];
  });
  const found = await Promise.all(nodes.map((node) => refusedOn(node, check, args, needed)));
  const refused = new Set(found.flatMap((on) => on?.names ?? []));
  const missing = needed.map(([name]) => name).filter((name) => refused.has(name));
  if (missing.length === 0) return;
  const notes: string[] = [];
  if (found.some((on) => on && !on.complete)) notes.push("the others cannot be checked without EVAL or EVALSHA");
  if (nodes.length > 1) notes.push(found.flatMap((on, i) => (on?.names.length ? [`${nameOf(nodes[i]!)}: ${on.names.join(" ")}`] : [])).join("; "));
  throw new MissingPermissionsError("initialize", key, missing, { note: notes.join("; ") || undefined });
}

async function refusedOn(node: Redis, script: LuaScript, args: string[], needed: Needed[]): Promise<{ names: string[]; complete: boolean } | undefined> {
  let reply: unknown;
  try {
    reply = await node.eval(script.source, 0, ...args);
  } catch (error) {
    if (!aclRefusal(error as Error)) throw error;
    // A user without EVAL may still run the check by SHA (and is told EVAL is missing: NOSCRIPT falls back to it).
    try {
      await node.script("LOAD", script.source);
      reply = await node.evalsha(script.sha, 0, ...args);
    } catch (second) {
      const refused = aclRefusal(second as Error);
      if (!refused) throw second;
      return { names: ["eval", ...refusedCommand(refused)], complete: false };
    }
  }
  if (reply === null) return undefined;
  return { names: (reply as number[]).map((position) => needed[position - 1]![0]), complete: true };
}
