// Conformance of a request to Harbor's own swagger (v2.15.2, in ../shared/reference/harbor):
// the path and method exist, every query parameter is declared (and of its type), and the body
// validates against the referenced definition. go-swagger drops unknown fields silently, so a
// property a closed definition does not declare is an error here: Harbor would ignore it.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

type Schema = {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  maxLength?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  'x-nullable'?: boolean;
};
interface Parameter {
  $ref?: string;
  name: string;
  in: 'query' | 'path' | 'header' | 'body' | 'formData';
  required?: boolean;
  type?: string;
  enum?: unknown[];
  schema?: Schema;
}
type Operation = { parameters?: Parameter[] };
type PathItem = Record<string, Operation> & { parameters?: Parameter[] };
interface Swagger {
  basePath: string;
  paths: Record<string, PathItem>;
  parameters: Record<string, Parameter>;
  definitions: Record<string, Schema>;
}

export const SWAGGER_FILE = fileURLToPath(new URL('../../../shared/reference/harbor/swagger.yaml', import.meta.url));
/** For `t.test(..., { skip: SWAGGER_SKIP })`: false when the swagger is there, else why the check is skipped. */
export const SWAGGER_SKIP: string | false = existsSync(SWAGGER_FILE) ? false : `skipped: ${SWAGGER_FILE} (../shared/reference/harbor/swagger.yaml) is absent (a user clone): requests are not checked against Harbor's swagger`;

let loaded: HarborSwagger | undefined;
/** Harbor's swagger from ../shared, or undefined when it is not there. */
export function harborSwagger(): HarborSwagger | undefined {
  if (!existsSync(SWAGGER_FILE)) return undefined;
  return (loaded ??= new HarborSwagger(parse(readFileSync(SWAGGER_FILE, 'utf8')) as Swagger));
}

export class HarborSwagger {
  readonly #routes: { template: string; pattern: RegExp; literals: number }[];

  constructor(readonly doc: Swagger) {
    this.#routes = Object.keys(doc.paths).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\}/g, '[^/]+')}$`),
      literals: template.split('/').filter((s) => s && !s.startsWith('{')).length,
    }));
  }

  /** What in this request Harbor's swagger does not allow; empty when it conforms. */
  violations(method: string, path: string, query: URLSearchParams, body: unknown): string[] {
    const where = `${method} ${path}`;
    // /users/current is both a literal path and /users/{user_id}: the most literal template wins, as in go-swagger's router.
    const route = this.#routes.filter((r) => r.pattern.test(path)).sort((a, b) => b.literals - a.literals)[0];
    if (!route) return [`${where}: no such path in Harbor's swagger`];
    const item = this.doc.paths[route.template]!;
    const op = item[method.toLowerCase()];
    if (!op || method.toLowerCase() === 'parameters') return [`${where}: ${route.template} has no ${method} in Harbor's swagger`];
    const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => this.#param(p));
    const out: string[] = [];
    for (const key of new Set(query.keys())) {
      const p = params.find((x) => x.in === 'query' && x.name === key);
      if (!p) out.push(`${where}: query parameter ${key} is not declared for ${method} ${route.template}`);
      else for (const v of query.getAll(key)) out.push(...this.#scalar(v, p).map((e) => `${where}: query ${key}: ${e}`));
    }
    for (const p of params) if (p.in === 'query' && p.required && !query.has(p.name)) out.push(`${where}: required query parameter ${p.name} is missing`);
    const bodyParam = params.find((p) => p.in === 'body');
    if (body !== undefined) {
      if (!bodyParam) out.push(`${where}: ${method} ${route.template} takes no body`);
      else out.push(...this.validate(body, bodyParam.schema ?? {}, 'body').map((e) => `${where}: ${e}`));
    } else if (bodyParam?.required) out.push(`${where}: the body (${this.#name(bodyParam.schema)}) is required`);
    return out;
  }

  /** A value against a schema: types, enums, lengths, required and undeclared properties. */
  validate(value: unknown, schema: Schema, at: string): string[] {
    const s = this.#resolve(schema);
    if (value === null) return schema['x-nullable'] || s['x-nullable'] ? [] : [`${at} is null, which ${this.#name(schema)} does not allow`];
    if (s.enum && !s.enum.includes(value)) return [`${at} is ${JSON.stringify(value)}, not one of ${s.enum.join(', ')}`];
    // A bare `type: object` is go-swagger's interface{}: any JSON value goes (retention params hold numbers).
    if (s.type === 'object' && !s.properties && !s.additionalProperties) return [];
    const type = s.type ?? (s.properties || s.additionalProperties ? 'object' : undefined);
    switch (type) {
      case undefined:
        return [];
      case 'string':
        if (typeof value !== 'string') return [`${at} must be a string, not ${JSON.stringify(value)}`];
        return s.maxLength !== undefined && value.length > s.maxLength ? [`${at} is longer than ${s.maxLength}`] : [];
      case 'integer':
        return Number.isInteger(value) ? [] : [`${at} must be an integer, not ${JSON.stringify(value)}`];
      case 'number':
        return typeof value === 'number' ? [] : [`${at} must be a number, not ${JSON.stringify(value)}`];
      case 'boolean':
        return typeof value === 'boolean' ? [] : [`${at} must be a boolean, not ${JSON.stringify(value)}`];
      case 'array':
        if (!Array.isArray(value)) return [`${at} must be an array`];
        return value.flatMap((v, i) => this.validate(v, s.items ?? {}, `${at}[${i}]`));
      case 'object': {
        if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${at} must be an object (${this.#name(schema)})`];
        const out: string[] = [];
        for (const key of s.required ?? []) if (!(key in value)) out.push(`${at}.${key} is required by ${this.#name(schema)}`);
        for (const [key, v] of Object.entries(value)) {
          const declared = s.properties?.[key];
          if (declared) out.push(...this.validate(v, declared, `${at}.${key}`));
          else if (typeof s.additionalProperties === 'object') out.push(...this.validate(v, s.additionalProperties, `${at}.${key}`));
          else if (!s.additionalProperties) out.push(`${at}.${key} is not a property of ${this.#name(schema)}`);
        }
        return out;
      }
      default:
        return [`${at}: the swagger's type ${type} is not known to this checker`];
    }
  }

  #scalar(value: string, p: Parameter): string[] {
    if (p.enum && !p.enum.includes(value)) return [`"${value}" is not one of ${p.enum.join(', ')}`];
    if (p.type === 'integer' && !/^-?\d+$/.test(value)) return [`"${value}" is not an integer`];
    if (p.type === 'boolean' && value !== 'true' && value !== 'false') return [`"${value}" is not a boolean`];
    return [];
  }

  #param(p: Parameter): Parameter {
    return p.$ref ? this.doc.parameters[p.$ref.replace('#/parameters/', '')]! : p;
  }

  #resolve(s: Schema): Schema {
    return s.$ref ? this.#resolve(this.doc.definitions[s.$ref.replace('#/definitions/', '')]!) : s;
  }

  #name(s: Schema | undefined): string {
    return s?.$ref ? s.$ref.replace('#/definitions/', '') : 'its schema';
  }
}
