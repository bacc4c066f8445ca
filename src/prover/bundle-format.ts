// Browser-safe: the document identifiers the verification page checks too.
export const BUNDLE_FORMAT = 'zkinfer.proof-bundle';
/** 2: outputs (and public features) are packed into fewer public signals. */
export const BUNDLE_VERSION = 2;
export const RECEIPT_FORMAT = 'zkinfer.receipt';
