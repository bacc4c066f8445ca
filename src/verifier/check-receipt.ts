// Browser-safe: the verification page runs this same check.
import { ZkinferError } from '../core/errors.ts';
import type { ProofBundle, Receipt } from '../bundle/format.ts';
import { RECEIPT_FORMAT } from '../bundle/format.ts';
import { inputCommitment } from '../bundle/input-commitment.ts';

export interface ReceiptCheck {
  matches: boolean;
  reason: string;
}

const INT = /^-?(0|[1-9][0-9]*)$/;

/**
 * Recomputes the input commitment from an applicant's receipt (salt and quantized
 * features) and compares it with the proof's public input commitment: a match shows
 * this proof was computed on that applicant's data.
 */
export async function checkReceipt(bundle: ProofBundle, doc: unknown): Promise<ReceiptCheck> {
  if (bundle.model.publicInput)
    throw new ZkinferError(
      'BUNDLE_INVALID',
      'this proof has a public input: its features are in the public signals, there is no commitment to open',
      'receipt',
    );
  const r = doc as Partial<Receipt> | null;
  if (!r || typeof r !== 'object' || r.format !== RECEIPT_FORMAT)
    throw new ZkinferError('BUNDLE_INVALID', `a receipt must be a "${RECEIPT_FORMAT}" document`, 'receipt');
  if (typeof r.salt !== 'string' || !INT.test(r.salt)) throw new ZkinferError('BUNDLE_INVALID', 'receipt.salt must be a decimal string', 'receipt.salt');
  if (!Array.isArray(r.features) || r.features.some((f) => typeof f !== 'string' || !INT.test(f))) {
    throw new ZkinferError('BUNDLE_INVALID', 'receipt.features must be decimal strings', 'receipt.features');
  }
  if (!Number.isInteger(r.width) || (r.width as number) < 2) throw new ZkinferError('BUNDLE_INVALID', 'receipt.width must be an integer', 'receipt.width');
  let recomputed: bigint;
  try {
    recomputed = await inputCommitment(r.features.map(BigInt), BigInt(r.salt), r.width as number);
  } catch (e) {
    return { matches: false, reason: `the receipt's features do not fit the model's input width: ${(e as Error).message}` };
  }
  const claimed = bundle.publicSignals[1];
  if (recomputed.toString() !== claimed)
    return { matches: false, reason: "the commitment recomputed from the receipt differs from the proof's input commitment" };
  return { matches: true, reason: "the proof's input commitment is the receipt's salt and features" };
}
