/**
 * bcrypt reads at most 72 bytes; longer passwords are refused upstream rather than silently
 * truncated. Its own module so the request schemas can check it without bundling bcrypt.
 */
export const MAX_PASSWORD_BYTES = 72;
