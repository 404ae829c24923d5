// Harbor's tag rules (retention and immutability) select tags and repositories with doublestar
// patterns; these build them from the spec and read them back for comparison.
import type { HarborRule, RuleSelector } from '../client.ts';

export const tagSelector = (pattern: string, untagged?: boolean): RuleSelector => ({
  kind: 'doublestar',
  decoration: 'matches',
  pattern,
  ...(untagged === undefined ? {} : { extras: JSON.stringify({ untagged }) }),
});
export const repoSelector = (pattern: string): RuleSelector => ({ kind: 'doublestar', decoration: 'repoMatches', pattern });

/** A rule's patterns as the spec writes them. */
export function rulePatterns(rule: HarborRule): { repositories: string; tags: string; untagged: boolean } {
  const tag = rule.tag_selectors[0];
  let untagged = false;
  try {
    untagged = Boolean((JSON.parse(tag?.extras || '{}') as { untagged?: boolean }).untagged);
  } catch {
    // Harbor wrote something else there: not untagged.
  }
  return { repositories: rule.scope_selectors.repository?.[0]?.pattern ?? '', tags: tag?.pattern ?? '', untagged };
}
