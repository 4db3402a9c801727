import { auditView, endpoint, schemas } from '#shared/http';
import { auditLog } from '#shared/wiring/admin';

export const handler = endpoint(
  'list-audit',
  { query: schemas.auditQuery },
  { audit: auditLog },
  async ({ query, services }) => {
    const page = await services.audit.list({
      productId: query.product_id,
      limit: query.limit,
      cursor: query.cursor,
    });
    return { items: page.items.map(auditView), next_cursor: page.nextCursor };
  },
);
