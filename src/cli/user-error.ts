// A mistake the operator can fix (bad flag, bad config, missing privilege). The CLI prints its
// message as one sentence and exits non-zero; it never shows a stack trace for these.
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
