import { endpoint } from '#shared/http';
import { metricsReader } from '#shared/wiring/local-metrics';

export const handler = endpoint('get-metrics', {}, { metrics: metricsReader }, ({ services }) =>
  services.metrics.read(),
);
