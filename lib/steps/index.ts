/** Step constructors: each returns data (a probe and a plan), the runner does the rest. */
export { file, directory, type FileOptions } from './file.ts';
export { copy, template, type CopyOptions, type TemplateOptions } from './copy.ts';
export { line, type LineOptions } from './line.ts';
export { pkg, type PkgOptions } from './pkg.ts';
export { service, type ServiceOptions } from './service.ts';
export { command, type CommandOptions } from './command.ts';
export { download, type DownloadOptions } from './download.ts';
export { unarchive, type UnarchiveOptions } from './unarchive.ts';
export { StepError } from './base.ts';
export type { Action, Change, ContentDiff, Step, StepEnv, StepKind, StepOptions } from './types.ts';
