// What Harbor should hold, as the inventory's `harbor:` (or a --spec file) declares it, checked
// once up front: a typo or a wrong type is one line naming the source and the key, before any
// request. A key left out is not managed; a list or map that is given is owned (--prune).
import { UserError } from '../errors.ts';
import { ROLES } from './client.ts';
import { checkConfigurations, type Configurations } from './configurations.ts';

export type RoleName = keyof typeof ROLES;

export interface UserSpec {
  absent?: boolean;
  /** Left as it is when undefined. */
  admin?: boolean;
  email?: string;
  realname?: string;
  comment?: string;
}

export interface RetentionRuleSpec {
  repositories: string;
  tags: string;
  untagged: boolean;
  /** Harbor's template (latestPushedK, nDaysSinceLastPush, …) and its parameter, when it has one. */
  template: string;
  value?: number;
}

export interface ImmutabilitySpec {
  repositories: string;
  tags: string;
  disabled: boolean;
}

export interface WebhookSpec {
  url: string;
  events: string[];
  type: string;
  payload_format: string;
  skip_cert_verify: boolean;
  enabled: boolean;
  description: string;
}

export const PROJECT_SETTINGS = ['auto_scan', 'prevent_vul', 'enable_content_trust', 'auto_sbom_generation'] as const;
export const SEVERITIES = ['none', 'low', 'medium', 'high', 'critical'] as const;

export interface ProjectSpec {
  absent?: boolean;
  public?: boolean;
  /** Bytes, -1 for unlimited. */
  storage_limit?: number;
  /** Harbor's project settings (metadata), kept by Harbor as the strings "true"/"false". */
  settings: Partial<Record<(typeof PROJECT_SETTINGS)[number], boolean>> & { severity?: string };
  /** User members and their roles ('absent' removes one). */
  members?: Record<string, RoleName | 'absent'>;
  groups?: Record<string, RoleName | 'absent'>;
  retention?: { schedule: string; rules: RetentionRuleSpec[] };
  immutability?: ImmutabilitySpec[];
  webhooks?: Record<string, WebhookSpec>;
}

export interface RobotSpec {
  absent?: boolean;
  /** A project robot's project; a system robot has none. */
  project?: string;
  description: string;
  /** Days, -1 for never. */
  duration: number;
  disabled: boolean;
  /** Harbor's permissions: kind, namespace ('/' for system, a project name or '*') and access. */
  permissions: { kind: 'system' | 'project'; namespace: string; access: { resource: string; action: string }[] }[];
}

export interface GcSpec {
  /** Harbor's schedule type (Hourly, Daily, Weekly, Custom, None) and, for Custom, a 6-field cron. */
  type: string;
  cron?: string;
  delete_untagged?: boolean;
  workers?: number;
}

export interface HarborSpec {
  users?: Record<string, UserSpec>;
  projects?: Record<string, ProjectSpec>;
  robots?: Record<string, RobotSpec>;
  gc?: GcSpec;
  /** System configuration keys (swagger's Configurations); keys left out are not managed. */
  configurations?: Configurations;
}

const RETAIN: Record<string, string> = {
  latest_pushed: 'latestPushedK',
  latest_pulled: 'latestPulledN',
  pushed_within_days: 'nDaysSinceLastPush',
  pulled_within_days: 'nDaysSinceLastPull',
};
const SCHEDULES: Record<string, string> = { hourly: 'Hourly', daily: 'Daily', weekly: 'Weekly', none: 'None' };
const WEBHOOK_EVENTS = ['PUSH_ARTIFACT', 'PULL_ARTIFACT', 'DELETE_ARTIFACT', 'SCANNING_COMPLETED', 'SCANNING_FAILED', 'SCANNING_STOPPED', 'QUOTA_EXCEED', 'QUOTA_WARNING', 'REPLICATION', 'TAG_RETENTION'];
const SIZE = /^(\d+)\s*([KMGT]i?B?)?$/i;
const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
const CRON6 = /^\S+( \S+){5}$/;

