/** The vault: Ansible Vault 1.1/1.2 texts, the named-secrets file, and where its password comes from. */
export { encryptVaultText, decryptVaultText, decryptVault, vaultDecryptor, prepareVaultKeys } from './text.ts';
export { isVaultText, VAULT_HEADER } from './format.ts';
export { VaultFile, DEFAULT_VAULT_FILE } from './file.ts';
export { resolveVaultPassword } from './password.ts';
