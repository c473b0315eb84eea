/** Close codes (RFC 6455). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  InvalidData: 1007,
  Policy: 1008,
  TooBig: 1009,
  /** The node is overloaded (too much unfinished input over all connections): try again later. */
  TryAgainLater: 1013,
} as const;
