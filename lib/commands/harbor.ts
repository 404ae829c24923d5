// `harbor.mts`: Harbor over its REST API as the admin (listings, Harbor as code: plan/apply, the
// one-off user/project/member commands, robot rotation) and docker compose on its hosts over SSH.
// Every change goes through lib/harbor's plan and the engine's reporter. No module-level state:
// main() builds a session; VERBS maps each command word to its function (add verbs there).
import { existsSync } from 'node:fs';
import { parseFlags } from '../cli.ts';
import { UserError } from '../errors.ts';
import { applyPlan, formatPlan, hasChanges, knownUsers, planHarbor, planMembers, planProjects, planRobotRotation, planUsers, type PlanEntry } from '../harbor/index.ts';
import { loadRunInventory, passwordSource } from '../inventory/vaulted.ts';
import { DEFAULT_CERTS_DIR } from '../pki/index.ts';
import { confirmYes } from '../prompt.ts';
import { runRoles } from '../run/runner.ts';
import type { RunOptions } from '../run/types.ts';
import { DEFAULT_VAULT_FILE } from '../vault/index.ts';
import { HARBOR_ACTIONS, type HarborAction } from '../../roles/registry/harbor.ts';
import { harborLifecycleRole } from '../../roles/registry/lifecycle.ts';
import { TEARDOWN_VERBS, type TeardownVerb } from '../../roles/registry/teardown.ts';
import { teardown } from './teardown.ts';
import { listings } from './harbor-listings.ts';
import { FLAGS, HarborSession, needArgs, type CommandContext, type Verb } from './harbor-session.ts';

export { FLAGS, type CommandContext };

export const USAGE = `usage: npx zx scripts/harbor.mts COMMAND [options]
  info                              Harbor's version, settings, registry URL, storage volume and health
  users | projects | members PROJECT
                                    list users, projects, a project's members and their roles
  plan                              what apply would change: + / ~ / - per object with attribute diffs,
                                    ? for objects Harbor holds that the spec does not name
  apply [--yes] [--prune]           make Harbor hold what the spec declares (asks first unless --yes);
                                    --prune also removes what the spec does not name
  robot rotate NAME                 a new secret for the spec's robot NAME, saved in the vault
                                    (harbor_robots.NAME) before Harbor gets it; never shown
  user add NAME [--admin] [--email E] [--realname R] | user rm NAME
                                    one user; its password is the vault key harbor_users.NAME,
                                    generated and saved there when absent; email default NAME@<registry name>
  project add NAME [--public] [--storage-limit BYTES] | project rm NAME
  member add PROJECT USER [--role R] | member rm PROJECT USER
                                    R: projectAdmin, maintainer, developer (default), guest, limitedGuest
  status | stop | start | restart | reconfigure
                                    on every registry host over SSH (-i): docker compose ps / stop /
                                    start / both; reconfigure = down, ./prepare, up -d (after editing
                                    harbor.yml by hand); starts wait until /api/v2.0/health is healthy
  uninstall                         on every registry host: the registry stops and no longer starts at
                                    boot (Harbor: compose down -v); data and config stay
  purge [--yes-destroy-data NAME]   uninstall, and remove the image data (Harbor: also its database and
                                    redis); asks for the deployment's name (its registry_public_name)
The spec is the inventory's \`harbor:\` variable (group_vars of the registry hosts), or the YAML file
given with --spec (README: Harbor operations).
options:
  -C, --check                  report what would change, change nothing
  --spec FILE                  the spec to plan and apply (default: the inventory's harbor:)
  --prune                      apply: remove objects the spec does not name
  --yes                        apply without asking (needed without a terminal)
  --json                       one JSON event per line instead of the report
  --url URL                    Harbor (default https://<registry_public_name> from the inventory)
  -i, --inventory FILE         inventory (default inventory/lab.yaml)
  --ca FILE                    CA to trust for Harbor's certificate (default <certs-dir>/ca.crt)
  --certs-dir DIR              the deployment's public certificates (default ${DEFAULT_CERTS_DIR})
  --vault FILE                 vault with harbor_admin_password, harbor_users.*, harbor_robots.* (default ${DEFAULT_VAULT_FILE})
  --vault-password-file F      vault password file (else $HARBORMASTER_VAULT_PASSWORD_FILE, else a prompt)
  -v, --verbose                more detail
  -h, --help                   this help`;

/** `add`/`rm` and their arguments, or a one-line error. */
function subcommand(noun: string, args: string[]): { add: boolean; rest: string[] } {
  const [verb, ...rest] = args;
  if (verb !== 'add' && verb !== 'rm') throw new UserError(`${noun} needs add or rm: see --help`);
  return { add: verb === 'add', rest };
}

function storageLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^(-1|[1-9]\d*)$/.test(value)) throw new UserError(`--storage-limit "${value}": give bytes (a whole number above 0) or -1 for unlimited`);
  return Number(value);
}

/** The one-off commands name one object: what else Harbor holds is not theirs to report. */
const only = (entries: PlanEntry[]) => entries.filter((e) => e.action !== 'unmanaged');

