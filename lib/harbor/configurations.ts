// Harbor's system configuration (GET/PUT /api/v2.0/configurations): the keys and their types as
// the v2.15 swagger's `Configurations` definition has them (tests/unit/harbor-configurations.test.ts
// holds this table against it), a check of a wanted mapping, and its difference from what Harbor
// answers (`ConfigurationsResponse`: each key as `{value, editable}`).
import { UserError } from '../errors.ts';

export type ConfigValue = string | number | boolean;
export type Configurations = Record<string, ConfigValue>;
/** GET /configurations: each key's value and whether it may be changed. */
export type ConfigurationsResponse = Record<string, { value: ConfigValue; editable?: boolean } | undefined>;

type Kind = 'string' | 'integer' | 'boolean';

/** Every key PUT /configurations takes, with its swagger type. */
export const CONFIGURATION_KEYS: Readonly<Record<string, Kind>> = {
  auth_mode: 'string', primary_auth_mode: 'boolean',
  ldap_base_dn: 'string', ldap_filter: 'string', ldap_group_base_dn: 'string', ldap_group_admin_dn: 'string',
  ldap_group_attribute_name: 'string', ldap_group_search_filter: 'string', ldap_group_search_scope: 'integer',
  ldap_group_attach_parallel: 'boolean', ldap_scope: 'integer', ldap_search_dn: 'string', ldap_search_password: 'string',
  ldap_timeout: 'integer', ldap_uid: 'string', ldap_url: 'string', ldap_verify_cert: 'boolean',
  ldap_group_membership_attribute: 'string',
  project_creation_restriction: 'string', read_only: 'boolean', self_registration: 'boolean', token_expiration: 'integer',
  uaa_client_id: 'string', uaa_client_secret: 'string', uaa_endpoint: 'string', uaa_verify_cert: 'boolean',
  http_authproxy_endpoint: 'string', http_authproxy_tokenreview_endpoint: 'string', http_authproxy_admin_groups: 'string',
  http_authproxy_admin_usernames: 'string', http_authproxy_verify_cert: 'boolean', http_authproxy_skip_search: 'boolean',
  http_authproxy_server_certificate: 'string',
  oidc_name: 'string', oidc_endpoint: 'string', oidc_client_id: 'string', oidc_client_secret: 'string',
  oidc_groups_claim: 'string', oidc_admin_group: 'string', oidc_group_filter: 'string', oidc_scope: 'string',
  oidc_user_claim: 'string', oidc_verify_cert: 'boolean', oidc_auto_onboard: 'boolean', oidc_extra_redirect_parms: 'string',
  oidc_logout: 'boolean',
  robot_token_duration: 'integer', robot_name_prefix: 'string', notification_enable: 'boolean',
  quota_per_project_enable: 'boolean', storage_per_project: 'integer', audit_log_forward_endpoint: 'string',
  skip_audit_log_database: 'boolean', session_timeout: 'integer', scanner_skip_update_pulltime: 'boolean',
  banner_message: 'string', disabled_audit_log_event_types: 'string',
};

/**
 * Keys Harbor takes but never returns (secrets; uaa_client_secret is returned masked): whether
 * they are set cannot be read, so a converge could only rewrite them every time. Refused until
 * they come from the vault with a write-once rule.
 */
const WRITE_ONLY = new Set(['ldap_search_password', 'oidc_client_secret', 'uaa_client_secret']);

/** Values the swagger describes in words only. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  project_creation_restriction: ['adminonly', 'everyone'],
  auth_mode: ['db_auth', 'ldap_auth', 'uaa_auth', 'http_auth', 'oidc_auth'],
};

/** What a deployment sets whatever the inventory says otherwise: only admins make projects, no self sign-up. */
export const SECURE_DEFAULTS: Readonly<Configurations> = { project_creation_restriction: 'adminonly', self_registration: false };

/** A wanted mapping checked key by key: `where` names its source in errors (`harbor_config in inventory.yaml`). */
export function checkConfigurations(wanted: unknown, where: string): Configurations {
  if (wanted === undefined || wanted === null) return {};
  if (typeof wanted !== 'object' || Array.isArray(wanted)) throw new UserError(`${where}: must be a mapping of Harbor configuration keys to values`);
  const out: Configurations = {};
  for (const [key, value] of Object.entries(wanted)) {
    const kind = CONFIGURATION_KEYS[key];
    if (!kind) throw new UserError(`${where}: ${key} is not a Harbor configuration key (see Configurations in Harbor's API: e.g. ${Object.keys(SECURE_DEFAULTS).join(', ')})`);
    if (WRITE_ONLY.has(key)) throw new UserError(`${where}: ${key} is a secret Harbor never returns, so its state cannot be checked; set it in Harbor's UI`);
    const ok = kind === 'integer' ? Number.isInteger(value) : typeof value === kind;
    if (!ok) throw new UserError(`${where}: ${key} must be ${kind === 'integer' ? 'an integer' : `a ${kind}`}, not ${JSON.stringify(value)}`);
    const allowed = ALLOWED[key];
    if (allowed && !allowed.includes(value as string)) throw new UserError(`${where}: ${key} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
    out[key] = value as ConfigValue;
  }
  return out;
}

export interface ConfigChange {
  key: string;
  /** What Harbor holds (undefined: it did not return the key). */
  from: ConfigValue | undefined;
  to: ConfigValue;
}

/** The keys whose value Harbor holds differently from `wanted`, in wanted's order; [] when it complies. */
export function diffConfigurations(current: ConfigurationsResponse, wanted: Configurations): ConfigChange[] {
  return Object.entries(wanted).flatMap(([key, to]) => {
    const from = current[key]?.value;
    return from === to ? [] : [{ key, from, to }];
  });
}

/** Read-only keys among the changes (`editable: false`: set by an environment variable of Harbor's core). */
export function notEditable(current: ConfigurationsResponse, changes: ConfigChange[]): string[] {
  return changes.filter((c) => current[c.key]?.editable === false).map((c) => c.key);
}

/** One line for a plan or an event: `project_creation_restriction: "everyone" -> "adminonly", ...`. */
export const describeChanges = (changes: ConfigChange[]): string =>
  changes.map((c) => `${c.key}: ${c.from === undefined ? '(unset)' : JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`).join(', ');

/** The body of PUT /configurations for these changes (Harbor changes only the keys it is given). */
export const changesBody = (changes: ConfigChange[]): Configurations => Object.fromEntries(changes.map((c) => [c.key, c.to]));
