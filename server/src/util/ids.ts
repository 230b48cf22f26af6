import { randomBytes } from 'node:crypto';

/** 32 lowercase hex characters: the id shape Resemble's own examples use. */
export function newId(): string {
  return randomBytes(16).toString('hex');
}

export const ID_PATTERN = /^[0-9a-fA-F-]{8,64}$/;

export function nowIso(): string {
  return new Date().toISOString();
}
