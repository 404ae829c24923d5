// Harbor's system configuration as a step of the registry role: what harbor.yml cannot hold
// (who may create projects, self-registration, the inventory's harbor_config), read and set over
// Harbor's API on the registry host itself (curl to Harbor on 127.0.0.1 under its public name,
// the certificate verified), as admin with the password from a root-only netrc file: never argv.
import type { Vars } from '../../lib/inventory/types.ts';
import { UserError } from '../../lib/errors.ts';
import { changesBody, checkConfigurations, describeChanges, diffConfigurations, notEditable, SECURE_DEFAULTS, type ConfigurationsResponse } from '../../lib/harbor/configurations.ts';
import { Secret } from '../../lib/secret.ts';
import { copy, type Step } from '../../lib/steps/index.ts';
import { q } from '../../lib/transport/shell.ts';
import { tlsPaths } from '../shared/tls.ts';

/** curl's credentials for Harbor's admin (root only): `machine NAME login admin password ...`. */
export const ADMIN_NETRC = '/etc/harbormaster/harbor-admin.netrc';

export interface HarborApi {
  /** The name Harbor's certificate carries; resolved to 127.0.0.1. */
  publicName: string;
  port: number;
  /** The CA that signed Harbor's certificate, on the host. */
  caPath: string;
  netrc: string;
}

export const localHarborApi = (publicName: string): HarborApi => ({ publicName, port: 443, caPath: tlsPaths().ca, netrc: ADMIN_NETRC });

/** curl to Harbor's API on this host; `args` go before the URL. */
export function curlApi(api: HarborApi, path: string, args: string): string {
  return (
    `curl -sS --max-time 10 --cacert ${q(api.caPath)} --netrc-file ${q(api.netrc)} ` +
    `--resolve ${q(`${api.publicName}:${api.port}:127.0.0.1`)} ${args} ${q(`https://${api.publicName}:${api.port}/api/v2.0/${path}`)}`
  );
}

/** The netrc step: netrc splits on blanks and reads quotes, so a password must have neither. */
export function adminNetrcStep(password: Secret, publicName: string, dest = ADMIN_NETRC): Step {
  if (/[\s"'\\]/.test(password.reveal())) {
    throw new UserError('role registry: vault harbor_admin_password holds blanks, quotes or backslashes, which curl\'s netrc file cannot carry: set one without them');
  }
  const content = new Secret(`machine ${publicName} login admin password ${password.reveal()}\n`);
  return copy({ name: `harbor admin credentials ${dest}`, dest, content, mode: '0600', owner: 'root', group: 'root', tags: ['harbor'] });
}

/** The configuration a deployment wants: the secure defaults, then the inventory's harbor_config. */
export const wantedConfigurations = (vars: Vars) => ({ ...SECURE_DEFAULTS, ...checkConfigurations(vars.harbor_config, 'registry role: harbor_config') });

/**
 * Reads GET /configurations and sets the keys that differ (one PUT): ok when Harbor holds them
 * all. Runs after the pending handlers (an install or reconfigure), when Harbor answers.
 */
export function harborSettingsStep(api: HarborApi, vars: Vars): Step {
  const wanted = wantedConfigurations(vars);
  return {
    kind: 'command',
    name: 'harbor system configuration',
    tags: ['harbor', 'config'],
    notify: [],
    when: true,
    sensitive: false,
    afterHandlers: true,
    reads: [api.netrc],
    writes: [],
    probe: () => ({ shell: `${curlApi(api, 'configurations', `-w '\\n%{http_code}'`)} 2>&1; return 0` }),
    async plan(state) {
      const lines = state.output.trimEnd().split('\n');
      const status = lines.pop() ?? '';
      const body = lines.join('\n');
      if (status === '401' || status === '403') {
        throw new UserError(`Harbor at https://${api.publicName} refused admin with the vault's harbor_admin_password (HTTP ${status})`);
      }
      let current: ConfigurationsResponse = {};
      if (status === '200') {
        try {
          current = JSON.parse(body) as ConfigurationsResponse;
        } catch {
          throw new UserError(`Harbor at https://${api.publicName} answered GET /configurations with something other than JSON`);
        }
      }
      const changes = diffConfigurations(current, wanted);
      if (changes.length === 0) return null;
      const fixed = notEditable(current, changes);
      if (fixed.length) throw new UserError(`Harbor at https://${api.publicName}: ${fixed.join(', ')} cannot be changed over the API (set by Harbor's core environment)`);
      const unread = status === '200' ? '' : ` (Harbor not answering: ${status === '000' ? body.trim().split('\n').pop() : `HTTP ${status}`})`;
      return {
        summary: `set ${describeChanges(changes)}${unread}`,
        action: {
          script: curlApi(api, 'configurations', `--fail-with-body -X PUT -H 'Content-Type: application/json' --data-binary @-`),
          stdin: JSON.stringify(changesBody(changes)),
        },
      };
    },
  };
}
