/** A tsjail failure: message and the helper step, for `tsjail: cannot <step>: <reason>`. */
export class JailError extends Error {}
