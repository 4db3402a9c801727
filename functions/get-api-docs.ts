import { endpoint, rawResponse } from '#shared/http';
import { swaggerPage } from '#shared/http/api-docs';

export const handler = endpoint('get-api-docs', {}, {}, async () =>
  rawResponse({
    statusCode: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' },
    body: swaggerPage,
  }),
);
