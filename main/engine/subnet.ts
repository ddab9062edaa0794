/**
 * Subnet parsing for the engine. The implementation lives in main/common/subnet.ts because the
 * privileged helper (which may import only main/common) validates hosts lines against it too.
 */
export * from '../common/subnet.ts';
