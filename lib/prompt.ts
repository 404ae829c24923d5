import { closeSync, openSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { UserError } from './errors.ts';

/**
 * Asks on the controlling terminal (not stdin, which may carry data) without echoing what is
 * typed; with `confirm`, asks again and insists on the same answer. Undefined when the process
 * has no terminal.
 */
export async function askHidden(question: string, opts: { confirm?: boolean } = {}): Promise<string | undefined> {
  const answer = await readTtyLine(question, false);
  if (answer === undefined || !opts.confirm) return answer;
  const again = await readTtyLine(`Confirm ${question[0]!.toLowerCase()}${question.slice(1)}`, false);
  if (again !== answer) throw new UserError('the two entries do not match; nothing changed');
  return answer;
}

/** Asks on the controlling terminal, showing what is typed; undefined without a terminal. */
export const askLine = (question: string): Promise<string | undefined> => readTtyLine(question, true);

/** Asks like Terraform before a change: only "yes" goes on; `yes` (--yes) skips the question. */
export async function confirmYes(question: string, yes: boolean): Promise<void> {
  if (yes) return;
  const answer = await askLine(`${question} Only 'yes' will be accepted: `);
  if (answer === undefined) throw new UserError('no terminal to ask on: pass --yes to go ahead');
  if (answer.trim() !== 'yes') throw new UserError('cancelled; nothing changed');
}

async function readTtyLine(question: string, echo: boolean): Promise<string | undefined> {
  let inFd: number;
  try {
    inFd = openSync('/dev/tty', 'r');
  } catch {
    return undefined;
  }
  const outFd = openSync('/dev/tty', 'w');
  const input = new ReadStream(inFd);
  input.setRawMode(true);
  input.setEncoding('utf8');
  writeSync(outFd, question);
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      input.on('error', reject);
      input.on('data', (chunk: string) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') return resolve(line);
          if (ch === '\u0003' || (ch === '\u0004' && !line)) return reject(new UserError('cancelled', 130));
          if (ch === '\u007f' || ch === '\b') {
            if (echo && line) writeSync(outFd, '\b \b');
            line = [...line].slice(0, -1).join('');
          } else if (ch === '\u0015') {
            if (echo) writeSync(outFd, '\b \b'.repeat([...line].length));
            line = ''; // Ctrl-U
          } else if (ch >= ' ') {
            line += ch;
            if (echo) writeSync(outFd, ch);
          }
        }
      });
    });
  } finally {
    input.setRawMode(false);
    input.destroy(); // closes inFd
    writeSync(outFd, '\n');
    closeSync(outFd);
  }
}
