import type { TestProject } from "vitest/node";
import { startTestCluster, type ClusterNodeAddress } from "./support/redis-cluster";
import { startTestRedis } from "./support/redis-server";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
    /** The shared Redis Cluster (REDIS_CLUSTER_NODES, or 3 masters + 3 replicas spawned here). */
    redisClusterNodes: ClusterNodeAddress[];
  }
}

export default async function setup(project: TestProject) {
  const [redis, cluster] = await Promise.allSettled([startTestRedis(), startTestCluster()]);
  if (redis.status === "rejected" || cluster.status === "rejected") {
    if (redis.status === "fulfilled") await redis.value.stop();
    if (cluster.status === "fulfilled") await cluster.value.stop();
    throw redis.status === "rejected" ? redis.reason : (cluster as PromiseRejectedResult).reason;
  }
  project.provide("redisUrl", redis.value.url);
  project.provide("redisClusterNodes", cluster.value.nodes);
  return async () => {
    await Promise.all([redis.value.stop(), cluster.value.stop()]);
  };
}
