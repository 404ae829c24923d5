/** Unbalanced quoting; callers turn it into an input error naming where the text came from. */
export class ShellSyntaxError extends Error {}

/**
 * Splits text into words the way a POSIX shell (and Python's shlex, which Ansible uses) does:
 * '...' is literal, "..." honours \" and \\, a backslash outside quotes escapes the next character.
 * With `comments`, an unquoted # ends the text, as in shlex (Ansible's INI host lines).
 */
export function splitShellWords(text: string, opts: { comments?: boolean } = {}): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShellSyntaxError('no closing quotation');
      word += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) i++;
        word += text[i];
      }
      if (i >= text.length) throw new ShellSyntaxError('no closing quotation');
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new ShellSyntaxError('no escaped character');
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && opts.comments) {
      break;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
