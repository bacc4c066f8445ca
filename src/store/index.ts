export * from './db.ts';
export * from './proof-files.ts';
export * from './records.ts';
export * from './uploads.ts';
