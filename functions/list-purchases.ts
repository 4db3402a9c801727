import { adminPurchaseView, endpoint, schemas } from '#shared/http';
import { purchaseListing } from '#shared/wiring/admin';

export const handler = endpoint(
  'list-purchases',
  { query: schemas.adminPurchasesQuery },
  { purchases: purchaseListing },
  async ({ query, services }) => {
    const page = await services.purchases.listPage({
      productId: query.product_id,
      userId: query.user_id,
      limit: query.limit,
      cursor: query.cursor,
    });
    return { items: page.items.map(adminPurchaseView), next_cursor: page.nextCursor };
  },
);
