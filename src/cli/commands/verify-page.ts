import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { VerificationKey } from 'snarkjs';
import { ZkinferError } from '../../core/errors.ts';
import { assertUsableVkey, vkeyHash } from '../../prover/setup.ts';
import { standalonePage } from '../../web/page.ts';
import { progress, readJsonFile } from '../options.ts';

/**
 * Writes the standalone verification page: one HTML file, script and style inline, that
 * verifies bundles from file:// without any network request; `vkeyFile` embeds a published key.
 */
export async function writeVerifyPage(out: string, vkeyFile?: string): Promise<{ file: string; bytes: number; vkeyHash: string | null }> {
  let vkey: VerificationKey | undefined;
  if (vkeyFile) {
    vkey = (await readJsonFile(vkeyFile, 'vkey')) as VerificationKey;
    if (!vkey || typeof vkey !== 'object' || !Array.isArray(vkey.IC)) throw new ZkinferError('BUNDLE_INVALID', 'verification key is malformed', 'vkey');
    assertUsableVkey(vkey);
  }
  const html = await standalonePage(vkey ? { vkey, vkeyName: path.basename(vkeyFile!) } : {});
  const tmp = `${out}.${process.pid}.tmp`;
  await writeFile(tmp, html);
  await rename(tmp, out);
  return { file: out, bytes: Buffer.byteLength(html), vkeyHash: vkey ? vkeyHash(vkey) : null };
}

export function verifyPageCommand(program: Command): void {
  program
    .command('verify-page')
    .description('write the verification page as one self-contained HTML file that verifies bundles in the browser, offline')
    .requiredOption('-o, --out <file>', 'the HTML file to write')
    .option('--vkey <file>', "embed the model's published verification key")
    .action(async (o: { out: string; vkey?: string }) => {
      const r = await writeVerifyPage(o.out, o.vkey);
      progress(
        `wrote ${r.file} (${Math.round(r.bytes / 1024)} KB)${r.vkeyHash ? ` with verification key ${r.vkeyHash}` : ''}: ` +
          `open it in a browser, no network needed`,
      );
    });
}
