// Browser-safe: the document identifiers the verification page checks too.
export const BUNDLE_FORMAT = 'zkinfer.proof-bundle';
/**
 * 3: `model` is the model descriptor whose hash is the model commitment (public signal 0).
 * 2: outputs (and public features) packed into fewer public signals. 1: one signal per value.
 */
export const BUNDLE_VERSION = 3;
export const RECEIPT_FORMAT = 'zkinfer.receipt';
