import { endpoint, purchaseView } from '#shared/http';

export const handler = endpoint('list-my-purchases', {}, async ({ caller, services }) =>
  (await services.purchaseHistory.listByUser(caller.userId)).map(purchaseView),
);
