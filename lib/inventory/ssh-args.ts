import { UserError } from '../errors.ts';
import { ShellSyntaxError, splitShellWords } from './shell-words.ts';

/** One jump host as written: `[user@]host[:port]`, plus what a ProxyCommand's ssh said about it. */
export interface JumpHop {
  host: string;
  user?: string;
  port?: number;
  keyFile?: string;
  knownHostsFile?: string;
}

/** What harbormaster takes from ssh options; the rest (ciphers, timeouts, StrictHostKeyChecking...) is ssh's business. */
export interface SshArgs {
  user?: string;
  port?: number;
  keyFile?: string;
  knownHostsFile?: string;
  /** Jump hosts in connection order: the first is reached directly, the last forwards to the host. */
  jumps?: JumpHop[];
}

/** ssh's options that take a value (OpenSSH 9); the other letters are flags. */
const WITH_VALUE = new Set('BbcDEeFIiJLlmOoPpQRSWw');

/** Parses ansible_ssh_common_args / ansible_ssh_extra_args. `where` names the variable for errors. */
export function parseSshArgs(text: string, where: string): SshArgs {
  const cmd = readSshWords(words(text, where), where);
  if (cmd.rest.length) throw new UserError(`${where}: unexpected '${cmd.rest.join(' ')}' (expected ssh options such as -o Key=value)`);
  return cmd.args;
}

function words(text: string, where: string): string[] {
  try {
    return splitShellWords(text);
  } catch (err) {
    if (err instanceof ShellSyntaxError) throw new UserError(`${where}: ${err.message} in: ${text}`);
    throw err;
  }
}

/** Reads ssh options up to the first word that is not one; returns those words as `rest`. */
function readSshWords(list: string[], where: string): { args: SshArgs; forward?: string; rest: string[] } {
  const args: SshArgs = {};
  let forward: string | undefined;
  let i = 0;
  for (; i < list.length; i++) {
    const word = list[i]!;
    if (!word.startsWith('-') || word === '-') break;
    if (word === '--') {
      i++;
      break;
    }
    for (let j = 1; j < word.length; j++) {
      const letter = word[j]!;
      if (!WITH_VALUE.has(letter)) continue;
      const value = j + 1 < word.length ? word.slice(j + 1) : list[++i];
      if (value === undefined) throw new UserError(`${where}: ssh option -${letter} needs a value`);
      if (letter === 'W') forward = value;
      else applyOption(args, letter, value, where);
      break;
    }
  }
  return forward === undefined ? { args, rest: list.slice(i) } : { args, forward, rest: list.slice(i) };
}

function applyOption(args: SshArgs, letter: string, value: string, where: string): void {
  if (letter === 'l') args.user = value;
  else if (letter === 'p') args.port = port(value, where);
  else if (letter === 'i') args.keyFile = value;
  else if (letter === 'J') args.jumps = jumpList(value, where);
  else if (letter === 'o') applyConfigOption(args, value, where);
}

/** `-o Key=value` or `-o "Key value"`; keys are case-insensitive as in ssh_config. */
function applyConfigOption(args: SshArgs, option: string, where: string): void {
  const m = /^\s*(\w+)\s*(?:=\s*|\s+)(.*)$/s.exec(option);
  if (!m) throw new UserError(`${where}: -o ${option} is not Key=value`);
  const key = m[1]!.toLowerCase();
  const value = m[2]!.trim();
  if (key === 'user') args.user = value;
  else if (key === 'port') args.port = port(value, where);
  else if (key === 'identityfile') args.keyFile = value;
  else if (key === 'userknownhostsfile') {
    const first = words(value, where)[0];
    if (first && first !== '/dev/null' && first.toLowerCase() !== 'none') args.knownHostsFile = first;
  } else if (key === 'proxyjump') args.jumps = value.toLowerCase() === 'none' ? [] : jumpList(value, where);
  else if (key === 'proxycommand') args.jumps = value.toLowerCase() === 'none' ? [] : proxyCommandHops(value, where);
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, comma-separated, first hop first. */
function jumpList(value: string, where: string): JumpHop[] {
  return value.split(',').map((spec) => {
    const m = /^(?:ssh:\/\/)?(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(spec.trim());
    if (!m) throw new UserError(`${where}: jump host '${spec}' is not [user@]host[:port]`);
    const hop: JumpHop = { host: m[2]!.replace(/^\[|\]$/g, '') };
    if (m[1]) hop.user = m[1];
    if (m[3]) hop.port = port(m[3], where);
    return hop;
  });
}

/**
 * A ProxyCommand that is ssh to a jump host forwarding to the target: `ssh [opts] -W %h:%p [user@]bastion`
 * (or the older `ssh [opts] [user@]bastion nc %h %p`). harbormaster opens that channel itself.
 */
function proxyCommandHops(command: string, where: string): JumpHop[] {
  const [program, ...rest] = words(command, where);
  const unsupported = `${where}: ProxyCommand '${command}' is not supported; use ssh -W %h:%p [user@]bastion or -o ProxyJump=[user@]bastion`;
  if (!program || !/(^|\/)ssh$/.test(program)) throw new UserError(unsupported);
  const cmd = readSshWords(rest, where);
  const [destination, ...remote] = cmd.rest;
  const forwardsToTarget = cmd.forward === undefined
    ? remote.length === 3 && /^(nc|netcat|ncat)$/.test(remote[0]!) && remote[1] === '%h' && remote[2] === '%p'
    : /^(%h|\[%h\]):%p$/.test(cmd.forward) && remote.length === 0;
  if (!destination || !forwardsToTarget) throw new UserError(unsupported);
  const [hop] = jumpList(destination, where) as [JumpHop];
  // As in ssh, -l / -p / -o User= / -o Port= win over user@ and :port in the destination.
  const { jumps, ...options } = cmd.args;
  return [...(jumps ?? []), { ...hop, ...options }];
}

function port(value: string, where: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new UserError(`${where}: '${value}' is not a port number`);
  return n;
}
