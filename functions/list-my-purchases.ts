import { endpoint, purchaseView } from '#shared/http';
import { purchaseHistory } from '#shared/wiring/history';

export const handler = endpoint(
  'list-my-purchases',
  {},
  { purchases: purchaseHistory },
  async ({ caller, services }) => (await services.purchases.listMine(caller.userId)).map(purchaseView),
);
