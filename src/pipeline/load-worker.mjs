// Entry of the worker thread `loadModelIsolated` starts: the service runs TypeScript
// through tsx, whose loader a worker thread must register for itself.
import { register } from 'tsx/esm/api';

register();
await import('./load-worker-task.ts');
