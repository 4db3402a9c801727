import { endpoint, rawResponse } from '#shared/http';
import { adminPage } from '#shared/http/admin-page';

export const handler = endpoint('get-admin-page', {}, {}, async () =>
  rawResponse({
    statusCode: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' },
    body: adminPage,
  }),
);
