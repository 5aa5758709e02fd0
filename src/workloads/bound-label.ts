// Label values made from cgroup paths and API objects, which are hostile input: bounded.

/** Longest label value, in characters (systemd unit names reach 255; pod names 253). */
export const MAX_LABEL_CHARS = 128;

/**
 * A label value safe to export and bounded in length: control characters and lone UTF-16
 * surrogates become U+FFFD, and past MAX_LABEL_CHARS the value is cut and ends in "…".
 */
export function boundLabel(value: string): string {
  const clean = value.replace(/\p{Cc}|\p{Cs}/gu, '\uFFFD');
  const chars = Array.from(clean); // code points, so a cut never splits a surrogate pair
  return chars.length <= MAX_LABEL_CHARS ? clean : `${chars.slice(0, MAX_LABEL_CHARS - 1).join('')}…`;
}
