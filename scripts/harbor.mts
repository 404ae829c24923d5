#!/usr/bin/env zx
// Harbor over its REST API (listings, plan/apply of Harbor as code, one-off changes, robot
// rotation) and docker compose on its hosts: lib/commands/harbor.ts.
import { runMain, scriptArgs } from '../lib/cli.ts';
import { main } from '../lib/commands/harbor.ts';

await runMain('harbor', () => main({ args: scriptArgs(import.meta.url), out: process.stdout, err: process.stderr }));
