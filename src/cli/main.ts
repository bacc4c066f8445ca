import { Command } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { isZkinferError } from '../core/errors.ts';
import { type StageEvent, withProgress } from '../core/progress.ts';
/** Exit code for input the command cannot use (bad file, bad option, bad model). */
export const EXIT_UNUSABLE = 2;

const program = new Command()
  .name('zkinfer')
  .description('Prove quantized neural network inferences with Circom and Groth16')
  .version(pkg.version, '-V, --version', 'print the version and exit')
  .showHelpAfterError()
  .exitOverride();
type AddCommands = (program: Command) => void;
/**
 * Each top-level command's module, loaded only when it runs (its dependencies too: the chain
 * commands' ethers, the compiler's onnxruntime), so `zkinfer verify` starts without them.
 * Help, a mistyped command or no command loads them all.
 */
const COMMANDS: [names: string[], load: () => Promise<AddCommands>][] = [
  [['compile'], async () => (await import('./commands/compile.ts')).compileCommand],
  [['setup'], async () => (await import('./commands/setup.ts')).setupCommand],
  [['prove'], async () => (await import('./commands/prove.ts')).proveCommand],
  [['verify'], async () => (await import('./commands/verify.ts')).verifyCommand],
  [['notice'], async () => (await import('./commands/notice.ts')).noticeCommand],
  [['inspect'], async () => (await import('./commands/inspect.ts')).inspectCommand],
  [['audit'], async () => (await import('./commands/audit.ts')).auditCommand],
  [['export-verifier', 'calldata', 'deploy', 'attest', 'devchain'], async () => (await import('./commands/chain.ts')).chainCommands],
  [['verify-page'], async () => (await import('./commands/verify-page.ts')).verifyPageCommand],
  [['ceremony'], async () => (await import('./commands/ceremony.ts')).ceremonyCommands],
  [['release'], async () => (await import('./commands/release.ts')).releaseCommand],
  [['property'], async () => (await import('./commands/property.ts')).propertyCommand],
];
const named = COMMANDS.find(([names]) => names.includes(process.argv[2] ?? ''));
for (const [, load] of named ? [named] : COMMANDS) (await load())(program);

try {
  // On a terminal, each compile and setup stage as it starts (a 2^19 setup takes minutes).
  const showStage = (e: StageEvent) => process.stderr.write(`  ... ${e.stage}${e.detail ? ` (${e.detail})` : ''}\n`);
  await (process.stderr.isTTY ? withProgress(showStage, () => program.parseAsync(process.argv)) : program.parseAsync(process.argv));
} catch (e) {
  const { code, exitCode } = e as { code?: string; exitCode?: number };
  // --help and --version exit 0; help shown because no command was given (commander writes
  // it to stderr with exit code 1) is a usage error like any other.
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || (code === 'commander.help' && exitCode === 0)) process.exitCode = 0;
  else if (typeof code === 'string' && code.startsWith('commander.')) process.exitCode = EXIT_UNUSABLE;
  else if (isZkinferError(e)) {
    process.stderr.write(`error [${e.code}]${e.field ? ` (${e.field})` : ''}: ${e.message}\n`);
    process.exitCode = EXIT_UNUSABLE;
  } else {
    process.stderr.write(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  }
}
// snarkjs keeps worker threads alive: flush output, then leave explicitly.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(process.exitCode ?? 0);
