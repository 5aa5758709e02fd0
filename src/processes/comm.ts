// Command names come from processes and are hostile input: any bytes but NUL, up to 15.

// Invalid UTF-8 becomes U+FFFD, so every name is a valid label value; prom-client
// escapes the rest (backslash, quote, newline) when it writes the page.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export function commFromBytes(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

// The kernel keeps 15 bytes of a name (TASK_COMM_LEN 16, with the NUL).
const COMM_MAX_BYTES = 15;

/**
 * A name from the contents of /proc/<pid>/comm: without the newline the kernel appends
 * (a name may hold newlines of its own), and as commFromProcName.
 */
export function commFromProcFile(bytes: Uint8Array): string {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
  return commFromProcName(bytes.subarray(0, end));
}

/**
 * A name as /proc shows it (comm without its newline, or stat's second field): at most the
 * 15 bytes a COMM event carries (a kernel worker's name there adds its workqueue's).
 */
export function commFromProcName(bytes: Uint8Array): string {
  return commFromBytes(bytes.subarray(0, Math.min(bytes.length, COMM_MAX_BYTES)));
}
