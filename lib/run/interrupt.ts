// Ctrl-C and SIGTERM during a run: the first one asks the runner to start no new step (the one
// in flight finishes, or its staged upload is removed) and to print where it stopped and the
// recap; a second one exits at once.
export const INTERRUPTED_EXIT = 130;

export interface InterruptTrap {
  /** Aborted with the signal's name as the reason. */
  signal: AbortSignal;
  release(): void;
}

export function trapInterrupts(say: (line: string) => void): InterruptTrap {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      say(`${name} again: exiting now; the steps in flight may be left half-done\n`);
      process.exit(INTERRUPTED_EXIT);
    }
    say(`${name}: finishing the steps in flight, then stopping (again to exit at once)\n`);
    controller.abort(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Thrown inside a host's run where it stops; `step` did not run (or its upload was rolled back). */
export class Interrupted extends Error {
  constructor(
    readonly step: string,
    readonly rolledBack: boolean,
  ) {
    super(`interrupted at ${step}`);
  }
}
