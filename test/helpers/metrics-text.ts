// Reads samples out of a Prometheus text exposition page, label escapes included.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseSamples(page: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of page.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    samples.push(parseLine(line));
  }
  return samples;
}

function parseLine(line: string): Sample {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace === -1 || brace > space) {
    return { name: line.slice(0, space), labels: {}, value: Number(line.slice(space + 1).split(' ')[0]) };
  }
  const name = line.slice(0, brace);
  const labels: Record<string, string> = {};
  let i = brace + 1;
  while (line[i] !== '}') {
    const eq = line.indexOf('=', i);
    const key = line.slice(i, eq);
    i = eq + 2; // past ="
    let value = '';
    while (line[i] !== '"') {
      if (line[i] === '\\') {
        const next = line[i + 1];
        value += next === 'n' ? '\n' : next;
        i += 2;
      } else {
        value += line[i];
        i++;
      }
    }
    labels[key] = value;
    i++; // past the closing quote
    if (line[i] === ',') i++;
  }
  const rest = line.slice(i + 2);
  return { name, labels, value: Number(rest.split(' ')[0]) };
}

/** The value of the one sample with this name whose labels include `labels`; 0 if none. */
export function sampleValue(page: string, name: string, labels: Record<string, string> = {}): number {
  const matching = parseSamples(page).filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value ?? 0;
}
