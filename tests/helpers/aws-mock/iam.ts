// IAM for the mock (AWS query protocol): users with tags, inline policies and access keys, with
// AWS's limits and conflicts (two keys per user; a user with keys or policies cannot be deleted).
import { randomBytes } from 'node:crypto';
import { type AwsMock, formParams, type MockResponse, nestedParams, type ServiceHandler, toXml, type XmlValue, xmlEscape } from './server.ts';

export interface IamAccessKey {
  id: string;
  secret: string;
  status: 'Active' | 'Inactive';
  created: string;
}

export interface IamUser {
  name: string;
  id: string;
  arn: string;
  path: string;
  created: string;
  tags: { Key: string; Value: string }[];
  /** Inline policies: name → document (JSON text as given). */
  policies: Map<string, string>;
  keys: IamAccessKey[];
  /** IAM is eventually consistent: S3 refuses this user as a policy principal this many more times. */
  unknownToS3For: number;
}

export interface IamState {
  users: Map<string, IamUser>;
  /** What `unknownToS3For` a new user starts with (0: known at once). */
  propagationDelay: number;
}

export function iamState(mock: AwsMock): IamState {
  if (!mock.state.iam) {
    const state: IamState = { users: new Map(), propagationDelay: 0 };
    mock.state.iam = state;
    // The keys IAM issues sign requests too (only active ones, like AWS).
    mock.keyOwner = (id) => {
      for (const user of state.users.values()) {
        const key = user.keys.find((k) => k.id === id && k.status === 'Active');
        if (key) return { secret: key.secret, arn: user.arn };
      }
      return undefined;
    };
  }
  return mock.state.iam as IamState;
}

export type Decision = 'allow' | 'deny' | undefined;

const list = (v: unknown): string[] => (v === undefined ? [] : ([] as unknown[]).concat(v).map(String));

/** An IAM pattern (`*` any run, `?` one character) as a RegExp; actions compare case-insensitively. */
const glob = (pattern: string, flags = ''): RegExp =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, flags);

/** Whether a statement's Principal names the caller (`*`, `{AWS: '*'}`, the user's ARN or its account). */
function principalMatches(principal: unknown, caller: string): boolean {
  if (principal === '*') return true;
  const account = /^arn:[^:]+:iam::(\d{12}):/.exec(caller)?.[1];
  return list((principal as { AWS?: unknown } | undefined)?.AWS).some((p) => p === '*' || p === caller || p === account || p === `arn:aws:iam::${account}:root`);
}

/**
 * What one policy document says about an action on a resource: 'deny' (an explicit Deny wins),
 * 'allow', or undefined (not mentioned: implicitly denied). With `caller`, the document is a
 * resource policy and statements count only when their Principal names the caller.
 * Conditions are not evaluated: a statement with one never applies.
 */
export function policyDecision(document: string, action: string, resource: string, caller?: string): Decision {
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(document) as { Statement?: unknown };
  } catch {
    return undefined;
  }
  let decision: Decision;
  for (const st of ([] as unknown[]).concat(doc.Statement ?? []) as Record<string, unknown>[]) {
    if (st.Condition !== undefined) continue;
    if (caller !== undefined && !principalMatches(st.Principal, caller)) continue;
    const actionHit = st.NotAction !== undefined ? !list(st.NotAction).some((a) => glob(a, 'i').test(action)) : list(st.Action).some((a) => glob(a, 'i').test(action));
    const resourceHit = st.NotResource !== undefined ? !list(st.NotResource).some((r) => glob(r).test(resource)) : list(st.Resource).some((r) => glob(r).test(resource));
    if (!actionHit || !resourceHit) continue;
    if (st.Effect === 'Deny') return 'deny';
    if (st.Effect === 'Allow') decision = 'allow';
  }
  return decision;
}

/** What the inline policies of the user with this ARN say about an action on a resource. */
export function userDecision(mock: AwsMock, arn: string, action: string, resource: string): Decision {
  const user = [...iamState(mock).users.values()].find((u) => u.arn === arn);
  let decision: Decision;
  for (const document of user?.policies.values() ?? []) {
    const d = policyDecision(document, action, resource);
    if (d === 'deny') return d;
    decision ??= d;
  }
  return decision;
}

