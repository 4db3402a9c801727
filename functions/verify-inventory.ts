import { endpoint } from '#shared/http';
import { inventoryAudit } from '#shared/wiring/stock';

export const handler = endpoint('verify-inventory', {}, { audit: inventoryAudit }, ({ services }) =>
  services.audit.verify(),
);
