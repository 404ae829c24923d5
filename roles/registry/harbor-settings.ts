// Harbor's system configuration as a step of the registry role: what harbor.yml cannot hold
// (who may create projects, self-registration, the inventory's harbor_config), read and set over
// Harbor's API on the registry host itself (harbor-api.ts).
import type { Vars } from '../../lib/inventory/types.ts';
import { UserError } from '../../lib/errors.ts';
import { changesBody, checkConfigurations, describeChanges, diffConfigurations, notEditable, SECURE_DEFAULTS, type ConfigurationsResponse } from '../../lib/harbor/configurations.ts';
import { common } from '../../lib/steps/base.ts';
import type { Step } from '../../lib/steps/index.ts';
import { curlApi, type HarborApi } from './harbor-api.ts';

/** The configuration a deployment wants: the secure defaults, then the inventory's harbor_config. */
export const wantedConfigurations = (vars: Vars) => ({ ...SECURE_DEFAULTS, ...checkConfigurations(vars.harbor_config, 'registry role: harbor_config') });

/**
 * Reads GET /configurations and sets the keys that differ (one PUT): ok when Harbor holds them
 * all. Runs after the pending handlers (an install or reconfigure), when Harbor answers.
 */
export function harborSettingsStep(api: HarborApi, vars: Vars): Step {
  const wanted = wantedConfigurations(vars);
  return {
    ...common('command', { tags: ['harbor', 'config'], afterHandlers: true }, 'harbor system configuration'),
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