/** An AWS query (IAM, STS) answer: `<XResponse><XResult>..</XResult><ResponseMetadata>..`. */
export function queryResponse(action: string, result: XmlValue, namespace: string): MockResponse {
  const inner = result === undefined ? '' : `<${action}Result>${toXml(result, 'member')}</${action}Result>`;
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<${action}Response xmlns="${namespace}">${inner}<ResponseMetadata><RequestId>${randomBytes(8).toString('hex')}</RequestId></ResponseMetadata></${action}Response>`,
  };
}

export function queryError(status: number, code: string, message: string): MockResponse {
  return {
    status,
    headers: { 'content-type': 'text/xml' },
    body: `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${randomBytes(8).toString('hex')}</RequestId></ErrorResponse>`,
  };
}

const NS = 'https://iam.amazonaws.com/doc/2010-05-08/';
const MAX_KEYS_PER_USER = 2;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const noUser = (name: string) => queryError(404, 'NoSuchEntity', `The user with name ${name} cannot be found.`);
const userXml = (u: IamUser) => ({ Path: u.path, UserName: u.name, UserId: u.id, Arn: u.arn, CreateDate: u.created, ...(u.tags.length ? { Tags: u.tags } : {}) });
const memberList = <T>(v: unknown): T[] => ((v as { member?: T[] } | undefined)?.member ?? []);

function mergeTags(user: IamUser, tags: { Key: string; Value: string }[]): void {
  for (const t of tags) {
    const at = user.tags.findIndex((x) => x.Key === t.Key);
    if (at >= 0) user.tags[at] = t;
    else user.tags.push(t);
  }
}

export const handleIam: ServiceHandler = (req, mock) => {
  const state = iamState(mock);
  const form = formParams(req);
  const p = nestedParams(form);
  const action = form.get('Action') ?? '';
  const ok = (result?: XmlValue) => queryResponse(action, result, NS);
  const name = form.get('UserName') ?? '';
  const user = state.users.get(name);
  if (action === 'CreateUser') {
    if (user) return queryError(409, 'EntityAlreadyExists', `User with name ${name} already exists.`);
    if (!/^[\w+=,.@-]{1,64}$/.test(name)) return queryError(400, 'ValidationError', `1 validation error detected: Value '${name}' at 'userName' failed to satisfy constraint`);
    const path = form.get('Path') ?? '/';
    const created: IamUser = {
      name,
      id: `AIDA${randomBytes(8).toString('hex').toUpperCase()}`,
      arn: `arn:aws:iam::${mock.accountId}:user${path}${name}`,
      path,
      created: now(),
      tags: [],
      policies: new Map(),
      keys: [],
      unknownToS3For: state.propagationDelay,
    };
    mergeTags(created, memberList(p.Tags));
    state.users.set(name, created);
    return ok({ User: userXml(created) });
  }
  if (!user) return noUser(name);
  switch (action) {
    case 'GetUser':
      return ok({ User: userXml(user) });
    case 'TagUser':
      mergeTags(user, memberList(p.Tags));
      return ok();
    case 'ListUserTags':
      return ok({ Tags: user.tags, IsTruncated: false });
    case 'PutUserPolicy': {
      const document = form.get('PolicyDocument') ?? '';
      try {
        JSON.parse(document);
      } catch {
        return queryError(400, 'MalformedPolicyDocument', 'Syntax errors in policy.');
      }
      user.policies.set(form.get('PolicyName') ?? '', document);
      return ok();
    }
    case 'GetUserPolicy': {
      const policyName = form.get('PolicyName') ?? '';
      const document = user.policies.get(policyName);
      if (document === undefined) return queryError(404, 'NoSuchEntity', `The user policy with name ${policyName} cannot be found.`);
      // AWS returns the document URL-encoded (RFC 3986); the SDK leaves it so.
      return ok({ UserName: name, PolicyName: policyName, PolicyDocument: encodeURIComponent(document) });
    }
    case 'ListUserPolicies':
      return ok({ PolicyNames: [...user.policies.keys()], IsTruncated: false });
    case 'DeleteUserPolicy': {
      const policyName = form.get('PolicyName') ?? '';
      if (!user.policies.delete(policyName)) return queryError(404, 'NoSuchEntity', `The user policy with name ${policyName} cannot be found.`);
      return ok();
    }
    case 'CreateAccessKey': {
      if (user.keys.length >= MAX_KEYS_PER_USER) return queryError(409, 'LimitExceeded', `Cannot exceed quota for AccessKeysPerUser: ${MAX_KEYS_PER_USER}`);
      const key: IamAccessKey = { id: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secret: randomBytes(30).toString('base64'), status: 'Active', created: now() };
      user.keys.push(key);
      return ok({ AccessKey: { UserName: name, AccessKeyId: key.id, Status: key.status, SecretAccessKey: key.secret, CreateDate: key.created } });
    }
    case 'ListAccessKeys':
      return ok({ AccessKeyMetadata: user.keys.map((k) => ({ UserName: name, AccessKeyId: k.id, Status: k.status, CreateDate: k.created })), IsTruncated: false });
    case 'DeleteAccessKey': {
      const id = form.get('AccessKeyId') ?? '';
      const at = user.keys.findIndex((k) => k.id === id);
      if (at < 0) return queryError(404, 'NoSuchEntity', `The Access Key with id ${id} cannot be found.`);
      user.keys.splice(at, 1);
      return ok();
    }
    case 'DeleteUser':
      if (user.keys.length) return queryError(409, 'DeleteConflict', 'Cannot delete entity, must delete access keys first.');
      if (user.policies.size) return queryError(409, 'DeleteConflict', 'Cannot delete entity, must delete policies first.');
      state.users.delete(name);
      return ok();
    default:
      return queryError(400, 'InvalidAction', `the mock does not implement IAM ${action}`);
  }
};
