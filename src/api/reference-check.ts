// The submit-time check runs the integer reference the prover runs: an input whose
// intermediate values overflow a layer's width (an accumulator past its bits) is refused
// at submit with a 400 naming the layer, not accepted and failed by the prover later.
import { artifactStore } from '../core/artifact-store.ts';
import { isZkinferError } from '../core/errors.ts';
import { resolveSettings } from '../fixed/settings.ts';
import type { ModelLimits } from '../model/limits.ts';
import { parseInput } from '../model/parse-input.ts';
import { loadModelIsolated } from '../pipeline/load-isolated.ts';
import type { ModelIR } from '../model/ir.ts';
import { runReference } from '../quant/reference.ts';
import { quantizeModel, type QuantizedModel } from '../quant/quantize.ts';
import type { ModelRecord } from '../store/models.ts';
import { uploadDir, uploadFile } from '../store/uploads.ts';

/** Quantized models kept in this process (the most recently used). */
const KEEP = 16;

type Rec = Pick<ModelRecord, 'id' | 'fileName' | 'settings' | 'inputQuant'>;

export class ReferenceCheck {
  private readonly models = new Map<string, Promise<{ ir: ModelIR; quantized: QuantizedModel }>>();

  constructor(
    private readonly limits: Partial<ModelLimits> | undefined,
    private readonly warn: (m: string) => void = () => {},
  ) {}

  /** The model as the worker quantizes it: the stored upload, its settings and input quantization (compile-model.ts). */
  private model(rec: Rec) {
    let p = this.models.get(rec.id);
    if (p) {
      this.models.delete(rec.id);
      this.models.set(rec.id, p);
      return p;
    }
    p = (async () => {
      // Several API nodes: the upload may have been stored by another one.
      await artifactStore().materialize(uploadDir(rec.id));
      const loaded = await loadModelIsolated(uploadFile(rec.id, rec.fileName), { limits: this.limits });
      const settings = resolveSettings(rec.settings);
      return { ir: loaded.ir, quantized: quantizeModel(loaded.ir, settings, rec.inputQuant ?? undefined) };
    })();
    this.models.set(rec.id, p);
    p.catch(() => this.models.delete(rec.id));
    if (this.models.size > KEEP) this.models.delete(this.models.keys().next().value!);
    return p;
  }

  /**
   * Runs the prover's integer reference on `input`: throws its ZkinferError (INPUT_RANGE
   * naming the layer) for an input the prover would refuse. When the stored model cannot
   * be read here, the check is skipped (the prover still makes it).
   */
  async check(rec: Rec, input: unknown): Promise<void> {
    let m: { ir: ModelIR; quantized: QuantizedModel };
    try {
      m = await this.model(rec);
    } catch (e) {
      this.warn(`integer reference check skipped for model ${rec.id}: ${(e as Error).message}`);
      return;
    }
    try {
      runReference(m.quantized, parseInput(input, m.ir));
    } catch (e) {
      if (isZkinferError(e)) throw e;
      this.warn(`integer reference check failed for model ${rec.id}: ${(e as Error).message}`);
    }
  }
}
