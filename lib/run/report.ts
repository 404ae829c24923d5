import { redact } from '../secret.ts';
import type { EventSink, HostRecap, RunEvent, StepStatus } from './types.ts';

export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** One JSON object per line per event (step-start events are left out), redacted. */
export function jsonReporter(out: Output): EventSink {
  return (e) => {
    if (e.type !== 'step-start') out.write(redact(JSON.stringify(e)) + '\n');
  };
}

const CODES = { green: 32, yellow: 33, red: 31, cyan: 36, dim: 2, bold: 1 } as const;
type Color = keyof typeof CODES;
const STATUS_COLOR: Record<StepStatus | 'unreachable', Color> = {
  ok: 'green',
  changed: 'yellow',
  failed: 'red',
  skipped: 'cyan',
  unreachable: 'red',
};
const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
/** A step running longer than this gets the spinner. */
const LONG_STEP_MS = 1000;

const indent = (text: string, pad: string): string =>
  text.replace(/\n+$/, '').split('\n').map((l) => pad + l).join('\n') + '\n';

function colorDiff(diff: string, paint: (c: Color, t: string) => string): string {
  return diff
    .split('\n')
    .map((l) => (/^(\+\+\+|---)/.test(l) ? paint('bold', l) : l.startsWith('+') ? paint('green', l) : l.startsWith('-') ? paint('red', l) : l.startsWith('@@') ? paint('cyan', l) : l))
    .join('\n');
}

export function recapTable(hosts: Record<string, HostRecap>, paint: (c: Color, t: string) => string = (_, t) => t): string {
  const names = Object.keys(hosts);
  const width = Math.max(4, ...names.map((n) => n.length));
  const cols = ['ok', 'changed', 'unreachable', 'failed', 'skipped'] as const;
  const head = `${'host'.padEnd(width)}  ${cols.map((c) => c.padStart(c.length)).join('  ')}  round trips`;
  const rows = names.map((n) => {
    const r = hosts[n]!;
    const cells = cols.map((c) => {
      const v = String(r[c]).padStart(c.length);
      return r[c] > 0 && c !== 'ok' && c !== 'skipped' ? paint(STATUS_COLOR[c === 'changed' ? 'changed' : 'failed'], v) : v;
    });
    const trips = `${r.roundTrips.exec} exec${r.roundTrips.sftp ? ` + ${r.roundTrips.sftp} sftp` : ''}`;
    const bad = r.failed > 0 || r.unreachable > 0;
    return `${paint(bad ? 'red' : r.changed ? 'yellow' : 'green', n.padEnd(width))}  ${cells.join('  ')}  ${trips}`;
  });
  return [head, ...rows].join('\n') + '\n';
}

/**
 * Ansible-like lines: one per step and host (ok / changed / failed / skipped), diffs under
 * changed steps with --diff, a spinner for long steps on a terminal, and a recap table.
 */
export function humanReporter(out: Output, err: Output, opts: { verbose: boolean; color?: boolean }): EventSink {
  const tty = Boolean(out.isTTY);
  const color = opts.color ?? (tty && !process.env.NO_COLOR);
  const paint = (c: Color, t: string) => (color ? `\x1b[${CODES[c]}m${t}\x1b[0m` : t);
  const running = new Map<string, { label: string; since: number }>();
  let spinnerShown = false;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  let hostWidth = 8;

  const clearSpinner = () => {
    if (spinnerShown) out.write('\r\x1b[K');
    spinnerShown = false;
  };
  const print = (text: string) => {
    clearSpinner();
    out.write(redact(text));
  };
  const tick = () => {
    const now = performance.now();
    const long = [...running.values()].filter((r) => now - r.since > LONG_STEP_MS);
    if (long.length === 0) return clearSpinner();
    const first = long[0]!;
    const more = long.length > 1 ? ` (+${long.length - 1} more)` : '';
    out.write(`\r\x1b[K${paint('cyan', SPINNER[frame++ % SPINNER.length]!)} ${redact(first.label)} ${Math.round((now - first.since) / 1000)}s${more}`);
    spinnerShown = true;
  };

  return (e: RunEvent) => {
    switch (e.type) {
      case 'run':
        if (tty) timer = setInterval(tick, 120).unref();
        if (e.check) print(paint('dim', 'check mode: nothing will be changed\n'));
        return;
      case 'role':
        hostWidth = Math.max(8, ...e.hosts.map((h) => h.length));
        print(`\n${paint('bold', `ROLE ${e.role}`)} ${paint('dim', `[${e.hosts.join(', ')}]`)}\n`);
        return;
      case 'step-start':
        running.set(`${e.host}\0${e.step}`, { label: `${e.host}: ${e.step}`, since: performance.now() });
        return;
      case 'step': {
        running.delete(`${e.host}\0${e.step}`);
        const status = paint(STATUS_COLOR[e.status], e.status.padEnd(8));
        const what = `${e.handler ? 'handler: ' : ''}${e.step}`;
        const summary = e.summary && e.status !== 'ok' ? paint('dim', ` (${e.summary})`) : '';
        let text = `  ${status} ${e.host.padEnd(hostWidth)}  ${what}${summary}\n`;
        if (e.error) text += indent(paint('red', e.error), '           ');
        if (e.diff) text += indent(colorDiff(e.diff, paint), '           ');
        if (e.output && (e.status === 'failed' || opts.verbose)) text += indent(e.output, '           | ');
        print(text);
        return;
      }
      case 'unreachable':
        print(`  ${paint('red', 'UNREACHABLE'.padEnd(8))} ${e.host.padEnd(hostWidth)}  ${paint('red', e.error)}\n`);
        return;
      case 'interrupted':
        print(`  ${paint('red', 'INTERRUPTED'.padEnd(8))} ${e.host.padEnd(hostWidth)}  ${e.rolledBack ? `${e.step}: its staged upload removed, nothing changed` : `before ${e.step}`} (${e.signal}, role ${e.role})\n`);
        return;
      case 'warning':
        clearSpinner();
        err.write(redact(`${paint('yellow', 'warning:')} ${e.message}\n`));
        return;
      case 'recap':
        if (timer) clearInterval(timer);
        print(`\n${paint('bold', ['RECAP', e.check ? ' (check mode)' : '', e.interrupted ? ` (interrupted by ${e.interrupted})` : ''].join(''))}\n${recapTable(e.hosts, paint)}wall time ${(e.wallMs / 1000).toFixed(2)} s\n`);
        return;
    }
  };
}
