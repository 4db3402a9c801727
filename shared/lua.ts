/**
 * Lua snippets every capability's scripts share. Times come from Redis's own clock (TIME), so every
 * function and the reconciler agree on a hold's, a reservation's or a waiter's age.
 */

/** Lua that sets `now` to Redis's clock in ms. */
export const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
