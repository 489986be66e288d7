/**
 * saga-bus's default error handler retries only errors that are instances of
 * its own `ConcurrencyError` and `TransientError`. When the application has
 * `@saga-bus/core` installed, the store's retryable failures are built on
 * those classes, so the bus retries them; without it nothing changes.
 *
 * The module system decides which of core's two builds is loaded: this
 * file's ESM build imports core's ESM build, its CommonJS build requires
 * core's CommonJS build — the same copy the application's own import gets.
 */
export type SagaBusErrorKind = "conflict" | "transient";

type ErrorClass = new (...args: any[]) => Error;

let classes: Record<SagaBusErrorKind, ErrorClass> | undefined;
let loading: Promise<void> | undefined;

/** Look for `@saga-bus/core` once per process; never fails. */
export function loadSagaBusErrors(): Promise<void> {
  loading ??= loadCore().then(
    (core) => {
      const { ConcurrencyError, TransientError } = (core ?? {}) as Record<string, unknown>;
      if (typeof ConcurrencyError === "function" && typeof TransientError === "function") {
        classes = { conflict: ConcurrencyError as ErrorClass, transient: TransientError as ErrorClass };
      }
    },
    () => undefined,
  );
  return loading;
}

/** Set by the build (tsup.config.ts): true in the CommonJS build, false in the ESM one; absent when run from source. */
declare const BUILT_AS_COMMONJS: boolean | undefined;

/** The bundler keeps `import()` as it is in the CommonJS build, which would load core's ESM build there: require it. */
function loadCore(): Promise<unknown> {
  if (typeof BUILT_AS_COMMONJS === "boolean" && BUILT_AS_COMMONJS) {
    try {
      return Promise.resolve(require("@saga-bus/core"));
    } catch {
      return Promise.resolve(undefined);
    }
  }
  // The catch lets a bundler build an application that has no core (esbuild then leaves the import unresolved).
  return import("@saga-bus/core").catch(() => undefined);
}

/** Core's class for a kind of failure, once loadSagaBusErrors() found core. */
export function sagaBusErrorClass(kind: SagaBusErrorKind): ErrorClass | undefined {
  return classes?.[kind];
}
