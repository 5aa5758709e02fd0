// Command names come from processes and are hostile input: any bytes but NUL, up to 15.
import { readdirSync, readFileSync } from 'node:fs';

// Invalid UTF-8 becomes U+FFFD, so every name is a valid label value; prom-client
// escapes the rest (backslash, quote, newline) when it writes the page.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export function commFromBytes(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** The current name of process `pid`, from /proc/<pid>/comm, or undefined if it is gone. */
export function readProcComm(pid: number): string | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(`/proc/${pid}/comm`);
  } catch {
    return undefined;
  }
  // The kernel appends one newline; a name may hold newlines of its own.
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
  return commFromBytes(bytes.subarray(0, end));
}

/** Every process id in /proc now. */
export function listProcessIds(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^[0-9]+$/.test(name))
    .map(Number);
}