const plan: Verb = async (s, args) => {
  needArgs(args, 0, 'plan');
  const spec = await s.spec();
  return s.withHarbor(async (ctx) => {
    const entries = await planHarbor(ctx, spec);
    if (s.flags.json) return applyPlan(entries, { host: new URL(ctx.client.url).host, check: true, sink: s.sink() });
    s.say(formatPlan(entries).trimEnd());
  });
};

const apply: Verb = async (s, args) => {
  needArgs(args, 0, 'apply');
  const spec = await s.spec();
  return s.withHarbor(async (ctx) => {
    const entries = await planHarbor(ctx, spec);
    if (!s.flags.json) s.say(formatPlan(entries).trimEnd());
    if (!s.flags.check && hasChanges(entries)) await confirmYes('Apply these changes to Harbor?', Boolean(s.flags.yes));
    return s.run(entries, ctx.client);
  });
};

const robot: Verb = async (s, args) => {
  const [verb, name] = args;
  if (verb !== 'rotate' || args.length !== 2) throw new UserError('usage: robot rotate NAME (see --help)');
  const spec = (await s.spec()).robots?.[name!];
  if (!spec || spec.absent) throw new UserError(`robot ${name} is not in the spec (harbor.robots.${name}): rotation needs its project and level`);
  return s.withHarbor(async (ctx) => s.run([await planRobotRotation(ctx, name!, spec)], ctx.client));
};

const user: Verb = async (s, args) => {
  const { add, rest } = subcommand('user', args);
  const [name] = needArgs(rest, 1, add ? 'user add NAME' : 'user rm NAME');
  const f = s.flags;
  const want = add ? { admin: f.admin ? true : undefined, email: f.email, realname: f.realname } : { absent: true };
  return s.withHarbor(async (ctx) => s.run(only(planUsers(ctx, { [name!]: want }, await ctx.client.listUsers())), ctx.client));
};

const project: Verb = async (s, args) => {
  const { add, rest } = subcommand('project', args);
  const [name] = needArgs(rest, 1, add ? 'project add NAME [--public]' : 'project rm NAME');
  const want = add ? { public: s.flags.public ? true : undefined, storage_limit: storageLimit(s.flags['storage-limit']), settings: {} } : { absent: true, settings: {} };
  return s.withHarbor(async (ctx) => s.run(only(await planProjects(ctx, { [name!]: want }, new Set())), ctx.client));
};

const member: Verb = async (s, args) => {
  const { add, rest } = subcommand('member', args);
  const [projectName, username] = needArgs(rest, 2, add ? 'member add PROJECT USER --role ROLE' : 'member rm PROJECT USER');
  const role = add ? s.flags.role : 'absent';
  return s.withHarbor(async (ctx) => {
    const { client } = ctx;
    const have = await client.getProject(projectName!);
    if (!have) throw new UserError(`project ${projectName} not found in Harbor at ${client.url}: add it with project add ${projectName}`);
    const users = knownUsers((await client.listUsers()).map((u) => u.username), {});
    const entries = await planMembers(ctx, projectName!, have, { settings: {}, members: { [username!]: role as 'developer' } }, users);
    return s.run(only(entries), client);
  });
};

/** An action on the registry hosts themselves, through the engine (one SSH connection each, the bastion as jump). */
const lifecycle =
  (action: HarborAction): Verb =>
  async (s, args) => {
    needArgs(args, 0, action);
    const file = s.flags.inventory;
    if (!existsSync(file)) throw new UserError(`${file}: inventory not found: pass -i FILE`);
    const inv = await loadRunInventory(file, s.password);
    const options: RunOptions = { check: Boolean(s.flags.check), diff: false, forks: 10, hostKeyChecking: 'strict', verbose: action === 'status' || Boolean(s.flags.verbose) };
    return (await runRoles(inv, [harborLifecycleRole(action)], options, s.sink())).exitCode;
  };

/** uninstall / purge on the registry hosts (lib/commands/teardown.ts). */
const end =
  (verb: TeardownVerb): Verb =>
  async (s, args) => {
    needArgs(args, 0, verb);
    const yesDestroyData = s.flags['yes-destroy-data'];
    return teardown(verb, { inventoryFile: s.flags.inventory, password: s.password, check: Boolean(s.flags.check), ...(yesDestroyData !== undefined ? { yesDestroyData } : {}), sink: s.sink() });
  };

export const VERBS: Record<string, Verb> = {
  ...listings,
  plan,
  apply,
  robot,
  user,
  project,
  member,
  ...Object.fromEntries(HARBOR_ACTIONS.map((a) => [a, lifecycle(a)])),
  ...Object.fromEntries(TEARDOWN_VERBS.map((v) => [v, end(v)])),
};

export async function main(ctx: CommandContext): Promise<number> {
  const parsed = parseFlags({ args: ctx.args, options: FLAGS, allowPositionals: true });
  const session = new HarborSession(parsed.values, passwordSource(parsed.values['vault-password-file']), ctx);
  if (parsed.values.help) return session.say(USAGE), 0;
  const [command, ...rest] = parsed.positionals;
  const verb = command !== undefined && Object.hasOwn(VERBS, command) ? VERBS[command] : undefined;
  if (!verb) throw new UserError(`${command ? `unknown command ${command}` : 'no command'}: use ${Object.keys(VERBS).join(', ')} (--help)`);
  return (await verb(session, rest)) ?? 0;
}
