/** The saga-store command (package.json "bin"): see help.ts for what it does. */
import { runCli } from "./dispatch";
import { processIo } from "./io";

const exitCode = await runCli(process.argv.slice(2), processIo);
process.exitCode = exitCode;
// Everything is closed by now; a client's reconnection timer left behind must not keep a finished command alive.
setTimeout(() => process.exit(exitCode), 1_000).unref();
