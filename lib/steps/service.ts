import { q } from '../transport/shell.ts';
import { common } from './base.ts';
import { fields } from './fileops.ts';
import type { Step, StepEnv, StepOptions } from './types.ts';

export interface ServiceOptions extends StepOptions {
  /** The service (systemd unit or /etc/init.d script) name. */
  service: string;
  /** restarted and reloaded always act (use them as handlers); reloading a stopped service starts it. */
  state?: 'started' | 'stopped' | 'restarted' | 'reloaded';
  /** Start at boot (systemctl enable / update-rc.d / chkconfig). */
  enabled?: boolean;
}

/** The commands for one service under systemd or SysV init scripts. */
function commands(env: StepEnv, name: string) {
  const n = q(name);
  if (env.facts.init === 'systemd') {
    return {
      status: `systemctl is-active --quiet ${n}`,
      enabled: `systemctl is-enabled --quiet ${n}`,
      run: (verb: string) => `systemctl ${verb} ${n}`,
      enable: (on: boolean) => `systemctl ${on ? 'enable' : 'disable'} ${n}`,
    };
  }
  return {
    status: `service ${n} status >/dev/null 2>&1`,
    // Debian keeps runlevel links in /etc/rcN.d, RHEL in /etc/rc.d/rcN.d.
    enabled: `( for f in /etc/rc[2345].d/S[0-9][0-9]${n} /etc/rc.d/rc[2345].d/S[0-9][0-9]${n}; do [ -e "$f" ] && exit 0; done; exit 1 )`,
    run: (verb: string) => `service ${n} ${verb}`,
    enable: (on: boolean) =>
      `if command -v update-rc.d >/dev/null 2>&1; then ${on ? `update-rc.d ${n} defaults >/dev/null; ` : ''}` +
      `update-rc.d ${n} ${on ? 'enable' : 'disable'}; else chkconfig ${n} ${on ? 'on' : 'off'}; fi`,
  };
}

/**
 * Waits until the service reports running, then checks it again a moment later: an init script
 * may report success for a daemon that dies at once.
 */
function verifyRunning(status: string, name: string): string {
  return [
    `i=0; until ${status}; do i=$((i+1)); [ $i -lt 25 ] || { echo ${q(`${name} is not running after start`)} >&2; exit 1; }; sleep 0.2; done`,
    `sleep 0.3; ${status} || { echo ${q(`${name} stopped right after starting`)} >&2; exit 1; }`,
  ].join('\n');
}

/** A service started, stopped, restarted or reloaded, and enabled or not, via systemd or init scripts. */
export function service(opts: ServiceOptions): Step {
  const { service: name, state, enabled } = opts;
  const label = [state, enabled === undefined ? '' : enabled ? 'enabled' : 'disabled'].filter(Boolean).join(', ');
  return {
    ...common('service', opts, `service ${name} ${label}`.trim()),
    // Whether it runs is not a path; starting it writes nothing other steps probe.
    reads: [],
    writes: [],
    probe(env) {
      const c = commands(env, name);
      return { shell: `if ${c.status}; then echo active=yes; else echo active=no; fi\nif ${c.enabled}; then echo enabled=yes; else echo enabled=no; fi` };
    },
    async plan({ output }, env) {
      const c = commands(env, name);
      const f = fields(output);
      const active = f.get('active') === 'yes';
      const steps: { summary: string; script: string }[] = [];
      if (enabled !== undefined && (f.get('enabled') === 'yes') !== enabled) {
        steps.push({ summary: enabled ? 'enable' : 'disable', script: c.enable(enabled) });
      }
      const start = (verb: string) => `${c.run(verb)}\n${verifyRunning(c.status, name)}`;
      if (state === 'started' && !active) steps.push({ summary: 'start', script: start('start') });
      if (state === 'stopped' && active) steps.push({ summary: 'stop', script: c.run('stop') });
      if (state === 'restarted') steps.push({ summary: 'restart', script: start(active ? 'restart' : 'start') });
      if (state === 'reloaded') {
        steps.push(active ? { summary: 'reload', script: c.run('reload') } : { summary: 'start', script: start('start') });
      }
      if (steps.length === 0) return null;
      return {
        summary: steps.map((s) => s.summary).join(', '),
        action: { script: ['set -e', ...steps.map((s) => s.script)].join('\n') },
      };
    },
  };
}
