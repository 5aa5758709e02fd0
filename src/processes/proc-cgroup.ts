// The one cgroup path that names a process's workload, from /proc/<pid>/cgroup.
//
// Format (cgroups(7), "/proc/pid/cgroup"; kernel/cgroup/cgroup.c proc_cgroup_show): one line
// per hierarchy, "ID:CONTROLLERS:PATH".
//   cgroup v2 (unified):  0::/kubepods.slice/kubepods-burstable.slice/…/cri-containerd-<id>.scope
//   cgroup v1:            8:pids:/kubepods/burstable/pod<uid>/<id>
//                         9:name=systemd:/system.slice/cron.service
// A hybrid host (systemd's "hybrid" mode, as on this project's test machines) lists every v1
// hierarchy and a "0::" line for the unified tree mounted at /sys/fs/cgroup/unified, which
// then holds no controllers of interest. We prefer the v1 pids line: kubelet's podPidsLimit
// lives in the pids hierarchy, and runc writes the container's path into every hierarchy.
//
// PATH is relative to the *reader's* cgroup namespace. Read from inside a container with a
// private cgroup namespace (the default on cgroup v2), cgroups outside forkwatch's own begin
// with "/.." ("/../../kubepods-besteffort.slice/…"): src/workloads/layouts.ts still recognises
// those. Reading and parsing the file is a /proc concern (Procfs.cgroup uses this); telling
// pods, containers and units apart is the workloads' (src/workloads/layouts.ts).
//
// The text is treated as hostile: whatever it holds, the result is a path or undefined.
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The kernel writes at most one PATH_MAX path per hierarchy (about 15 hierarchies), so a
 * genuine file is well under this; anything beyond it is not looked at.
 */
export const MAX_PROC_CGROUP_BYTES = 64 * 1024;

/** One buffer for every read: reads are synchronous, and one happens at every exec. */
const readBuffer = Buffer.allocUnsafe(MAX_PROC_CGROUP_BYTES);

/** v2 marks a zombie's removed cgroup this way (cgroup_is_dead); the path is still its cgroup. */
const DELETED_SUFFIX = ' (deleted)';

interface Line {
  hierarchyId: string;
  controllers: string[];
  path: string;
}

/** "ID:CONTROLLERS:PATH"; PATH may itself hold colons (a cgroup's name may). */
function parseLine(line: string): Line | undefined {
  const first = line.indexOf(':');
  const second = first < 0 ? -1 : line.indexOf(':', first + 1);
  if (second < 0) return undefined;
  const hierarchyId = line.slice(0, first);
  const path = line.slice(second + 1);
  if (!/^\d+$/.test(hierarchyId) || !path.startsWith('/')) return undefined;
  const controllers = line.slice(first + 1, second);
  return { hierarchyId, controllers: controllers === '' ? [] : controllers.split(','), path };
}

/**
 * The single line that matches, or undefined when none or several do: the kernel writes
 * each hierarchy once (and refuses newlines in cgroup names), so two lines for one
 * hierarchy mean the text is not what the kernel wrote.
 */
function only(lines: Line[], matches: (line: Line) => boolean): Line | undefined {
  const found = lines.filter(matches);
  return found.length === 1 ? found[0] : undefined;
}

/**
 * The workload's cgroup path from the text of /proc/<pid>/cgroup: the v1 pids line, else
 * the v1 name=systemd line, else the v2 "0::" line. Undefined when none is usable.
 */
export function parseProcCgroup(text: string): string | undefined {
  const body = text.length > MAX_PROC_CGROUP_BYTES ? wholeLines(text.slice(0, MAX_PROC_CGROUP_BYTES)) : text;
  const lines = body
    .split('\n')
    .map(parseLine)
    .filter((line): line is Line => line !== undefined);

  const pids = only(lines, (line) => line.hierarchyId !== '0' && line.controllers.includes('pids'));
  if (pids !== undefined) return pids.path;
  const systemd = only(lines, (line) => line.hierarchyId !== '0' && line.controllers.includes('name=systemd'));
  if (systemd !== undefined) return systemd.path;
  const unified = only(lines, (line) => line.hierarchyId === '0' && line.controllers.length === 0);
  if (unified === undefined) return undefined;
  return unified.path.endsWith(DELETED_SUFFIX) ? unified.path.slice(0, -DELETED_SUFFIX.length) : unified.path;
}

/** Texts of /proc/<pid>/cgroup parsed lately: most execs on a node happen in a few cgroups. */
const parsedTexts = new Map<string, string | undefined>();
const MAX_PARSED_TEXTS = 256;
const utf8 = new TextDecoder();

/**
 * The workload's cgroup path from the bytes of /proc/<pid>/cgroup as the reader read them
 * on an exec's arrival (whole: the reader passes no file it cut short).
 */
export function cgroupFromProcFile(bytes: Uint8Array): string | undefined {
  const text = utf8.decode(bytes);
  if (parsedTexts.has(text)) return parsedTexts.get(text);
  const path = parseProcCgroup(text);
  if (parsedTexts.size >= MAX_PARSED_TEXTS) parsedTexts.clear();
  parsedTexts.set(text, path);
  return path;
}

/** The text up to its last newline: a line cut in two by a size limit is dropped. */
function wholeLines(text: string): string {
  return text.slice(0, text.lastIndexOf('\n') + 1);
}

/**
 * Reads /proc/<pid>/cgroup (under `procRoot`) and returns the workload's cgroup path;
 * undefined when the process is gone or the file cannot be read or understood.
 */
export function readProcCgroup(pid: number, procRoot = '/proc'): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let fd: number;
  try {
    fd = openSync(join(procRoot, String(pid), 'cgroup'), 'r');
  } catch {
    return undefined; // ENOENT or ESRCH: the process has gone
  }
  try {
    const buffer = readBuffer;
    let filled = 0;
    for (;;) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n === 0) break;
      filled += n;
      if (filled === buffer.length) break;
    }
    const text = buffer.toString('utf8', 0, filled);
    return parseProcCgroup(filled === buffer.length ? wholeLines(text) : text);
  } catch {
    return undefined; // the process exited while we read (ESRCH)
  } finally {
    closeSync(fd);
  }
}
