import type { TestProject } from "vitest/node";
import { startTestRedis } from "./support/redis-server";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const redis = await startTestRedis();
  project.provide("redisUrl", redis.url);
  return () => redis.stop();
}
