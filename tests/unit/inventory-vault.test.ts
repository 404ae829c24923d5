import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadInventory, VaultPasswordNeeded } from '../../lib/inventory/index.ts';
import { isSecret, redact, revealDeep, Secret } from '../../lib/secret.ts';
import { vaultDecryptor } from '../../lib/vault/index.ts';
import { fixture, userError } from '../fixtures/inventory/helpers.ts';

/** A stand-in vault: the "ciphertext" is the plaintext reversed; records where each value was. */
function fakeVault() {
  const calls: string[] = [];
  const decrypt = (text: string, where: string) => {
    calls.push(where);
    return [...text.replace('$ANSIBLE_VAULT;1.1;AES256\n', '').trim()].reverse().join('');
  };
  return { calls, decrypt };
}

const yaml = (...lines: string[]) => lines.join('\n') + '\n';

t.test('inline !vault values become Secrets, decrypted with file:line', async (t) => {
  const dir = t.testdir({
    'inv.yaml': yaml('all:', '  vars:', '    db_password: !vault |', '      $ANSIBLE_VAULT;1.1;AES256', '      eulav-terces', '  hosts:', '    h1:'),
    host_vars: { 'h1.yml': yaml('plain: visible', 'nested:', '  token: !vault |', '    $ANSIBLE_VAULT;1.1;AES256', '    nekot') },
  });
  const { calls, decrypt } = fakeVault();
  const inv = await loadInventory(join(dir, 'inv.yaml'), { decrypt });
  const h1 = inv.hosts.get('h1')!.vars;
  t.ok(isSecret(h1.db_password), 'a Secret');
  t.equal((h1.db_password as Secret).reveal(), 'secret-value');
  t.equal(String(h1.db_password), '********', 'prints masked');
  t.equal(((h1.nested as Record<string, unknown>).token as Secret).reveal(), 'token', 'nested in a mapping');
  t.equal(h1.plain, 'visible');
  t.same(calls, [`${dir}/inv.yaml:3`, `${dir}/host_vars/h1.yml:3`]);
  t.equal(redact('password is secret-value'), 'password is ********', 'the value is remembered for redaction');
});

t.test('no decrypt function: a vault value is an error naming file, line and key', async (t) => {
  const dir = t.testdir({
    'inv.yaml': yaml('all:', '  hosts:', '    h1:'),
    group_vars: { all: { 'main.yml': yaml('a: 1', 'api:', '  key: !vault |', '    $ANSIBLE_VAULT;1.1;AES256', '    abc') } },
  });
  const message = await userError(t, () => loadInventory(join(dir, 'inv.yaml')));
  t.equal(message, `${dir}/group_vars/all/main.yml:3: api.key is vault-encrypted; give a vault password (--vault-password-file or HARBORMASTER_VAULT_PASSWORD_FILE)`);
  const err = await loadInventory(join(dir, 'inv.yaml')).catch((e: unknown) => e);
  t.ok(err instanceof VaultPasswordNeeded, 'a VaultPasswordNeeded, so a CLI can ask and retry');
});

t.test('a wholly encrypted vars file: every string in it is a Secret', async (t) => {
  const dir = t.testdir({
    'inv.yaml': yaml('all:', '  hosts:', '    h1:'),
    group_vars: { 'all.yml': '$ANSIBLE_VAULT;1.1;AES256\n' + [...yaml('vault_token: tok-123', 'vault_port: 8443')].reverse().join('') },
  });
  const { calls, decrypt } = fakeVault();
  const h1 = (await loadInventory(join(dir, 'inv.yaml'), { decrypt })).hosts.get('h1')!.vars;
  t.ok(isSecret(h1.vault_token));
  t.same(revealDeep(h1), { vault_token: 'tok-123', vault_port: 8443 });
  t.same(calls, [`${dir}/group_vars/all.yml`]);
  const message = await userError(t, () => loadInventory(join(dir, 'inv.yaml')));
  t.equal(message, `${dir}/group_vars/all.yml: the file is vault-encrypted; give a vault password (--vault-password-file or HARBORMASTER_VAULT_PASSWORD_FILE)`);
});

t.test('real Ansible vault text (made with ansible-vault) through the vault module', async (t) => {
  const password = new Secret(readFileSync(fixture('vault', 'password'), 'utf8').trim());
  const inv = await loadInventory(fixture('vault', 'inventory.yaml'), { decrypt: vaultDecryptor(password) });
  const web1 = inv.hosts.get('web1')!.vars;
  t.same(revealDeep(web1), {
    db_user: 'app',
    db_password: 'db-s3cret-value',
    plain_in_dir: 'visible',
    vault_api_token: 'tok-123-abc',
    vault_port: 8443,
    ansible_host: '127.0.0.1',
    creds: { user: 'admin', password: 'web1-pass-value' },
  }, 'inline values in the inventory and host_vars, and a vault-encrypted file in group_vars/all/');
  t.ok(isSecret(web1.db_password) && isSecret(web1.vault_api_token));
  const wrong = vaultDecryptor(new Secret('not the password'));
  const message = await userError(t, () => loadInventory(fixture('vault', 'inventory.yaml'), { decrypt: wrong }));
  t.match(message, `${fixture('vault', 'inventory.yaml')}:5`, 'a wrong password names the value');
});
