/** The classic dump (offset, 16 bytes in hex, the printable ASCII of them), for bytes no codec may explain. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0"));
    // A gap after the eighth byte, as hexdump -C, so a column is found by eye.
    const left = hex.slice(0, 8).join(" ");
    const right = hex.slice(8).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${`${left}  ${right}`.padEnd(48)}  |${ascii}|`);
  }
  return lines.join("\n") + (lines.length > 0 ? "\n" : "");
}
