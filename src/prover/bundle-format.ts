// Browser-safe: the document identifiers the verification page checks too.
export const BUNDLE_FORMAT = 'zkinfer.proof-bundle';
export const BUNDLE_VERSION = 1;
export const RECEIPT_FORMAT = 'zkinfer.receipt';
