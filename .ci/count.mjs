// Reads tap's closing summary (`# { total: N, pass: N, fail: N, skip: N }`) from a log and
// prints the line CI reads: "N passed, N failed". The type check counts as one more test.
import { readFileSync } from 'node:fs';

const [log, typecheckStatus] = process.argv.slice(2);
const text = readFileSync(log, 'utf8');
const summary = [...text.matchAll(/^# \{ total: (\d+)(.*)\}$/gm)].at(-1);
const field = (name) => Number(summary?.[2].match(new RegExp(`${name}: (\\d+)`))?.[1] ?? 0);
let passed = field('pass');
let failed = summary ? field('fail') : 1; // no summary: the runner itself broke
const skipped = field('skip') + field('todo');
if (typecheckStatus === '0') passed += 1;
else failed += 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
