// Certificates in code: the deployment's CA and registry certificate (issue 5).
export { ensureCa, ensureServerCert, RENEW_BEFORE_DAYS, type Current, type Ensured } from './ensure.ts';
export { readIfExists } from '../fs.ts';
export { certFingerprint, chainsTo, daysLeft, readCert, summarize, validityProblem, type CertSummary } from './inspect.ts';
export { CA_DAYS, CA_KEY_BITS, createCa, issueServerCert, MAX_SERVER_DAYS, SERVER_KEY_BITS, type KeyPair } from './issue.ts';
export { formatSan, hostSans, sanChanges, sansOf, wantedSans, registryPublicName, type San } from './sans.ts';
export { certPath, DEFAULT_CERTS_DIR, ensurePki, ensureServiceCert, loadPki, loadServiceCert, serviceCertPath, type LoadedPki, type PkiResult, type PkiVault } from './store.ts';
export { DOCKER_CERTS_DIR, dockerCaPath, trustCaLocally, trustCaOnHost, type RemoteShell } from './trust.ts';
