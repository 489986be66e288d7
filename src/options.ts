import { InvalidOptionsError } from "./errors";

export function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionsError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}
