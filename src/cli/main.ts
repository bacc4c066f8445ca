import { Command } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { isZkinferError } from '../core/errors.ts';
import { auditCommand } from './commands/audit.ts';
import { ceremonyCommands } from './commands/ceremony.ts';
import { chainCommands } from './commands/chain.ts';
import { compileCommand } from './commands/compile.ts';
import { inspectCommand } from './commands/inspect.ts';
import { noticeCommand } from './commands/notice.ts';
import { proveCommand } from './commands/prove.ts';
import { propertyCommand } from './commands/property.ts';
import { releaseCommand } from './commands/release.ts';
import { setupCommand } from './commands/setup.ts';
import { verifyCommand } from './commands/verify.ts';
import { verifyPageCommand } from './commands/verify-page.ts';

/** Exit code for input the command cannot use (bad file, bad option, bad model). */
export const EXIT_UNUSABLE = 2;

const program = new Command()
  .name('zkinfer')
  .description('Prove quantized neural network inferences with Circom and Groth16')
  .version(pkg.version, '-V, --version', 'print the version and exit')
  .showHelpAfterError()
  .exitOverride();
for (const add of [
  compileCommand,
  setupCommand,
  proveCommand,
  verifyCommand,
  noticeCommand,
  inspectCommand,
  auditCommand,
  chainCommands,
  verifyPageCommand,
  ceremonyCommands,
  releaseCommand,
  propertyCommand,
])
  add(program);

try {
  await program.parseAsync(process.argv);
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
