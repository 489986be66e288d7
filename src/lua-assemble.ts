/**
 * A script in src/lua may pull in shared Lua from src/lua/includes with a
 * line of its own:
 *
 *   --- @include "stored-identity"
 *
 * Assembly puts the include's text in that line's place, once per script
 * (an include named twice is an error, as is one that is missing). The build
 * (tsup.config.ts) and source runs (src/lua-script.ts) assemble alike, so
 * Redis sees, and the SHA covers, the same text either way.
 */
const INCLUDE_LINE = /^--- @include "([a-z0-9-]+)"[ \t]*$/gm;

export function assembleLua(scriptName: string, source: string, readInclude: (name: string) => string): string {
  const seen = new Set<string>();
  return source.replace(INCLUDE_LINE, (_line, name: string) => {
    if (seen.has(name)) throw new Error(`src/lua/${scriptName}.lua includes "${name}" twice`);
    seen.add(name);
    return readInclude(name).replace(/\n$/, "");
  });
}
