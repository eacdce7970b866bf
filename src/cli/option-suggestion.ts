/**
 * Command-line mistakes told in our words: `unknown option --domian (did you
 * mean --domain?)` instead of Node's `parseArgs` text, and the closest known
 * name for a typo.
 */

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between `a` and `b`. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((d[i - 1]![j] as number) + 1, (d[i]![j - 1] as number) + 1, (d[i - 1]![j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (d[i - 2]![j - 2] as number) + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length] as number;
}

/**
 * The known name closest to `name`, if it is close enough to be a typo (one
 * edit for names of up to 4 letters, two for longer ones), or the only one
 * that starts with it; undefined otherwise.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance <= (name.length <= 4 ? 1 : 2)) return best;
  const prefixed = [...known].filter((k) => name.length >= 3 && k.startsWith(name));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** What `parseArgs` was told about the options: name -> type and short letter. */
export type OptionSpecs = Readonly<Record<string, { type: 'string' | 'boolean'; short?: string }>>;

/**
 * The message for a command line that `parseArgs` refused (`code` is its
 * error code), found by reading `args` again; undefined when it is not one
 * of the mistakes named here.
 */
export function describeArgsError(code: string | undefined, args: readonly string[], options: OptionSpecs): string | undefined {
  const shorts = new Map(Object.entries(options).flatMap(([name, o]) => (o.short === undefined ? [] : [[o.short, name] as const])));
  const end = args.indexOf('--');
  const flags = end === -1 ? args : args.slice(0, end);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    for (const arg of flags) {
      if (arg.startsWith('--')) {
        const name = arg.slice(2).split('=')[0] as string;
        if (name !== '' && !(name in options)) {
          const hint = closestName(name, Object.keys(options));
          return `unknown option --${name}${hint === undefined ? '' : ` (did you mean --${hint}?)`}`;
        }
      } else if (/^-[^-]/.test(arg)) {
        const letter = arg.slice(1, 2);
        if (!shorts.has(letter)) return `unknown option -${letter}`;
      }
    }
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    for (let i = 0; i < flags.length; i++) {
      const arg = flags[i] as string;
      const long = arg.startsWith('--') ? (arg.slice(2).split('=')[0] as string) : undefined;
      const name = long ?? (/^-[^-]$/.test(arg) ? shorts.get(arg.slice(1)) : undefined);
      const spec = name === undefined ? undefined : options[name];
      if (name === undefined || spec === undefined) continue;
      if (spec.type === 'boolean' && arg.includes('=')) return `option --${name} takes no value`;
      if (spec.type === 'string' && !arg.includes('=')) {
        const next = flags[i + 1];
        if (next === undefined || next.startsWith('-')) return `option --${name} needs a value`;
      }
    }
  }
  return undefined;
}
