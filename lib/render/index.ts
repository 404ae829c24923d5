import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import nunjucks from 'nunjucks';
import { inputError } from '../errors.ts';
import { isSecret, revealDeep } from '../secret.ts';

export interface Rendered {
  text: string;
  /** The output holds the value of a secret: its diff and logs must be redacted. */
  sensitive: boolean;
}

const environments = new Map<string, nunjucks.Environment>();

/** Jinja-like defaults Ansible users expect: no HTML escaping, block tags eat their newline, undefined is an error. */
function environmentFor(dir: string): nunjucks.Environment {
  let env = environments.get(dir);
  if (!env) {
    env = new nunjucks.Environment(new nunjucks.FileSystemLoader(dir, { noCache: true }), {
      autoescape: false,
      throwOnUndefined: true,
      trimBlocks: true,
    });
    environments.set(dir, env);
  }
  return env;
}

/** Every secret value in a vars tree. */
export function secretValues(value: unknown, out: string[] = []): string[] {
  if (isSecret(value)) out.push(value.reveal());
  else if (Array.isArray(value)) for (const v of value) secretValues(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) secretValues(v, out);
  return out;
}

/** nunjucks reports `(file) [Line L, Column C]\n  message`; turn it into `file:L: message`, naming the variable. */
function explain(err: Error, file: string): Error {
  const m = /\[Line (\d+), Column (\d+)\]\s*\n\s*(?:Error: )?([\s\S]*)$/.exec(err.message);
  if (!m) return inputError(file, undefined, err.message.replace(/^\([^)]*\)\s*/, '').trim());
  const [line, col, what] = [Number(m[1]), Number(m[2]), m[3]!.trim()];
  if (!what.includes('undefined value')) return inputError(file, line, what);
  let source = '';
  try {
    source = readFileSync(file, 'utf8').split('\n')[line - 1] ?? '';
  } catch {
    // the message without the expression is still useful
  }
  const expr = /^\{\{-?\s*(.*?)\s*-?\}\}/.exec(source.slice(col - 1))?.[1];
  return inputError(file, line, expr ? `undefined variable "${expr}"` : 'undefined variable');
}

/**
 * Renders templates/<role>/<name> with the given variables, Secrets revealed. The result is
 * sensitive when it contains any secret's value.
 */
export function renderTemplate(dir: string, name: string, vars: Record<string, unknown>): Rendered {
  const file = join(dir, name);
  let text: string;
  try {
    text = environmentFor(dir).render(name, revealDeep(vars) as object);
  } catch (err) {
    const shown = relative(process.cwd(), file) || file;
    if (/template not found/i.test((err as Error).message)) throw inputError(shown, undefined, 'template not found');
    throw explain(err as Error, shown);
  }
  const sensitive = secretValues(vars).some((v) => v !== '' && text.includes(v));
  return { text, sensitive };
}
