/**
 * Order ids: ULIDs (time-ordered, so an order's id sorts with its creation), their random part drawn
 * from a pooled crypto buffer. ulid's own generator asks the crypto API once per character (16 calls
 * an id); every order request mints one before its reservation, refused or not, so the pool turns
 * 16 calls into one per 256 ids. Same source (the OS's CSPRNG), same 80 random bits.
 */
import { randomFillSync } from 'node:crypto';
import { ulid } from 'ulid';

const pool = new Uint8Array(4096);
let next = pool.length;

/** A fraction in [0, 1) from one pooled random byte: the PRNG shape ulid takes. */
function pooledRandom(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return (pool[next++] as number) / 256;
}

export const newOrderId = (): string => ulid(undefined, pooledRandom);