/** Reads the spec at `source` (a file or "the inventory's harbor:"), failing on the first bad key. */
export function parseHarborSpec(raw: unknown, source: string): HarborSpec {
  const fail = (at: string, what: string): never => {
    throw new UserError(`${source}: ${at}: ${what}`);
  };
  const map = (v: unknown, at: string): Record<string, unknown> =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(at, `expected a mapping, got ${JSON.stringify(v)}`);
  const keys = (v: Record<string, unknown>, at: string, known: string[]) => {
    for (const k of Object.keys(v)) if (!known.includes(k)) fail(`${at}.${k}`, `unknown key (known: ${known.join(', ')})`);
    return v;
  };
  const bool = (v: unknown, at: string): boolean | undefined => (v === undefined || typeof v === 'boolean' ? v : fail(at, `expected true or false, got ${JSON.stringify(v)}`));
  const text = (v: unknown, at: string): string | undefined => (v === undefined || typeof v === 'string' ? v : fail(at, `expected a string, got ${JSON.stringify(v)}`));
  const int = (v: unknown, at: string, min: number): number | undefined =>
    v === undefined || (Number.isInteger(v) && (v as number) >= min) ? (v as number | undefined) : fail(at, `expected a whole number of at least ${min}, got ${JSON.stringify(v)}`);
  const oneOf = <T extends string>(v: unknown, at: string, allowed: readonly T[]): T =>
    allowed.includes(v as T) ? (v as T) : fail(at, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  const list = (v: unknown, at: string): unknown[] => (Array.isArray(v) ? v : fail(at, `expected a list, got ${JSON.stringify(v)}`));
  const roles = [...Object.keys(ROLES), 'absent'] as (RoleName | 'absent')[];

  const bytes = (v: unknown, at: string): number | undefined => {
    if (v === undefined || v === -1) return v;
    const m = SIZE.exec(String(v));
    const n = m ? Number(m[1]) * (m[2] ? UNITS[m[2][0]!.toUpperCase()]! : 1) : NaN;
    return n > 0 ? n : fail(at, `expected bytes (1073741824 or 1GiB) or -1 for unlimited, got ${JSON.stringify(v)}`);
  };
  const schedule = (v: unknown, at: string): { type: string; cron?: string } => {
    const s = text(v, at) ?? 'none';
    if (SCHEDULES[s.toLowerCase()]) return { type: SCHEDULES[s.toLowerCase()]! };
    return CRON6.test(s) ? { type: 'Custom', cron: s } : fail(at, `expected hourly, daily, weekly, none or a 6-field cron ("0 0 2 * * *"), got ${JSON.stringify(s)}`);
  };
  const access = (v: unknown, at: string) =>
    list(v, at).map((a, i) => {
      const m = /^([a-z-]+):([a-z*-]+)$/.exec(String(a));
      return m ? { resource: m[1]!, action: m[2]! } : fail(`${at}[${i}]`, `expected RESOURCE:ACTION (repository:push), got ${JSON.stringify(a)}`);
    });

  const user = (v: unknown, at: string): UserSpec => {
    const u = keys(map(v ?? {}, at), at, ['absent', 'admin', 'email', 'realname', 'comment']);
    return { absent: bool(u.absent, `${at}.absent`), admin: bool(u.admin, `${at}.admin`), email: text(u.email, `${at}.email`), realname: text(u.realname, `${at}.realname`), comment: text(u.comment, `${at}.comment`) };
  };

  const retentionRule = (v: unknown, at: string): RetentionRuleSpec => {
    const r = keys(map(v, at), at, ['repositories', 'tags', 'untagged', 'always', ...Object.keys(RETAIN)]);
    const chosen = ['always', ...Object.keys(RETAIN)].filter((k) => r[k] !== undefined);
    if (chosen.length !== 1) fail(at, `give exactly one of always, ${Object.keys(RETAIN).join(', ')}`);
    const how = chosen[0]!;
    const base = { repositories: text(r.repositories, `${at}.repositories`) ?? '**', tags: text(r.tags, `${at}.tags`) ?? '**', untagged: bool(r.untagged, `${at}.untagged`) ?? false };
    if (how === 'always') return { ...base, template: 'always' };
    return { ...base, template: RETAIN[how]!, value: int(r[how], `${at}.${how}`, 1) };
  };

  const webhook = (v: unknown, at: string): WebhookSpec => {
    const w = keys(map(v, at), at, ['url', 'events', 'type', 'payload_format', 'skip_cert_verify', 'enabled', 'description']);
    const url = text(w.url, `${at}.url`);
    if (!url || !/^https?:\/\/\S+$/.test(url)) fail(`${at}.url`, `expected an http(s) URL, got ${JSON.stringify(w.url)}`);
    return {
      url: url!,
      events: list(w.events, `${at}.events`).map((e, i) => oneOf(e, `${at}.events[${i}]`, WEBHOOK_EVENTS)),
      type: w.type === undefined ? 'http' : oneOf(w.type, `${at}.type`, ['http', 'slack']),
      payload_format: w.payload_format === undefined ? 'Default' : oneOf(w.payload_format, `${at}.payload_format`, ['Default', 'CloudEvents']),
      skip_cert_verify: bool(w.skip_cert_verify, `${at}.skip_cert_verify`) ?? false,
      enabled: bool(w.enabled, `${at}.enabled`) ?? true,
      description: text(w.description, `${at}.description`) ?? '',
    };
  };

  const project = (v: unknown, at: string): ProjectSpec => {
    const p = keys(map(v ?? {}, at), at, ['absent', 'public', 'storage_limit', ...PROJECT_SETTINGS, 'severity', 'members', 'groups', 'retention', 'immutability', 'webhooks']);
    const settings: ProjectSpec['settings'] = {};
    for (const k of PROJECT_SETTINGS) if (p[k] !== undefined) settings[k] = bool(p[k], `${at}.${k}`);
    if (p.severity !== undefined) settings.severity = oneOf(p.severity, `${at}.severity`, SEVERITIES);
    const roleMap = (m: unknown, where: string) =>
      m === undefined ? undefined : Object.fromEntries(Object.entries(map(m, where)).map(([name, role]) => [name, oneOf(role, `${where}.${name}`, roles)]));
    let retention: ProjectSpec['retention'];
    if (p.retention !== undefined) {
      const r = keys(map(p.retention, `${at}.retention`), `${at}.retention`, ['schedule', 'rules']);
      const when = schedule(r.schedule, `${at}.retention.schedule`);
      if (when.type !== 'None' && when.type !== 'Custom') fail(`${at}.retention.schedule`, 'give a 6-field cron ("0 0 0 * * *") or none');
      retention = { schedule: when.cron ?? '', rules: list(r.rules ?? [], `${at}.retention.rules`).map((x, i) => retentionRule(x, `${at}.retention.rules[${i}]`)) };
    }
    return {
      absent: bool(p.absent, `${at}.absent`),
      public: bool(p.public, `${at}.public`),
      storage_limit: bytes(p.storage_limit, `${at}.storage_limit`),
      settings,
      members: roleMap(p.members, `${at}.members`),
      groups: roleMap(p.groups, `${at}.groups`),
      retention,
      immutability:
        p.immutability === undefined
          ? undefined
          : list(p.immutability, `${at}.immutability`).map((x, i) => {
              const where = `${at}.immutability[${i}]`;
              const r = keys(map(x, where), where, ['repositories', 'tags', 'disabled']);
              return { repositories: text(r.repositories, `${where}.repositories`) ?? '**', tags: text(r.tags, `${where}.tags`) ?? '**', disabled: bool(r.disabled, `${where}.disabled`) ?? false };
            }),
      webhooks: p.webhooks === undefined ? undefined : Object.fromEntries(Object.entries(map(p.webhooks, `${at}.webhooks`)).map(([n, w]) => [n, webhook(w, `${at}.webhooks.${n}`)])),
    };
  };

  const robot = (v: unknown, at: string): RobotSpec => {
    const r = keys(map(v, at), at, ['absent', 'project', 'description', 'duration', 'disabled', 'permissions']);
    const projectName = text(r.project, `${at}.project`);
    let permissions: RobotSpec['permissions'];
    if (r.absent === true && r.permissions === undefined) permissions = [];
    else if (projectName) permissions = [{ kind: 'project', namespace: projectName, access: access(r.permissions, `${at}.permissions`) }];
    else {
      // A system robot: `system:` for Harbor-wide access, `projects:` per project name (or '*').
      const p = keys(map(r.permissions, `${at}.permissions`), `${at}.permissions`, ['system', 'projects']);
      permissions = [
        ...(p.system === undefined ? [] : [{ kind: 'system' as const, namespace: '/', access: access(p.system, `${at}.permissions.system`) }]),
        ...Object.entries(map(p.projects ?? {}, `${at}.permissions.projects`)).map(([ns, a]) => ({ kind: 'project' as const, namespace: ns, access: access(a, `${at}.permissions.projects.${ns}`) })),
      ];
      if (permissions.length === 0) fail(`${at}.permissions`, 'a system robot needs system: or projects: access');
    }
    const duration = r.duration === undefined ? -1 : r.duration === -1 ? -1 : int(r.duration, `${at}.duration`, 1)!;
    return { absent: bool(r.absent, `${at}.absent`), project: projectName, description: text(r.description, `${at}.description`) ?? '', duration, disabled: bool(r.disabled, `${at}.disabled`) ?? false, permissions };
  };

  const top = keys(map(raw ?? {}, 'harbor'), 'harbor', ['users', 'projects', 'robots', 'gc', 'configurations']);
  const each = <T>(v: unknown, at: string, one: (x: unknown, where: string) => T) =>
    v === undefined ? undefined : Object.fromEntries(Object.entries(map(v, at)).map(([name, x]) => [name, one(x, `${at}.${name}`)]));
  let gc: GcSpec | undefined;
  if (top.gc !== undefined) {
    const g = keys(map(top.gc, 'harbor.gc'), 'harbor.gc', ['schedule', 'delete_untagged', 'workers']);
    gc = { ...schedule(g.schedule, 'harbor.gc.schedule'), delete_untagged: bool(g.delete_untagged, 'harbor.gc.delete_untagged'), workers: int(g.workers, 'harbor.gc.workers', 1) };
  }
  return {
    users: each(top.users, 'harbor.users', user),
    projects: each(top.projects, 'harbor.projects', project),
    robots: each(top.robots, 'harbor.robots', robot),
    gc,
    configurations: top.configurations === undefined ? undefined : checkConfigurations(top.configurations, `${source}: harbor.configurations`),
  };
}
