export * from './db.ts';
export * from './paths.ts';
export * from './proof-files.ts';
export * from './records.ts';
export * from './uploads.ts';
