"""Ansible's own vault library, for the vault benchmark (called by bench/lib/vault.ts).

  make FILE PASSWORD_FILE COUNT   writes a vars file of COUNT `!vault` values (secret_1..N)
  decrypt FILE PASSWORD_FILE      decrypts every value in-process, prints JSON timings
"""
import json
import secrets
import sys
import time

from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret


def vault(password_file):
    with open(password_file, 'rb') as f:
        return VaultLib([('default', VaultSecret(f.read().strip()))])


def make(path, password_file, count):
    lib = vault(password_file)
    out = []
    for i in range(1, count + 1):
        value = secrets.token_urlsafe(24).encode()
        blob = lib.encrypt(value).decode()
        out.append(f'secret_{i}: !vault |\n' + ''.join(f'  {line}\n' for line in blob.splitlines()))
    with open(path, 'w') as f:
        f.write(''.join(out))


def decrypt(path, password_file):
    started = time.perf_counter()
    loader = DataLoader()
    loader.set_vault_secrets(vault(password_file).secrets)
    data = loader.load_from_file(path)
    total = sum(len(str(v)) for v in data.values())  # str() of a vault value decrypts it
    seconds = time.perf_counter() - started
    print(json.dumps({'seconds': seconds, 'values': len(data), 'chars': total}))


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'make':
        make(args[0], args[1], int(args[2]))
    else:
        decrypt(args[0], args[1])
