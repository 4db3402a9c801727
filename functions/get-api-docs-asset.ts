import { endpoint, RouteNotFoundError, rawResponse, schemas } from '#shared/http';
import { isSwaggerAsset, SWAGGER_ASSETS, swaggerAsset } from '#shared/http/api-docs';

export const handler = endpoint(
  'get-api-docs-asset',
  { params: schemas.assetParams },
  {},
  async ({ params, event }) => {
    if (!isSwaggerAsset(params.asset)) throw new RouteNotFoundError('GET', event.rawPath);
    return rawResponse({
      statusCode: 200,
      headers: { 'content-type': SWAGGER_ASSETS[params.asset], 'cache-control': 'public, max-age=86400' },
      body: swaggerAsset(params.asset),
    });
  },
);
