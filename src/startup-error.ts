/** A start-up failure, with a one-line message that says what to change. */
export class StartupError extends Error {}
