import { endpoint } from '#shared/http';
import { healthCheck } from '#shared/wiring/health';

export const handler = endpoint('get-health', {}, { health: healthCheck }, ({ services }) =>
  services.health.check(),
);
