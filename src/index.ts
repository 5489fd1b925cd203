// snapfuse as a library: the store and its volumes, the devices it runs on, replication
// streams, and the error model. What README.md's "The store as a library" documents.
export {
  Store,
  Volume,
  ORIGIN_IMAGE,
  ID_PATTERN,
  ORIGIN_NAME,
  MAX_ORIGINS,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_CACHE_SIZE,
} from './engine/store';
export type {
  FormatOptions,
  NamedOrigin,
  OpenOptions,
  OriginIdentity,
  OriginOpener,
  SnapshotInfo,
  StoredOrigin,
  StoreStatus,
  VolumeStatus,
} from './engine/store';
export type { BlockDevice, IoPriority } from './block/block-device';
export { FileDevice } from './block/file-device';
export { MemoryDevice } from './block/memory-device';
export { sendSnapshot, receiveSnapshot } from './engine/tools/replication';
export type { SendOptions, SendSummary, ReceiveOptions, ReceiveSummary } from './engine/tools/replication';
export { StoreError, isStoreError } from './errors';
export type { ErrorCode } from './errors';
