/**
 * The error a call rejects with, for tests that go on to check its type and
 * fields. A call that resolves fails the test with what it resolved to, so an
 * expected refusal can never pass unnoticed.
 */
export async function rejectionOf<E = any>(promise: Promise<unknown>): Promise<E> {
  let resolved: unknown;
  try {
    resolved = await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error(`expected a rejection, the call resolved to ${describeValue(resolved)}`);
}

function describeValue(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 300) ?? String(value);
  } catch {
    return String(value);
  }
}
