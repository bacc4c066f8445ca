// The local queue's worker process: runs jobs sent over IPC one at a time.
import { processCompile, processProve } from './processors.ts';

let chain = Promise.resolve();
process.on('message', (m: { kind: 'compile' | 'prove'; id: string }) => {
  chain = chain.then(async () => {
    try {
      await (m.kind === 'compile' ? processCompile(m.id) : processProve(m.id));
    } catch (e) {
      process.stderr.write(`${m.kind} ${m.id} failed: ${(e as Error).message}\n`);
    }
    process.send?.({ done: m.kind });
  });
});
process.on('disconnect', () => process.exit(0));
