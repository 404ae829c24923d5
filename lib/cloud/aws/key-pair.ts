// The operators' SSH key as the key pair `<project>-admin` the instances start with; the public
// and private key files are checked to be a pair before anything is made.
import { readFile } from 'node:fs/promises';
import { DeleteKeyPairCommand, DescribeKeyPairsCommand, ImportKeyPairCommand } from '@aws-sdk/client-ec2';
import ssh2 from 'ssh2';
import { UserError } from '../../errors.ts';
import { publicKeyOf } from './console.ts';
import { resourceName, tagsFor, type AwsContext } from './plan.ts';

async function readKeyFile(file: string, setting: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read the SSH ${setting === 'ssh_public_key_file' ? 'public' : 'private'} key (${(err as NodeJS.ErrnoException).code}); set ${setting}`);
  }
}

/** The public key line, once both files are read and found to be one key pair. */
async function operatorKey(ctx: AwsContext): Promise<string> {
  const s = ctx.settings;
  const key = publicKeyOf((await readKeyFile(s.sshPublicKeyFile, 'ssh_public_key_file')).trim());
  if (!key) throw new UserError(`${s.sshPublicKeyFile}: not an OpenSSH public key line ("ssh-ed25519 AAAA…")`);
  const parsed = ssh2.utils.parseKey(await readKeyFile(s.sshPrivateKeyFile, 'ssh_private_key_file'));
  const privateKey = Array.isArray(parsed) ? parsed[0] : parsed;
  // A passphrase-protected key cannot be opened here (the agent holds it): it is checked at first contact.
  if (privateKey instanceof Error) {
    if (/passphrase/i.test(privateKey.message)) return key;
    throw new UserError(`${s.sshPrivateKeyFile}: not an SSH private key (${privateKey.message}); set ssh_private_key_file`);
  }
  if (`${privateKey!.type} ${privateKey!.getPublicSSH().toString('base64')}` !== key) {
    throw new UserError(`${s.sshPrivateKeyFile} is not the private key of ${s.sshPublicKeyFile}: set ssh_private_key_file and ssh_public_key_file to one key pair`);
  }
  return key;
}

/** Plans the key pair; returns its name. */
export async function planKeyPair(ctx: AwsContext): Promise<string> {
  const { settings: s, clients: { ec2 } } = ctx;
  const name = resourceName(s, 'admin');
  const key = await operatorKey(ctx);
  const [found] = (await ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: [name] }], IncludePublicKey: true }))).KeyPairs ?? [];
  const current = found?.PublicKey ? publicKeyOf(found.PublicKey) : undefined;
  const importKey = async () => {
    await ec2.send(new ImportKeyPairCommand({ KeyName: name, PublicKeyMaterial: new TextEncoder().encode(key), TagSpecifications: [{ ResourceType: 'key-pair', Tags: tagsFor(s, name) }] }));
  };
  if (!found) ctx.add({ action: 'create', kind: 'key pair', name, detail: s.sshPublicKeyFile, run: importKey });
  else if (current === key) ctx.add({ action: 'ok', kind: 'key pair', name, id: found.KeyPairId! });
  else {
    ctx.add({
      action: 'update', kind: 'key pair', name, id: found.KeyPairId!, detail: `replaced by ${s.sshPublicKeyFile} (running instances keep the key they started with)`,
      run: async () => {
        await deleteKeyPair(ctx, name, found.KeyPairId!);
        await importKey();
      },
    });
  }
  return name;
}

/** By name and id: AWS accepts either, moto honours only the name. */
export const deleteKeyPair = (ctx: AwsContext, KeyName: string, KeyPairId: string) => ctx.clients.ec2.send(new DeleteKeyPairCommand({ KeyName, KeyPairId }));

export async function planKeyPairGone(ctx: AwsContext): Promise<void> {
  const name = resourceName(ctx.settings, 'admin');
  for (const k of (await ctx.clients.ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: [name] }] }))).KeyPairs ?? []) {
    ctx.add({ action: 'delete', kind: 'key pair', name, id: k.KeyPairId!, run: () => deleteKeyPair(ctx, name, k.KeyPairId!).then(() => undefined) });
  }
}
