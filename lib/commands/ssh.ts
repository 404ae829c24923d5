// `ssh.mts`: the way in. A shell or command on any inventory host (through the bastion, with the
// pinned known_hosts and the inventory's key), a tunnel to the registry's HTTPS, or the OpenSSH
// client config that lets plain ssh/scp/rsync do the same.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sshConfigText } from '../access/ssh-config.ts';
import { openTunnel } from '../access/tunnel.ts';
import { parseFlags } from '../cli.ts';
import { UserError } from '../errors.ts';
import { writePrivateFile } from '../fs.ts';
import { selectHosts } from '../inventory/limit.ts';
import type { Inventory } from '../inventory/types.ts';
import { loadRunInventory, passwordSource } from '../inventory/vaulted.ts';
import { registryPublicName } from '../pki/index.ts';
import { redact } from '../secret.ts';
import type { CommandContext } from './harbor-session.ts';

export const SSH_FLAGS = {
  inventory: { type: 'string', short: 'i', default: 'inventory/lab.yaml' },
  'known-hosts': { type: 'string' },
  output: { type: 'string', short: 'o' },
  port: { type: 'string', default: '8443' },
  'vault-password-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SSH_USAGE = `usage: npx zx scripts/ssh.mts [options] HOST [CMD...]   a shell (or CMD) on an inventory host
       npx zx scripts/ssh.mts [options] tunnel [HOST]      forward 127.0.0.1:--port to HOST's registry HTTPS
       npx zx scripts/ssh.mts [options] config [-o FILE]   write an OpenSSH client config (stdout without -o)
Every host by its inventory name, private ones through the bastion (ProxyJump), the inventory's
key, its pinned known_hosts and StrictHostKeyChecking yes. The tunnel goes through the one SSH
connection to the bastion, to the first registry host unless HOST is given; it prints the URL to
open and runs until Ctrl-C. With the config, plain \`ssh -F FILE HOST\`, scp and rsync work.
options (before HOST; what follows HOST is the command, passed on as it is):
  -i, --inventory FILE      inventory (default inventory/lab.yaml)
  --known-hosts FILE        known_hosts for every host instead of the inventory's
  -o, --output FILE         config: write it here (0600) instead of to stdout
  --port N                  tunnel: the local port (default 8443; 0 picks a free one)
  --vault-password-file F   when the inventory holds !vault values
  -h, --help                this help`;

/** Flags go before HOST; from the word after HOST (or after `tunnel`/`config`'s own) everything is the command. */
function parse(args: string[]) {
  const { tokens = [] } = parseArgs({ args, options: SSH_FLAGS, allowPositionals: true, strict: false, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  const cut = first && first.value !== 'tunnel' && first.value !== 'config' ? first.index + 1 : args.length;
  const { values, positionals } = parseFlags({ args: args.slice(0, cut), options: SSH_FLAGS, allowPositionals: true });
  return { values, positionals, remote: args.slice(cut) };
}

async function inventory(values: ReturnType<typeof parse>['values']): Promise<Inventory> {
  const file = values.inventory;
  if (!existsSync(file)) throw new UserError(`${file}: inventory not found: pass -i FILE`);
  return loadRunInventory(file, passwordSource(values['vault-password-file']));
}

function hostOf(inv: Inventory, name: string) {
  const host = inv.hosts.get(name);
  if (!host) throw new UserError(`${inv.file} has no host "${name}"; hosts: ${[...inv.hosts.keys()].join(', ')}`);
  return host;
}

const knownHosts = (values: ReturnType<typeof parse>['values']) => (values['known-hosts'] ? { knownHostsFile: resolve(values['known-hosts']) } : {});

/** Runs OpenSSH on the host with a config written for this one call (0600, removed after). */
export async function sshToHost(inv: Inventory, host: string, remote: string[], opts: { knownHostsFile?: string } = {}): Promise<number> {
  hostOf(inv, host);
  const dir = await mkdtemp(join(tmpdir(), 'hm-ssh-'));
  try {
    const config = join(dir, 'ssh_config');
    await writePrivateFile(config, sshConfigText(inv, opts));
    return await new Promise<number>((done, fail) => {
      const child = spawn('ssh', ['-F', config, host, ...remote], { stdio: 'inherit' });
      child.on('error', (err: NodeJS.ErrnoException) => fail(err.code === 'ENOENT' ? new UserError('ssh (the OpenSSH client) is not installed') : err));
      child.on('exit', (code, signal) => done(code ?? (signal ? 128 : 1)));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function tunnel(ctx: CommandContext, inv: Inventory, name: string | undefined, portFlag: string): Promise<number> {
  if (!/^\d+$/.test(portFlag) || Number(portFlag) > 65535) throw new UserError(`--port ${portFlag}: give a port number (0 picks a free one)`);
  const registries = selectHosts(inv, 'registry');
  const host = name ? hostOf(inv, name) : registries[0];
  if (!host) throw new UserError(`${inv.file}: no registry host to tunnel to: name one (ssh.mts tunnel HOST)`);
  const publicName = registryPublicName(registries, inv.file);
  const t = await openTunnel(inv, host, Number(portFlag), (m) => ctx.err.write(redact(`warning: ${m}\n`)));
  ctx.out.write(
    `tunnel: 127.0.0.1:${t.port} -> ${t.reaches}\n` +
      `open https://${publicName}:${t.port}/ (the certificate's name: put "127.0.0.1 ${publicName}" in /etc/hosts and trust the deployment's ca.crt)\n` +
      'Ctrl-C to stop\n',
  );
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await t.close();
  ctx.out.write('tunnel closed\n');
  return 0;
}

export async function main(ctx: CommandContext): Promise<number> {
  const { values, positionals, remote } = parse(ctx.args);
  if (values.help) return void ctx.out.write(SSH_USAGE + '\n'), 0;
  const [what, arg, ...extra] = positionals;
  if (!what) throw new UserError('name a host, or tunnel or config: see --help');
  if (extra.length || (what === 'config' && arg)) throw new UserError(`unexpected argument "${extra[0] ?? arg}"; see --help`);
  const inv = await inventory(values);
  if (what === 'config') {
    const text = sshConfigText(inv, knownHosts(values));
    if (!values.output) return void ctx.out.write(text), 0;
    await writePrivateFile(values.output, text);
    ctx.err.write(`wrote ${values.output}: ssh -F ${values.output} HOST\n`);
    return 0;
  }
  if (what === 'tunnel') return tunnel(ctx, inv, arg, values.port);
  return sshToHost(inv, what, remote, knownHosts(values));
}
